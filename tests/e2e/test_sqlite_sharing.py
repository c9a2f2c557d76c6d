"""The embedded default shares one SQLite file between the API, the in-process scheduler and
cron's `run-once`: writers wait for each other instead of failing with "database is locked"."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal

import pytest

from tests.support.http import (
    data,
    funded_account,
    market_today,
    monthly_run_on_or_after,
    rule_body,
)
from tests.support.server import StartServer

RULES = 20
RULES_PATH = "/api/automation/auto-invest-rules"
WORKERS = 3
DEPOSITS = 60


@pytest.mark.e2e
@pytest.mark.real_clock
def test_api_scheduler_and_cron_passes_share_the_sqlite_file_without_lock_errors(
    start_server: StartServer,
) -> None:
    server = start_server(AUTOMATION_CHECK_INTERVAL="50")  # a pass every 50 ms
    api = server.client
    who = funded_account(api, cash="100000.00", prices={"VTI": "250.00", "BND": "72.50"})
    # Rules that start tomorrow: the in-process scheduler's passes (the server's today) find
    # none of them due, so the cron passes below execute each, whatever day the test runs on.
    start = market_today() + timedelta(days=1)
    first_run = monthly_run_on_or_after(start, 31, start)
    body = rule_body(who, startDate=start.isoformat())
    rules = [data(api.post(RULES_PATH, json=body), 201) for _ in range(RULES)]
    assert {r["nextExecutionDate"] for r in rules} == {first_run.isoformat()}
    rule_ids = [r["id"] for r in rules]

    # Three cron passes as of the rules' first date, while the API takes deposits and prices.
    as_of = first_run.isoformat()
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "autopilot", "run-once", "--as-of", as_of, "--json"],
            cwd=server.workdir,
            env={**server.env, "AUTOMATION_BATCH_SIZE": "3"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    try:
        for i in range(DEPOSITS):
            data(api.post(f"/api/accounts/{who.account_id}/deposits", json={"amount": "1.00"}), 201)
            price = f"{250 + i % 5}.00"
            data(
                api.post("/api/market/prices", json={"prices": [{"symbol": "VTI", "price": price}]})
            )
        outputs = [w.communicate(timeout=120) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()

    for w, (_out, err) in zip(workers, outputs, strict=True):
        assert w.returncode == 0, err
        assert "database is locked" not in err
    executed = sum(json.loads(out)["counts"]["executed"] for out, _ in outputs)
    assert executed == RULES  # each rule once, whichever process got it
    for rule_id in rule_ids:
        rule = data(api.get(f"{RULES_PATH}/{rule_id}"))
        assert rule["executionCount"] == 1
    account = data(api.get(f"/api/accounts/{who.account_id}"))
    spent = Decimal("500.00") * RULES
    assert Decimal(account["cash"]) == Decimal("100000.00") + DEPOSITS - spent
    log = server.output()
    assert "database is locked" not in log
    assert "[Automation Scheduler] Running scheduled checks..." in log  # it did contend
    assert "executed successfully" not in log  # and executed nothing before its date
