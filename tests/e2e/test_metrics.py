"""GET /metrics over real HTTP: every series there from the start, a manual execution counted
once it has committed, route templates and never an id in a label, and a key from elsewhere."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.http import data, funded_account, rule_body
from tests.support.server import StartServer

pytestmark = [pytest.mark.e2e]

EXECUTE = "/api/automation/scheduler/execute"
REQUIRED = {
    "autopilot_executions": "counter",
    "autopilot_execution_duration_seconds": "histogram",
    "autopilot_schedule_lag_seconds": "histogram",
    "autopilot_missed_occurrences": "counter",
    "autopilot_passes": "counter",
    "autopilot_pass_duration_seconds": "histogram",
    "autopilot_last_pass_timestamp_seconds": "gauge",
    "autopilot_due_rules": "gauge",
    "autopilot_pending_approvals": "gauge",
    "autopilot_trigger_orders_active": "gauge",
    "autopilot_orders": "counter",
    "autopilot_price_updates": "counter",
    "autopilot_workers_alive": "gauge",
    "autopilot_workers_dead": "gauge",
    "autopilot_webhook_deliveries": "counter",
    "autopilot_http_requests": "counter",
    "autopilot_http_request_duration_seconds": "histogram",
}
AN_ID = re.compile(r"(AUTO|REBAL|TRIG|ORD)-\d|^\d+$")


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: httpx.Client, **headers: str) -> tuple[dict[str, str], Samples]:
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    kinds, samples = {}, {}
    for family in text_string_to_metric_families(answer.text):
        kinds[family.name] = family.type
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return kinds, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def executions(samples: Samples, status: str, automation: str = "auto_invest") -> float:
    return value(samples, "autopilot_executions_total", automation=automation, status=status)


def test_every_series_is_there_from_the_start_and_an_execution_is_counted(
    start_server: StartServer,
) -> None:
    server = start_server(AUTOMATION_SCHEDULER_ENABLED="false")
    with httpx.Client(base_url=server.base_url) as plain:  # no key: a scraper on this host
        check_an_execution_is_counted(server, plain)


def check_an_execution_is_counted(server: Any, plain: httpx.Client) -> None:
    kinds, before = scrape(plain)
    assert {k: kinds.get(k) for k in REQUIRED} == REQUIRED
    for status in ("success", "failed", "skipped", "pending_approval"):
        assert (
            value(before, "autopilot_executions_total", automation="auto_invest", status=status)
            == 0
        )
    assert (
        value(
            before,
            "autopilot_missed_occurrences_total",
            automation="rebalancing",
            reason="catch_up",
        )
        == 0
    )
    assert value(before, "autopilot_passes_total", outcome="failed") == 0
    assert value(before, "autopilot_orders_total", status="Filled") == 0

    api = server.client
    who = funded_account(api, "10000.00", {"VTI": "250.00", "BND": "72.50"})
    rule = data(api.post("/api/automation/auto-invest-rules", json=rule_body(who)), 201)
    _, waiting = scrape(plain)
    assert value(waiting, "autopilot_trigger_orders_active") == 0
    assert value(waiting, "autopilot_price_updates_total") == 2
    ran = data(api.post(EXECUTE, json={"type": "auto-invest", "ruleId": rule["id"]}))
    assert ran["counts"]["executed"] == 1

    _, after = scrape(plain)
    assert (
        value(after, "autopilot_executions_total", automation="auto_invest", status="success") == 1
    )
    assert value(after, "autopilot_execution_duration_seconds_count", automation="auto_invest") == 1
    assert value(after, "autopilot_schedule_lag_seconds_count", automation="auto_invest") == 1
    assert value(after, "autopilot_orders_total", status="Pending") == 2
    assert value(after, "autopilot_orders_total", status="Filled") == 2
    route = {"method": "POST", "route": EXECUTE, "status": "200"}
    assert value(after, "autopilot_http_requests_total", **route) == 1
    templated = {labels for name, labels in after if name == "autopilot_http_requests_total"}
    assert ("route", "/api/automation/auto-invest-rules") in {p for t in templated for p in t}
    for name, labels in after:
        for key, label in labels:
            if key != "status" and key != "le":
                assert not AN_ID.search(label), (name, labels)  # never an id in a label


def test_metrics_from_another_host_need_an_operator_or_admin_key(
    start_server: StartServer,
) -> None:
    server = start_server(
        AUTOMATION_SCHEDULER_ENABLED="false", AUTOMATION_FORWARDED_ALLOW_IPS="127.0.0.1"
    )
    away = {"X-Forwarded-For": "203.0.113.9"}  # through the trusted proxy, from elsewhere
    with httpx.Client(base_url=server.base_url) as plain:
        check_a_key_is_needed(server, plain, away)


def check_a_key_is_needed(server: Any, plain: httpx.Client, away: dict[str, str]) -> None:
    refused = plain.get("/metrics", headers=away)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert refused.json()["error"]["code"] == "unauthorized"
    client_key = server.new_key(
        "client",
        client_id=data(server.client.post("/api/clients", json={"name": "Ada"}), 201)["id"],
    )
    forbidden = plain.get("/metrics", headers={**away, "Authorization": f"Bearer {client_key}"})
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "forbidden"
    operator = server.new_key("operator")
    scrape(plain, **away, Authorization=f"Bearer {operator}")
