"""Trigger orders over real HTTP (`python -m autopilot serve`): a bracket on a held position,
prices posted, one leg fires and the other is cancelled; bad input is refused by field."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.support.http import Funded, data, failure, funded_account, post_prices
from tests.support.server import StartServer

pytestmark = [pytest.mark.e2e, pytest.mark.real_clock]

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
    assert (stop["status"], take["status"], stop["stopLevel"]) == ("Active", "Active", "230.000000")
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
        # Found by fuzzing: 500s, one of them after the trigger was stored.
        (
            {**leg(who, "priceBelow", "230.00"), "expiresAt": "9999-12-31T23:59:59-14:00"},
            "expiresAt",
        ),
        (
            {
                **leg(who, "priceBelow", "230.00"),
                "condition": {
                    "type": "percentChange",
                    "percent": "999999999999",
                    "direction": "up",
                    "referencePrice": "999999999999.9999",
                },
            },
            "condition.percent",
        ),
        (
            {
                **leg(who, "priceBelow", "230.00"),
                "condition": {"type": "trailingStop", "amount": "999999999999.9999"},
            },
            "condition.amount",
        ),
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
    assert moved["stopLevel"] == "240.000000"
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


def test_a_bracket_pauses_and_resumes_as_one_and_fires_only_when_active(
    start_server: StartServer,
) -> None:
    server = start_server(AUTOMATION_SCHEDULER_ENABLED="false")
    api = server.client
    who = held_position(api)
    stop, take = data(
        api.post(
            TRIGGERS,
            json=[leg(who, "priceBelow", "230.00"), leg(who, "priceAbove", "280.00")],
        ),
        201,
    )
    paused = data(api.post(f"{TRIGGERS}/{take['id']}/pause"))
    assert (paused["id"], paused["status"]) == (take["id"], "Paused")
    assert data(api.get(f"{TRIGGERS}/{stop['id']}"))["status"] == "Paused"
    listed = data(api.get(TRIGGERS, params={"status": "Paused"}))
    assert sorted(t["id"] for t in listed["items"]) == sorted([stop["id"], take["id"]])
    post_prices(api, {"VTI": "229.00"})  # past the stop, but it is paused
    assert data(api.get(f"{TRIGGERS}/{stop['id']}"))["status"] == "Paused"
    error = failure(api.post(f"{TRIGGERS}/{stop['id']}/pause"), 409)
    assert "is Paused, not Active" in error["message"], error

    resumed = data(api.post(f"{TRIGGERS}/{stop['id']}/resume"))
    assert resumed["status"] == "Active"
    assert data(api.get(f"{TRIGGERS}/{take['id']}"))["status"] == "Active"
    error = failure(api.post(f"{TRIGGERS}/{stop['id']}/resume"), 409)
    assert "is Active, not Paused" in error["message"], error
    post_prices(api, {"VTI": "229.50"})
    fired = data(api.get(f"{TRIGGERS}/{stop['id']}"))
    assert fired["status"] == "Triggered", fired
    assert data(api.get(f"{TRIGGERS}/{take['id']}"))["status"] == "Cancelled"
    for action in ("pause", "resume"):
        failure(api.post(f"{TRIGGERS}/{stop['id']}/{action}"), 409)
        failure(api.post(f"{TRIGGERS}/TRIG-NOPE/{action}"), 404)

    logs = data(
        api.get("/api/automation/execution-logs", params={"automationType": "TriggerOrder"})
    )
    [row] = logs["items"]
    assert datetime.fromisoformat(row["finishedAt"]) >= datetime.fromisoformat(row["startedAt"])
    guide = "[Automation Scheduler] "
    lines = [line for line in server.stderr.splitlines() if guide in line and stop["id"] in line]
    assert [line.split(guide, 1)[1] for line in lines] == [
        f"Executing trigger order: {stop['id']}",
        f"Trigger order {stop['id']} executed successfully. Order ID: {fired['orderId']}",
    ]


def test_an_update_naming_a_field_the_condition_does_not_use_is_a_422_and_changes_nothing(
    start_server: StartServer,
) -> None:
    api = start_server(AUTOMATION_SCHEDULER_ENABLED="false").client
    who = held_position(api)
    body = {
        **leg(who, "priceBelow", "0"),
        "condition": {"type": "percentChange", "percent": "10", "direction": "down"},
    }
    del body["ocoGroup"]
    created = data(api.post(TRIGGERS, json=body), 201)
    for method in ("put", "patch"):
        response = api.request(
            method, f"{TRIGGERS}/{created['id']}", json={"condition": {"level": "5"}}
        )
        error = failure(response, 422)
        assert field_of(error) == "condition.level", error
        assert error["message"] == "condition.level: not used by a percentChange condition"
    assert data(api.get(f"{TRIGGERS}/{created['id']}")) == created


def test_trigger_numbers_read_as_the_orders_api_shows_them(start_server: StartServer) -> None:
    api = start_server(AUTOMATION_SCHEDULER_ENABLED="false").client
    who = funded_account(api, "10000.00", {"BND": "72.50"})
    order = {"accountId": who.account_id, "symbol": "BND", "side": "buy", "quantity": "2"}
    resting = data(
        api.post("/api/orders", json={**order, "type": "limit", "limitPrice": "70"}), 201
    )
    assert (resting["quantity"], resting["limitPrice"]) == ("2.000000", "70.000000")

    base = {"clientId": who.client_id, "accountId": who.account_id, "symbol": "BND"}
    dip = {"type": "percentChange", "percent": "2", "direction": "down"}
    by_cash = data(
        api.post(
            TRIGGERS, json={**base, "condition": dip, "order": {"side": "buy", "notional": 100}}
        ),
        201,
    )
    assert by_cash["order"]["notional"] == "100.00"
    assert (by_cash["condition"]["referencePrice"], by_cash["stopLevel"]) == (
        "72.500000",
        "71.050000",
    )
    limit = {"side": "buy", "type": "limit", "quantity": "2", "limitPrice": "70"}
    level = {"type": "priceAbove", "level": "75.5"}
    at_limit = data(api.post(TRIGGERS, json={**base, "condition": level, "order": limit}), 201)
    assert at_limit["order"]["quantity"] == resting["quantity"]
    assert at_limit["order"]["limitPrice"] == resting["limitPrice"]
    assert (at_limit["condition"]["level"], at_limit["stopLevel"]) == ("75.500000", "75.500000")
    trail = {"type": "trailingStop", "amount": "1.5", "activationPrice": "71"}
    buy_trail = data(
        api.post(
            TRIGGERS, json={**base, "condition": trail, "order": {"side": "buy", "quantity": 1}}
        ),
        201,
    )
    assert buy_trail["condition"]["activationPrice"] == "71.000000"
    assert buy_trail["condition"]["amount"] == "1.500000"
    assert (buy_trail["lowWaterMark"], buy_trail["stopLevel"]) == (None, None)  # not yet active
    post_prices(api, {"BND": "70.9"})  # activates the trailing stop, fires the dip buy
    shown = data(api.get(f"{TRIGGERS}/{buy_trail['id']}"))
    assert (shown["lowWaterMark"], shown["stopLevel"]) == ("70.900000", "72.400000")
    assert data(api.get(f"{TRIGGERS}/{by_cash['id']}"))["triggerPrice"] == "70.900000"


def test_the_create_body_and_each_update_method_are_documented(start_server: StartServer) -> None:
    api = start_server(AUTOMATION_SCHEDULER_ENABLED="false").client
    spec = api.get("/openapi.json").json()
    create = spec["paths"][TRIGGERS]["post"]["requestBody"]["content"]["application/json"]
    one, many = create["schema"]["anyOf"]
    assert {"clientId", "accountId", "symbol", "condition", "order"} <= set(one["required"])
    # One variant per condition type, each with the fields that type uses (and needs).
    variants = one["properties"]["condition"]["oneOf"]
    uses = {
        (kind, tuple(sorted(v["required"])))
        for v in variants
        for kind in v["properties"]["type"]["enum"]
    }
    assert uses == {
        ("priceAbove", ("level", "type")),
        ("priceBelow", ("level", "type")),
        ("percentChange", ("direction", "percent", "type")),
        ("trailingStop", ("percent", "type")),
        ("trailingStop", ("amount", "type")),
    }
    assert all(v["additionalProperties"] is False for v in variants)
    assert (many["type"], many["items"]) == ("array", one)
    item = spec["paths"][f"{TRIGGERS}/{{trigger_id}}"]
    assert item["put"]["operationId"] != item["patch"]["operationId"]
    for action in ("pause", "resume"):
        assert f"{TRIGGERS}/{{trigger_id}}/{action}" in spec["paths"]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_price_posted_to_any_server_fires_a_trigger_made_through_another(
    start_server: StartServer, request: pytest.FixtureRequest, database: str
) -> None:
    """Two servers on one database, as behind a load balancer (the scheduler off in both): a
    bracket made, paused and resumed through the first is evaluated by the second on the price
    posted there, at once, without a pass."""
    settings = {"AUTOMATION_SCHEDULER_ENABLED": "false"}
    if database == "postgresql":
        settings["DATABASE_URL"] = request.getfixturevalue("pg_url")
    first = start_server(**settings)
    one = first.client
    who = held_position(one)
    second = start_server(**{**settings, "DATABASE_URL": first.database_url})
    two = second.client_with(one.headers["Authorization"].removeprefix("Bearer "))
    post_prices(two, {"VTI": "250.00"})  # the second server's index is built now

    stop, take = data(
        one.post(
            TRIGGERS,
            json=[leg(who, "priceBelow", "230.00"), leg(who, "priceAbove", "280.00")],
        ),
        201,
    )
    data(one.post(f"{TRIGGERS}/{stop['id']}/pause"))
    post_prices(two, {"VTI": "229.00"})  # paused through the first: not in force
    assert data(two.get(f"{TRIGGERS}/{stop['id']}"))["status"] == "Paused"
    post_prices(two, {"VTI": "240.00"})
    data(one.post(f"{TRIGGERS}/{stop['id']}/resume"))

    post_prices(two, {"VTI": "229.50"})
    fired = data(two.get(f"{TRIGGERS}/{stop['id']}"))
    assert fired["status"] == "Triggered", fired
    assert data(one.get(f"{TRIGGERS}/{take['id']}"))["status"] == "Cancelled"
    order = data(one.get(f"/api/orders/{fired['orderId']}"))
    assert (order["status"], order["side"], order["filledQuantity"]) == (
        "Filled",
        "sell",
        "10.000000",
    )
    post_prices(one, {"VTI": "228.00"})  # the first server fires nothing a second time
    orders = data(one.get("/api/orders", params={"accountId": who.account_id}))["items"]
    assert [o["side"] for o in orders].count("sell") == 1
