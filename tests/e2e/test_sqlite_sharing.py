"""The embedded default shares one SQLite file between the API, the in-process scheduler and
cron's `run-once`: writers wait for each other instead of failing with "database is locked"."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import pytest

from tests.e2e.conftest import StartServer
from tests.e2e.support import data, funded_account, rule_body

RULES = 20
WORKERS = 3
DEPOSITS = 60


@pytest.mark.e2e
def test_api_scheduler_and_cron_passes_share_the_sqlite_file_without_lock_errors(
    start_server: StartServer,
) -> None:
    server = start_server(AUTOMATION_CHECK_INTERVAL="50")  # a pass every 50 ms
    api = server.client
    who = funded_account(api, cash="100000.00", prices={"VTI": "250.00", "BND": "72.50"})
    rule_ids = [
        data(api.post("/api/automation/auto-invest-rules", json=rule_body(who)), 201)["id"]
        for _ in range(RULES)
    ]

    # Three cron passes as of the rules' first date, while the API takes deposits and prices.
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "autopilot", "run-once", "--as-of", "2026-12-31", "--json"],
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
        rule = data(api.get(f"/api/automation/auto-invest-rules/{rule_id}"))
        assert rule["executionCount"] == 1
    account = data(api.get(f"/api/accounts/{who.account_id}"))
    spent = Decimal("500.00") * RULES
    assert Decimal(account["cash"]) == Decimal("100000.00") + DEPOSITS - spent
    assert "database is locked" not in server.output()
