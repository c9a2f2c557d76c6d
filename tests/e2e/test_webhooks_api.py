"""Webhooks through the running server: subscribe, an execution delivered signed to a real
receiver by the server's own dispatcher, the delivery log, the secret shown once, delete."""

from __future__ import annotations

import pytest

from tests.support.http import data, failure, funded_account, rule_body
from tests.support.receiver import receiver
from tests.support.server import StartServer
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e]

HOOKS = "/api/webhooks"


def test_a_subscriber_receives_a_signed_event_for_an_execution(start_server: StartServer) -> None:
    server = start_server(AUTOMATION_SCHEDULER_ENABLED="false")
    api = server.client
    with receiver() as hook:
        made = data(api.post(HOOKS, json={"url": hook.url, "events": ["execution.succeeded"]}), 201)
        secret = made["secret"]
        assert secret.startswith("whsec_") and made["events"] == ["execution.succeeded"]
        listed = data(api.get(HOOKS))["items"]
        assert [h["id"] for h in listed] == [made["id"]] and "secret" not in listed[0]
        assert "secret" not in data(api.get(f"{HOOKS}/{made['id']}"))

        who = funded_account(api, "10000.00", {"VTI": "250.00", "BND": "72.50"})
        rule = data(api.post("/api/automation/auto-invest-rules", json=rule_body(who)), 201)
        ran = data(
            api.post(
                "/api/automation/scheduler/execute",
                json={"type": "auto-invest", "ruleId": rule["id"]},
            )
        )
        assert ran["counts"]["executed"] == 1
        wait_for(lambda: hook.got, what="the server's dispatcher to deliver the event")
    [got] = hook.got
    assert got.verified(secret)
    assert got.event["type"] == "execution.succeeded"
    assert got.event["data"]["automationId"] == rule["id"]
    assert got.event["data"]["triggeredBy"].startswith("key:")
    log = data(api.get(f"{HOOKS}/{made['id']}/deliveries"))
    assert log["total"] == 1
    [attempt] = log["items"]
    assert (attempt["statusCode"], attempt["attempt"], attempt["error"]) == (200, 1, None)
    assert attempt["deliveryId"] == got.headers["webhook-id"]

    operator = server.client_as("operator")
    assert data(operator.get(HOOKS))["total"] == 1
    assert failure(operator.post(HOOKS, json={"url": hook.url, "events": ["trigger.fired"]}), 403)
    bad = failure(api.post(HOOKS, json={"url": "not a url", "events": ["trigger.fired"]}), 422)
    assert "url" in str(bad)
    assert data(api.delete(f"{HOOKS}/{made['id']}")) == {"id": made["id"], "deleted": True}
    failure(api.get(f"{HOOKS}/{made['id']}"), 404)
