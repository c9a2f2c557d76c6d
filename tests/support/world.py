"""One client's world of objects, made over HTTP by the admin: an account holding VTI, an
auto-invest rule, a rebalancing rule with a proposal waiting, a trigger order, an open order and
a spare key. The access matrix and the OpenAPI conformance run address them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.http import data, market_today
from tests.support.server import RunningServer

AUTO = "/api/automation/auto-invest-rules"
REBAL = "/api/automation/rebalancing-rules"
PROPOSALS = "/api/automation/rebalancing-proposals"
TRIGGERS = "/api/automation/trigger-orders"


@dataclass
class World:
    """One client's objects, made by the admin."""

    client_id: int
    account_id: int
    auto_rule: str
    rebalancing_rule: str
    proposal: str
    trigger: str
    order: str
    spare_key: int  # a key of the client's to revoke (not the one the test calls with)
    key: str = ""  # the client's key
    webhook: int = 0  # a webhook subscription (the admin's; not a client's object)


def rule_body(w: World) -> dict[str, Any]:
    return {
        "clientId": w.client_id,
        "accountId": w.account_id,
        "name": "matrix",
        "amount": "10.00",
        "frequency": "monthly",
        "dayOfMonth": 1,
        "startDate": market_today().isoformat(),
        "allocations": [{"symbol": "VTI", "weight": "100"}],
    }


def rebalancing_body(w: World) -> dict[str, Any]:
    return {
        "clientId": w.client_id,
        "accountId": w.account_id,
        "name": "matrix",
        "triggerMode": "drift",
        "driftThreshold": "5",
        "targets": [{"symbol": "VTI", "weight": "50"}, {"symbol": "BND", "weight": "50"}],
    }


def trigger_body(w: World) -> dict[str, Any]:
    return {
        "clientId": w.client_id,
        "accountId": w.account_id,
        "symbol": "VTI",
        "condition": {"type": "priceBelow", "level": "50.00"},
        "order": {"side": "sell", "quantity": "all"},
    }


def order_body(w: World) -> dict[str, Any]:
    return {
        "accountId": w.account_id,
        "symbol": "VTI",
        "side": "buy",
        "type": "limit",
        "quantity": "1",
        "limitPrice": "1.00",
    }


PRICES = {"prices": [{"symbol": "VTI", "price": "100.00"}, {"symbol": "BND", "price": "50.00"}]}


def make_world(admin: httpx.Client, server: RunningServer, name: str) -> World:
    """A client named ``name`` and its objects (VTI and BND priced at 100.00 and 50.00)."""
    data(admin.post("/api/market/prices", json=PRICES))
    client = data(admin.post("/api/clients", json={"name": name}), 201)
    account = data(admin.post("/api/accounts", json={"clientId": client["id"]}), 201)
    data(admin.post(f"/api/accounts/{account['id']}/deposits", json={"amount": "10000.00"}), 201)
    buy = {"accountId": account["id"], "symbol": "VTI", "side": "buy", "quantity": "10"}
    data(admin.post("/api/orders", json=buy), 201)
    world = World(
        client_id=client["id"],
        account_id=account["id"],
        auto_rule="",
        rebalancing_rule="",
        proposal="",
        trigger="",
        order="",
        spare_key=0,
    )
    world.auto_rule = data(admin.post(AUTO, json=rule_body(world)), 201)["id"]
    rebalancing = {**rebalancing_body(world), "requireConfirmation": True}
    world.rebalancing_rule = data(admin.post(REBAL, json=rebalancing), 201)["id"]
    execute = {"type": "rebalancing", "ruleId": world.rebalancing_rule}
    assert (
        data(admin.post("/api/automation/scheduler/execute", json=execute))["counts"][
            "pendingApproval"
        ]
        == 1
    )
    [proposal] = data(admin.get(PROPOSALS, params={"ruleId": world.rebalancing_rule}))["items"]
    world.proposal = proposal["id"]
    world.trigger = data(admin.post(TRIGGERS, json=trigger_body(world)), 201)["id"]
    world.order = data(admin.post("/api/orders", json=order_body(world)), 201)["id"]
    spare = {"name": "spare", "role": "client", "clientId": world.client_id}
    world.spare_key = data(admin.post("/api/api-keys", json=spare), 201)["id"]
    world.key = server.new_key("client", world.client_id)
    hook = {"url": "http://127.0.0.1:9/hook", "events": ["scheduler.pass_failed"]}
    world.webhook = data(admin.post("/api/webhooks", json=hook), 201)["id"]
    return world
