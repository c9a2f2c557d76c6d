"""Rebalancing over real HTTP (`python -m autopilot serve`): the new user's story, the
confirmation path, and bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.http import Funded, data, failure, funded_account
from tests.support.server import StartServer

pytestmark = [pytest.mark.e2e, pytest.mark.real_clock]

PRICES = {"VTI": "100.00", "BND": "50.00", "VXUS": "25.00"}
RULES = "/api/automation/rebalancing-rules"
PROPOSALS = "/api/automation/rebalancing-proposals"
EXECUTE = "/api/automation/scheduler/execute"


def drifted_account(api: httpx.Client) -> Funded:
    """10,000.00 bought 70 / 25 / 5 through the order API."""
    who = funded_account(api, "10000.00", PRICES)
    for symbol, quantity in (("VTI", "70"), ("BND", "50"), ("VXUS", "20")):
        order = data(
            api.post(
                "/api/orders",
                json={
                    "accountId": who.account_id,
                    "symbol": symbol,
                    "side": "buy",
                    "quantity": quantity,
                },
            ),
            201,
        )
        assert order["status"] == "Filled", order
    return who


def rule_body(who: Funded, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "clientId": who.client_id,
        "accountId": who.account_id,
        "name": "Model 60/30/10",
        "targets": [
            {"symbol": "VTI", "weight": "60"},
            {"symbol": "BND", "weight": "30"},
            {"symbol": "VXUS", "weight": "10"},
        ],
        "triggerMode": "drift",
        "driftThreshold": "5",
    }
    body.update(changes)
    return body


def test_a_new_user_sees_drift_and_preview_then_the_scheduler_rebalances(
    start_server: StartServer,
) -> None:
    api = start_server(AUTOMATION_SCHEDULER_ENABLED="false").client
    who = drifted_account(api)
    rule = data(api.post(RULES, json=rule_body(who)), 201)
    assert rule["id"].startswith("REBAL-") and rule["status"] == "Active"
    assert rule["driftThreshold"] == "5"

    drift = data(api.get(f"{RULES}/{rule['id']}/drift"))
    assert drift["totalValue"] == "10000.00" and drift["drift"] == "10.00"
    assert drift["holdings"][0] == {
        "symbol": "VTI",
        "value": "7000.00",
        "weight": "70.00",
        "target": "60",
        "drift": "10.00",
    }
    preview = data(api.get(f"{RULES}/{rule['id']}/preview"))
    assert preview["trades"][0] == {
        "symbol": "VTI",
        "side": "sell",
        "quantity": "10.000000",
        "amount": "1000.00",
    }
    assert preview["skipped"] == []

    result = data(api.post(EXECUTE, json={"type": "rebalancing", "ruleId": rule["id"]}))
    (executed,) = result["executed"]
    assert len(executed["orderIds"]) == 3
    for order_id in executed["orderIds"]:
        assert data(api.get(f"/api/orders/{order_id}"))["status"] == "Filled"
    after = data(api.get(f"{RULES}/{rule['id']}/drift"))
    assert after["drift"] == "0.00"
    logs = data(api.get("/api/automation/execution-logs", params={"automationId": rule["id"]}))[
        "items"
    ]
    assert [(x["status"], x["details"]["driftBefore"]) for x in logs] == [("Success", "10.00")]
    # Nothing is due any more: running every due rule does nothing.
    again = data(api.post(EXECUTE, json={"type": "rebalancing"}))
    assert again["counts"] == {"executed": 0, "skipped": 0, "failed": 0, "pendingApproval": 0}


def test_confirmation_waits_for_approval_and_a_second_approval_is_a_conflict(
    start_server: StartServer,
) -> None:
    api = start_server(AUTOMATION_SCHEDULER_ENABLED="false").client
    who = drifted_account(api)
    rule = data(api.post(RULES, json=rule_body(who, requireConfirmation=True)), 201)
    result = data(api.post(EXECUTE, json={"type": "rebalancing"}))
    (pending,) = result["pendingApproval"]
    assert pending["ruleId"] == rule["id"] and pending["orderIds"] == []
    # Waiting for the client is its own count, not a skip.
    assert result["counts"] == {"executed": 0, "skipped": 0, "failed": 0, "pendingApproval": 1}

    proposals = data(api.get(PROPOSALS, params={"ruleId": rule["id"]}))["items"]
    (proposal,) = proposals
    assert proposal["status"] == "PendingApproval" and proposal["driftBefore"] == "10.00"
    assert data(api.get(f"{PROPOSALS}/{proposal['id']}"))["id"] == proposal["id"]

    approved = data(api.post(f"{PROPOSALS}/{proposal['id']}/approve"))
    assert approved["status"] == "Approved" and len(approved["orderIds"]) == 3
    assert data(api.get(f"{RULES}/{rule['id']}/drift"))["drift"] == "0.00"
    failure(api.post(f"{PROPOSALS}/{proposal['id']}/approve"), 409)
    failure(api.post(f"{PROPOSALS}/{proposal['id']}/reject"), 409)
    failure(api.get(f"{PROPOSALS}/PROP-NOPE"), 404)


def test_bad_rules_are_422s_naming_the_field_and_write_nothing(
    start_server: StartServer,
) -> None:
    api = start_server(AUTOMATION_SCHEDULER_ENABLED="false").client
    who = funded_account(api, "1000.00", PRICES)
    other = funded_account(api, "1000.00")
    cases = [
        ({"targets": [{"symbol": "VTI", "weight": "90"}]}, "targets"),
        ({"targets": [{"symbol": "VTI", "weight": "110"}]}, "targets[0].weight"),
        (
            {"targets": [{"symbol": "VTI", "weight": "50"}, {"symbol": "VTI", "weight": "50"}]},
            "targets[1].symbol",
        ),
        ({"driftThreshold": "0"}, "driftThreshold"),
        ({"driftThreshold": "100"}, "driftThreshold"),
        ({"accountId": other.account_id}, "accountId"),
        ({"targets": [{"symbol": "NOPE", "weight": "100"}]}, "targets"),
    ]
    for changes, field in cases:
        error = failure(api.post(RULES, json=rule_body(who, **changes)), 422)
        assert error["details"][0]["field"] == field, (changes, error)
    assert data(api.get(RULES))["total"] == 0
    failure(api.get(f"{RULES}/REBAL-NOPE"), 404)
    assert data(api.post(EXECUTE, json={"type": "triggers"}))["counts"]["executed"] == 0


def test_a_negative_zero_amount_shows_as_zero(start_server: StartServer) -> None:
    # Found by fuzzing: "-0" came back as "-0.00" on SQLite (PostgreSQL normalises it).
    api = start_server(AUTOMATION_SCHEDULER_ENABLED="false").client
    who = drifted_account(api)
    rule = data(api.post(RULES, json=rule_body(who, minTradeAmount="-0", cashReserve="-0")), 201)
    assert (rule["minTradeAmount"], rule["cashReserve"]) == ("0.00", "0.00")


def test_a_check_that_trades_nothing_leaves_the_day_for_a_later_drift(
    start_server: StartServer,
) -> None:
    # The sequence: an account at its targets, a manual check, then VTI +50%.
    api = start_server(AUTOMATION_SCHEDULER_ENABLED="false").client
    who = funded_account(api, "10000.00", PRICES)
    for symbol, quantity in (("VTI", "60"), ("BND", "60"), ("VXUS", "40")):
        order = {"accountId": who.account_id, "symbol": symbol, "side": "buy"}
        data(api.post("/api/orders", json={**order, "quantity": quantity}), 201)
    rule = data(api.post(RULES, json=rule_body(who)), 201)
    execute = {"type": "rebalancing", "ruleId": rule["id"]}

    first = data(api.post(EXECUTE, json=execute))

    assert first["counts"] == {"executed": 0, "skipped": 1, "failed": 0, "pendingApproval": 0}
    assert first["skipped"][0]["message"] == "nothing to trade"
    logs = "/api/automation/execution-logs"
    [check] = data(api.get(logs, params={"automationId": rule["id"]}))["items"]
    assert (check["status"], check["message"], check["noOp"]) == (
        "Skipped",
        "nothing to trade",
        True,
    )

    data(api.post("/api/market/prices", json={"prices": [{"symbol": "VTI", "price": "150.00"}]}))
    assert data(api.get(f"{RULES}/{rule['id']}/drift"))["drift"] == "9.23"
    second = data(api.post(EXECUTE, json=execute))

    assert second["counts"]["executed"] == 1, second
    assert len(second["executed"][0]["orderIds"]) >= 2
    assert data(api.get(f"{RULES}/{rule['id']}/drift"))["drift"] == "0.00"
    items = data(api.get(logs, params={"automationId": rule["id"]}))["items"]  # newest first
    assert [(r["status"], r["noOp"]) for r in items] == [("Success", False), ("Skipped", True)]
    # Still one rebalance a day: the day's outcome is taken now.
    data(api.post("/api/market/prices", json={"prices": [{"symbol": "VTI", "price": "200.00"}]}))
    refused = failure(api.post(EXECUTE, json=execute), 409)
    assert "already has an outcome" in refused["message"]
