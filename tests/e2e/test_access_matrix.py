"""Who may call what, over real HTTP: every operation of the app × every kind of caller × an
object of the caller's own client and one of another's (DESIGN §6 "Security").

The operations come from the app's own route table (its OpenAPI document); an operation with no
entry in ROUTES fails the test, so the next route cannot forget its check. Each cell expects one
of: 401 (no key), 403 (the role's forbidden function), 404 (another client's object, answered as
a missing one), "allowed" (the access checks let it through: a success, or a 409/422 about the
object's state or the body), or "filtered" (a list answered 200 without any of the other
client's objects).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.support.server import StartServer
from tests.support.world import (
    AUTO,
    PROPOSALS,
    REBAL,
    TRIGGERS,
    World,
    make_world,
    order_body,
    rebalancing_body,
    rule_body,
    trigger_body,
)

pytestmark = [pytest.mark.e2e, pytest.mark.real_clock]

ADMIN, OPERATOR, CLIENT, MARKET = "admin", "operator", "client", "market-data"
CALLERS = ("none", ADMIN, OPERATOR, "client-a", "client-b", MARKET)


@dataclass(frozen=True)
class Call:
    """A request: query parameters and a JSON body, as a function of the target's world."""

    params: Callable[[World], dict[str, Any]] = field(default=lambda w: {})
    body: Callable[[World], Any] | None = None


@dataclass(frozen=True)
class Entry:
    roles: frozenset[str]  # besides admin
    scoped: bool = False  # the target is a client's object: another's is a 404
    listing: bool = False  # a list: another client's objects are filtered out
    call: Call = Call()
    path: Callable[[World], dict[str, Any]] = field(default=lambda w: {})


def roles(*names: str) -> frozenset[str]:
    return frozenset(names)


READ = roles(OPERATOR, CLIENT)
OWN = roles(CLIENT)


def by_client(w: World) -> dict[str, Any]:
    return {"clientId": w.client_id}


