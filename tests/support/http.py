"""Small HTTP helpers shared by the end-to-end tests, and the dates a server started now runs on.

A server or CLI a test starts reads the real clock, so what it calls "today" is the day the test
runs on (under `make test-dates`, a faked one). Tests that depend on it compute what to expect
from `market_today()` and the XNYS calendar with the naive scans below, never from a fixed date.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from autopilot.market.calendar import market_calendar

MARKET = ZoneInfo("America/New_York")  # the servers' default AUTOMATION_TIMEZONE
XNYS = market_calendar("XNYS")  # and AUTOMATION_MARKET_CALENDAR
README_START = date(2026, 12, 1)  # the walk-through rule's startDate


def market_today() -> date:
    """Today in the market's zone by the real clock: what a server or CLI started now calls
    today."""
    return datetime.now(MARKET).date()


def market_date(moment: str) -> date:
    """The market date of an ISO moment from the API (createdAt, startedAt, ...)."""
    return datetime.fromisoformat(moment).astimezone(MARKET).date()


def weekly_run_on_or_after(start: date, day: date) -> date:
    """The first date on or after `day` that a weekly rule started on `start` (on its weekday,
    moved to the next trading day when that is a weekend or holiday) runs on."""
    nominal = start
    while (runs := XNYS.next_trading_day(nominal)) < day:
        nominal += timedelta(days=7)
    return runs


def monthly_run_on_or_after(start: date, day_of_month: int, day: date) -> date:
    """The first date on or after `day` that a monthly rule started on `start` runs on: its day
    of the month (the last day of shorter months), moved to the next trading day when that is a
    weekend or holiday."""
    year, month = start.year, start.month
    while True:
        nominal = date(year, month, min(day_of_month, calendar.monthrange(year, month)[1]))
        if nominal >= start and (runs := XNYS.next_trading_day(nominal)) >= day:
            return runs
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def first_run_of_rule_body(today: date) -> date:
    """When a rule made from `rule_body()` on `today` runs first: the first month-end trading
    day on or after both its start date and today (2026-12-31 until that day has passed)."""
    return monthly_run_on_or_after(README_START, 31, max(README_START, today))


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
    """The README walk-through's rule ($500 a month on the 31st from 2026-12-01), with
    `changes`; `first_run_of_rule_body` says when it runs first."""
    body: dict[str, Any] = {
        "clientId": who.client_id,
        "accountId": who.account_id,
        "name": "Monthly",
        "amount": "500.00",
        "frequency": "monthly",
        "dayOfMonth": 31,
        "startDate": README_START.isoformat(),
        "allocations": [{"symbol": "VTI", "weight": "60"}, {"symbol": "BND", "weight": "40"}],
        "maxTotalAmount": "6000.00",
    }
    body.update(changes)
    return body


def position_quantities(account: dict[str, Any]) -> dict[str, str]:
    return {p["symbol"]: p["quantity"] for p in account["positions"]}
