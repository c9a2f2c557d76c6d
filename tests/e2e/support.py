"""Small HTTP helpers shared by the end-to-end tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


def data(response: httpx.Response, status: int = 200) -> Any:
    """The `data` of a success envelope, after checking the status."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True, body
    return body["data"]


def failure(response: httpx.Response, status: int) -> dict[str, Any]:
    """The `error` of a failure envelope, after checking the status."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False, body
    error: dict[str, Any] = body["error"]
    assert error["code"] and error["message"], body
    return error


def wait_for(
    probe: Callable[[], T | None], *, deadline_s: float, what: str, interval_s: float = 0.1
) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` after the deadline."""
    end = time.monotonic() + deadline_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline_s}s waiting for {what}")
        time.sleep(interval_s)


@dataclass(frozen=True)
class Funded:
    client_id: int
    account_id: int


def funded_account(
    api: httpx.Client, cash: str = "10000.00", prices: dict[str, str] | None = None
) -> Funded:
    """A client with a USD account holding `cash`, and the given prices posted."""
    client = data(api.post("/api/clients", json={"name": "Ada Lovelace"}), 201)
    account = data(
        api.post("/api/accounts", json={"clientId": client["id"], "currency": "USD"}), 201
    )
    data(api.post(f"/api/accounts/{account['id']}/deposits", json={"amount": cash}), 201)
    if prices:
        post_prices(api, prices)
    return Funded(client_id=client["id"], account_id=account["id"])


def post_prices(api: httpx.Client, prices: dict[str, str]) -> None:
    body = {"prices": [{"symbol": s, "price": p} for s, p in prices.items()]}
    assert data(api.post("/api/market/prices", json=body))["recorded"] == len(prices)


def rule_body(who: Funded, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "clientId": who.client_id,
        "accountId": who.account_id,
        "name": "Monthly",
        "amount": "500.00",
        "frequency": "monthly",
        "dayOfMonth": 31,
        "startDate": "2026-12-01",
        "allocations": [{"symbol": "VTI", "weight": "60"}, {"symbol": "BND", "weight": "40"}],
        "maxTotalAmount": "6000.00",
    }
    body.update(changes)
    return body


def position_quantities(account: dict[str, Any]) -> dict[str, str]:
    return {p["symbol"]: p["quantity"] for p in account["positions"]}
