"""Trigger orders over real HTTP (`python -m autopilot serve`): a bracket on a held position,
prices posted, one leg fires and the other is cancelled; bad input is refused by field."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import StartServer
from tests.e2e.support import Funded, data, failure, funded_account, post_prices

TRIGGERS = "/api/automation/trigger-orders"


def held_position(api: httpx.Client) -> Funded:
    who = funded_account(api, "10000.00", {"VTI": "250.00"})
    order = data(
        api.post(
            "/api/orders",
            json={"accountId": who.account_id, "symbol": "VTI", "side": "buy", "quantity": "10"},
        ),
        201,
    )
    assert order["status"] == "Filled", order
    return who


def leg(who: Funded, kind: str, level: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "clientId": who.client_id,
        "accountId": who.account_id,
        "symbol": "VTI",
        "condition": {"type": kind, "level": level},
        "order": {"side": "sell", "quantity": "all", "type": "market"},
        "ocoGroup": "vti-bracket",
    }
    body.update(changes)
    return body


def test_a_bracket_fires_one_leg_and_cancels_the_other(start_server: StartServer) -> None:
    api = start_server(AUTOMATION_SCHEDULER_ENABLED="false").client
    who = held_position(api)
    stop, take = data(
        api.post(
            TRIGGERS,
            json=[leg(who, "priceBelow", "230.00"), leg(who, "priceAbove", "280.00")],
        ),
        201,
    )
    assert (stop["status"], take["status"], stop["stopLevel"]) == ("Active", "Active", "230.00")
    post_prices(api, {"VTI": "230.01"})
    assert data(api.get(f"{TRIGGERS}/{stop['id']}"))["status"] == "Active"
    post_prices(api, {"VTI": "229.50"})
    fired = data(api.get(f"{TRIGGERS}/{stop['id']}"))
    assert fired["status"] == "Triggered", fired
    assert data(api.get(f"{TRIGGERS}/{take['id']}"))["status"] == "Cancelled"
    order = data(api.get(f"/api/orders/{fired['orderId']}"))
    assert (order["status"], order["side"]) == ("Filled", "sell"), order
    account = data(api.get(f"/api/accounts/{who.account_id}"))
    assert account["positions"] == []
    listed = data(api.get(TRIGGERS, params={"accountId": who.account_id, "status": "Cancelled"}))
    assert [t["id"] for t in listed["items"]] == [take["id"]]
    logs = data(
        api.get("/api/automation/execution-logs", params={"automationType": "TriggerOrder"})
    )
    assert [(r["automationId"], r["status"]) for r in logs["items"]] == [(stop["id"], "Success")]


def field_of(error: dict[str, Any]) -> str:
    """The field an error names: one from the service, the first from request validation."""
    details = error["details"]
    named: str = details["field"] if isinstance(details, dict) else details[0]["field"]
    return named


def test_bad_trigger_orders_get_a_422_naming_the_field(start_server: StartServer) -> None:
    api = start_server(AUTOMATION_SCHEDULER_ENABLED="false").client
    who = held_position(api)
    trailing = {"type": "trailingStop", "percent": "100"}
    cases = [
        (leg(who, "priceBelow", "260.00"), "condition.level"),
        (leg(who, "priceBelow", "230.00", symbol="BND"), "symbol"),
        ({**leg(who, "priceBelow", "230.00"), "condition": trailing}, "condition.percent"),
        (
            {
                **leg(who, "priceBelow", "230.00"),
                "order": {"side": "sell", "quantity": "1", "type": "limit"},
            },
            "order.limitPrice",
        ),
        ({**leg(who, "priceBelow", "230.00"), "accountId": 9999}, "accountId"),
        ({**leg(who, "priceBelow", "230.00"), "condition": {"type": "nope"}}, "condition.type"),
    ]
    for body, field in cases:
        error = failure(api.post(TRIGGERS, json=body), 422)
        assert field_of(error) == field, (body, error)
    assert data(api.get(TRIGGERS))["total"] == 0
    failure(api.get(f"{TRIGGERS}/TRIG-NOPE"), 404)


def test_a_stop_level_can_be_moved_and_a_manual_run_evaluates_triggers(
    start_server: StartServer,
) -> None:
    api = start_server(AUTOMATION_SCHEDULER_ENABLED="false").client
    who = held_position(api)
    body = leg(who, "priceBelow", "230.00")
    del body["ocoGroup"]
    created = data(api.post(TRIGGERS, json=body), 201)
    moved = data(api.patch(f"{TRIGGERS}/{created['id']}", json={"condition": {"level": "240.00"}}))
    assert moved["stopLevel"] == "240.00"
    post_prices(api, {"VTI": "240.00"})
    run = data(
        api.post(
            "/api/automation/scheduler/execute",
            json={"type": "triggers", "clientId": who.client_id},
        )
    )
    assert run["counts"]["executed"] == 0  # it fired on the price update already
    assert data(api.get(f"{TRIGGERS}/{created['id']}"))["status"] == "Triggered"
    error = failure(
        api.patch(f"{TRIGGERS}/{created['id']}", json={"condition": {"level": "235.00"}}), 409
    )
    assert "Triggered" in error["message"], error