ROUTES: dict[tuple[str, str], Entry] = {
    ("GET", "/api/health"): Entry(roles=roles("none", OPERATOR, CLIENT, MARKET)),
    # The scheduler.
    ("POST", "/api/automation/scheduler/execute"): Entry(
        OWN, scoped=True, call=Call(body=lambda w: {"type": "auto-invest", "ruleId": w.auto_rule})
    ),
    ("GET", "/api/automation/scheduler/status"): Entry(roles(OPERATOR)),
    ("GET", "/api/automation/workers"): Entry(roles(OPERATOR)),
    ("POST", "/api/automation/scheduler/start"): Entry(roles()),
    ("POST", "/api/automation/scheduler/stop"): Entry(roles()),
    ("GET", "/api/automation/execution-logs"): Entry(READ, listing=True, call=Call(by_client)),
    # Auto-invest rules.
    ("POST", AUTO): Entry(OWN, scoped=True, call=Call(body=rule_body)),
    ("GET", AUTO): Entry(READ, listing=True, call=Call(by_client)),
    ("GET", AUTO + "/{rule_id}"): Entry(READ, scoped=True, path=lambda w: {"rule_id": w.auto_rule}),
    ("PUT", AUTO + "/{rule_id}"): Entry(
        OWN,
        scoped=True,
        path=lambda w: {"rule_id": w.auto_rule},
        call=Call(body=lambda w: {"name": "put"}),
    ),
    ("PATCH", AUTO + "/{rule_id}"): Entry(
        OWN,
        scoped=True,
        path=lambda w: {"rule_id": w.auto_rule},
        call=Call(body=lambda w: {"name": "patch"}),
    ),
    ("POST", AUTO + "/{rule_id}/pause"): Entry(
        OWN, scoped=True, path=lambda w: {"rule_id": w.auto_rule}
    ),
    ("POST", AUTO + "/{rule_id}/resume"): Entry(
        OWN, scoped=True, path=lambda w: {"rule_id": w.auto_rule}
    ),
    ("POST", AUTO + "/{rule_id}/cancel"): Entry(
        OWN, scoped=True, path=lambda w: {"rule_id": w.auto_rule}
    ),
    ("DELETE", AUTO + "/{rule_id}"): Entry(
        OWN, scoped=True, path=lambda w: {"rule_id": w.auto_rule}
    ),
    # Rebalancing rules and proposals.
    ("POST", REBAL): Entry(OWN, scoped=True, call=Call(body=rebalancing_body)),
    ("GET", REBAL): Entry(READ, listing=True, call=Call(by_client)),
    ("GET", REBAL + "/{rule_id}"): Entry(
        READ, scoped=True, path=lambda w: {"rule_id": w.rebalancing_rule}
    ),
    ("PUT", REBAL + "/{rule_id}"): Entry(
        OWN,
        scoped=True,
        path=lambda w: {"rule_id": w.rebalancing_rule},
        call=Call(body=lambda w: {"name": "put"}),
    ),
    ("PATCH", REBAL + "/{rule_id}"): Entry(
        OWN,
        scoped=True,
        path=lambda w: {"rule_id": w.rebalancing_rule},
        call=Call(body=lambda w: {"name": "patch"}),
    ),
    ("POST", REBAL + "/{rule_id}/pause"): Entry(
        OWN, scoped=True, path=lambda w: {"rule_id": w.rebalancing_rule}
    ),
    ("POST", REBAL + "/{rule_id}/resume"): Entry(
        OWN, scoped=True, path=lambda w: {"rule_id": w.rebalancing_rule}
    ),
    ("POST", REBAL + "/{rule_id}/cancel"): Entry(
        OWN, scoped=True, path=lambda w: {"rule_id": w.rebalancing_rule}
    ),
    ("DELETE", REBAL + "/{rule_id}"): Entry(
        OWN, scoped=True, path=lambda w: {"rule_id": w.rebalancing_rule}
    ),
    ("GET", REBAL + "/{rule_id}/drift"): Entry(
        READ, scoped=True, path=lambda w: {"rule_id": w.rebalancing_rule}
    ),
    ("GET", REBAL + "/{rule_id}/preview"): Entry(
        READ, scoped=True, path=lambda w: {"rule_id": w.rebalancing_rule}
    ),
    ("GET", PROPOSALS): Entry(READ, listing=True),
    ("GET", PROPOSALS + "/{proposal_id}"): Entry(
        READ, scoped=True, path=lambda w: {"proposal_id": w.proposal}
    ),
    ("POST", PROPOSALS + "/{proposal_id}/approve"): Entry(
        OWN, scoped=True, path=lambda w: {"proposal_id": w.proposal}
    ),
    ("POST", PROPOSALS + "/{proposal_id}/reject"): Entry(
        OWN, scoped=True, path=lambda w: {"proposal_id": w.proposal}
    ),
    # Trigger orders.
    ("POST", TRIGGERS): Entry(OWN, scoped=True, call=Call(body=trigger_body)),
    ("GET", TRIGGERS): Entry(READ, listing=True, call=Call(by_client)),
    ("GET", TRIGGERS + "/{trigger_id}"): Entry(
        READ, scoped=True, path=lambda w: {"trigger_id": w.trigger}
    ),
    ("PUT", TRIGGERS + "/{trigger_id}"): Entry(
        OWN,
        scoped=True,
        path=lambda w: {"trigger_id": w.trigger},
        call=Call(body=lambda w: {"condition": {"level": "55.00"}}),
    ),
    ("PATCH", TRIGGERS + "/{trigger_id}"): Entry(
        OWN,
        scoped=True,
        path=lambda w: {"trigger_id": w.trigger},
        call=Call(body=lambda w: {"condition": {"level": "56.00"}}),
    ),
    ("POST", TRIGGERS + "/{trigger_id}/pause"): Entry(
        OWN, scoped=True, path=lambda w: {"trigger_id": w.trigger}
    ),
    ("POST", TRIGGERS + "/{trigger_id}/resume"): Entry(
        OWN, scoped=True, path=lambda w: {"trigger_id": w.trigger}
    ),
    ("POST", TRIGGERS + "/{trigger_id}/cancel"): Entry(
        OWN, scoped=True, path=lambda w: {"trigger_id": w.trigger}
    ),
    ("DELETE", TRIGGERS + "/{trigger_id}"): Entry(
        OWN, scoped=True, path=lambda w: {"trigger_id": w.trigger}
    ),
    # The platform.
    ("POST", "/api/clients"): Entry(roles(), call=Call(body=lambda w: {"name": "Matrix"})),
    ("GET", "/api/clients/{client_id}"): Entry(
        READ, scoped=True, path=lambda w: {"client_id": w.client_id}
    ),
    ("POST", "/api/accounts"): Entry(
        OWN, scoped=True, call=Call(body=lambda w: {"clientId": w.client_id, "currency": "USD"})
    ),
    ("GET", "/api/accounts/{account_id}"): Entry(
        READ, scoped=True, path=lambda w: {"account_id": w.account_id}
    ),
    ("POST", "/api/accounts/{account_id}/deposits"): Entry(
        OWN,
        scoped=True,
        path=lambda w: {"account_id": w.account_id},
        call=Call(body=lambda w: {"amount": "1.00"}),
    ),
    ("POST", "/api/market/prices"): Entry(
        roles(MARKET), call=Call(body=lambda w: {"prices": [{"symbol": "VTI", "price": "100.00"}]})
    ),
    ("PUT", "/api/securities/{symbol}"): Entry(
        roles(), path=lambda w: {"symbol": "VTI"}, call=Call(body=lambda w: {"tradable": True})
    ),
    ("POST", "/api/orders"): Entry(OWN, scoped=True, call=Call(body=order_body)),
    ("GET", "/api/orders"): Entry(READ, listing=True, call=Call(by_client)),
    ("GET", "/api/orders/{order_id}"): Entry(
        READ, scoped=True, path=lambda w: {"order_id": w.order}
    ),
    ("POST", "/api/orders/{order_id}/cancel"): Entry(
        OWN, scoped=True, path=lambda w: {"order_id": w.order}
    ),
    ("DELETE", "/api/orders/{order_id}"): Entry(
        OWN, scoped=True, path=lambda w: {"order_id": w.order}
    ),
    # Keys and the audit trail.
    ("POST", "/api/api-keys"): Entry(
        OWN,
        scoped=True,
        call=Call(body=lambda w: {"name": "more", "role": "client", "clientId": w.client_id}),
    ),
    ("GET", "/api/api-keys"): Entry(READ, listing=True),
    ("POST", "/api/api-keys/{key_id}/revoke"): Entry(
        OWN, scoped=True, path=lambda w: {"key_id": w.spare_key}
    ),
    ("GET", "/api/audit-events"): Entry(roles(OPERATOR)),
    # Webhooks (admin's; operators read them). The delete comes last: it removes the target.
    ("POST", "/api/webhooks"): Entry(
        roles(),
        call=Call(body=lambda w: {"url": "http://127.0.0.1:9/more", "events": ["trigger.fired"]}),
    ),
    ("GET", "/api/webhooks"): Entry(roles(OPERATOR)),
    ("GET", "/api/webhooks/{webhook_id}"): Entry(
        roles(OPERATOR), path=lambda w: {"webhook_id": w.webhook}
    ),
    ("GET", "/api/webhooks/{webhook_id}/deliveries"): Entry(
        roles(OPERATOR), path=lambda w: {"webhook_id": w.webhook}
    ),
    ("DELETE", "/api/webhooks/{webhook_id}"): Entry(
        roles(), path=lambda w: {"webhook_id": w.webhook}
    ),
}


