"""The README walk-through over real HTTP, against SQLite and against PostgreSQL.

The server reads the real clock: the rule (monthly on the 31st from 2026-12-01) first runs on the
first month-end trading day on or after today, 2026-12-31 as the README says until that day has
passed, and manual execution runs that occurrence whatever today is.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import httpx
import pytest

from tests.support.http import (
    README_START,
    data,
    first_run_of_rule_body,
    funded_account,
    market_today,
    monthly_run_on_or_after,
    position_quantities,
    rule_body,
)
from tests.support.server import StartServer

pytestmark = [pytest.mark.e2e, pytest.mark.real_clock]

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def walk_through(api: httpx.Client) -> None:
    who = funded_account(api, "10000.00", {"VTI": "250.00", "BND": "72.50"})

    today = market_today()
    rule = data(api.post("/api/automation/auto-invest-rules", json=rule_body(who)), 201)
    assert rule["id"].startswith(f"AUTO-{today:%Y%m%d}-")
    assert rule["status"] == "Active"
    assert DATE.match(rule["nextExecutionDate"]), rule
    first_date = date.fromisoformat(rule["nextExecutionDate"])
    assert first_date == first_run_of_rule_body(today)
    assert rule["amount"] == "500.00"
    assert rule["maxTotalAmount"] == "6000.00"
    assert rule["totalInvested"] == "0.00"
    assert rule["executionCount"] == 0
    assert rule["allocations"] == [
        {"symbol": "VTI", "weight": "60"},
        {"symbol": "BND", "weight": "40"},
    ]

    result = data(
        api.post(
            "/api/automation/scheduler/execute", json={"type": "auto-invest", "ruleId": rule["id"]}
        )
    )
    assert result["counts"] == {"executed": 1, "skipped": 0, "failed": 0, "pendingApproval": 0}, (
        result
    )
    (executed,) = result["executed"]
    assert executed["ruleId"] == rule["id"]
    assert executed["status"] == "Success"
    order_ids = executed["orderIds"]
    assert len(order_ids) == 2 and all(o.startswith("ORD-") for o in order_ids)

    orders = [data(api.get(f"/api/orders/{order_id}")) for order_id in order_ids]
    assert {o["status"] for o in orders} == {"Filled"}
    assert {o["symbol"]: o["notional"] for o in orders} == {"VTI": "300.00", "BND": "200.00"}
    assert {o["automationId"] for o in orders} == {rule["id"]}

    account = data(api.get(f"/api/accounts/{who.account_id}"))
    assert account["cash"] == "9500.00"
    assert position_quantities(account) == {"VTI": "1.200000", "BND": "2.758620"}

    after = data(api.get(f"/api/automation/auto-invest-rules/{rule['id']}"))
    assert after["executionCount"] == 1
    assert after["totalInvested"] == "500.00"
    assert after["status"] == "Active"
    assert DATE.match(after["nextExecutionDate"])
    next_date = monthly_run_on_or_after(README_START, 31, first_date + timedelta(days=1))
    assert after["nextExecutionDate"] == next_date.isoformat()

    logs = data(
        api.get(
            "/api/automation/execution-logs",
            params={"clientId": who.client_id, "automationType": "AutoInvest"},
        )
    )
    assert set(logs) >= {"items", "total", "page", "pageSize"}
    assert (logs["total"], logs["page"], logs["pageSize"]) == (1, 1, 50)
    (row,) = logs["items"]
    assert row["status"] == "Success"
    assert row["automationType"] == "AutoInvest"
    assert row["automationId"] == rule["id"]
    assert row["clientId"] == who.client_id
    assert sorted(row["orderIds"]) == sorted(order_ids)
    # Who triggered it, from the log alone: the key that asked (an admin's, here).
    assert row["triggeredBy"].startswith("key:"), row
    keys = {k["id"]: k for k in data(api.get("/api/api-keys"))["items"]}
    assert keys[int(row["triggeredBy"].removeprefix("key:"))]["role"] == "admin"
    assert row["executionDate"] == first_date.isoformat()


def test_readme_walk_through_invests_and_logs_over_http(start_server: StartServer) -> None:
    server = start_server()
    walk_through(server.client)


@pytest.mark.postgres
def test_readme_walk_through_on_postgresql(start_server: StartServer, pg_url: str) -> None:
    server = start_server(DATABASE_URL=pg_url)
    walk_through(server.client)