def expected(entry: Entry, caller: str, target: str) -> str:
    """What a cell must answer: 401, 403, 404, "allowed" or "filtered"."""
    if caller == ADMIN or (caller == "none" and "none" in entry.roles):
        return "allowed"
    if caller == "none":
        return "401"
    role = CLIENT if caller.startswith("client") else caller
    if role not in entry.roles:
        return "403"
    if role == CLIENT and target == "other":
        if entry.scoped:
            return "404"
        if entry.listing:
            return "filtered"
    return "allowed"


def client_ids(body: Any) -> set[int]:
    """Every clientId in an answer's data (items of a list, or the object)."""
    found: set[int] = set()
    payload = body.get("data") if isinstance(body, dict) else None
    items = payload.get("items", [payload]) if isinstance(payload, dict) else []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("clientId"), int):
            found.add(item["clientId"])
    return found


def test_every_route_answers_each_caller_as_its_role_and_client_allow(
    start_server: StartServer,
) -> None:
    server = start_server(AUTOMATION_SCHEDULER_ENABLED="false", AUTOMATION_CHECK_INTERVAL="3600000")
    admin = server.client
    a, b = make_world(admin, server, "Client A"), make_world(admin, server, "Client B")
    callers = {
        "none": server.client_with(None),
        ADMIN: admin,
        OPERATOR: server.client_as(OPERATOR),
        "client-a": server.client_with(a.key),
        "client-b": server.client_with(b.key),
        MARKET: server.client_as(MARKET),
    }
    spec = data_of(admin.get("/openapi.json"))
    operations = {
        (method.upper(), path)
        for path, ops in spec["paths"].items()
        for method in ops
        if path.startswith("/api/")
    }
    assert operations - set(ROUTES) == set(), "routes without an entry in the access matrix"
    assert set(ROUTES) - operations == set(), "entries for routes the app does not have"

    wrong: list[str] = []
    cells = 0
    for (method, template), entry in ROUTES.items():
        for caller in CALLERS:
            own, other = (b, a) if caller == "client-b" else (a, b)
            for target, world in (("own", own), ("other", other)):
                cells += 1
                want = expected(entry, caller, target)
                path = template.format(**entry.path(world))
                body = None if entry.call.body is None else entry.call.body(world)
                answer = callers[caller].request(
                    method, path, params=entry.call.params(world), json=body
                )
                got = answer.status_code
                if want in ("401", "403", "404"):
                    ok = got == int(want)
                    if ok and want == "401":
                        ok = answer.headers.get("www-authenticate") == "Bearer"
                elif want == "filtered":
                    ok = got == 200 and other.client_id not in client_ids(answer.json())
                else:
                    ok = got < 400 or got in (409, 422)
                if not ok:
                    wrong.append(
                        f"{method} {path} as {caller} ({target}): {got}, want {want}: "
                        f"{answer.text[:160]}"
                    )
    assert wrong == [], f"{len(wrong)} of {cells} cells wrong:\n" + "\n".join(wrong)
    assert cells == len(ROUTES) * len(CALLERS) * 2


def data_of(answer: httpx.Response) -> Any:
    assert answer.status_code == 200, answer.text
    return answer.json()
