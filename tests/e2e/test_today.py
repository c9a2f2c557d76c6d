"""A server a test starts calls the test's market date today: the dates the real-clock tests
compute their expectations from are the dates the server runs on.

Under `make test-dates` everything runs under libfaketime at a chosen date, which the target
names in AUTOPILOT_FAKED_DATE: then the test process, and through it the server, must be on that
date, or the date runs would prove nothing.
"""

from __future__ import annotations

import os
from datetime import date, timedelta

import pytest

from tests.support.http import XNYS, data, funded_account, market_date, market_today, rule_body
from tests.support.server import StartServer

pytestmark = [pytest.mark.e2e, pytest.mark.real_clock]

LIBFAKETIME = (
    "LD_PRELOAD",
    "FAKETIME",
    "FAKETIME_DONT_FAKE_MONOTONIC",
    "FAKETIME_SHARED",
    "FAKETIME_WAIT_MS",
    "FAKETIME_FORCE_MONOTONIC_FIX",
)


def test_a_server_started_by_a_test_calls_the_tests_market_date_today(
    start_server: StartServer,
) -> None:
    today = market_today()
    faked = os.environ.get("AUTOPILOT_FAKED_DATE")
    if faked:  # `make test-dates`: libfaketime reached this process
        assert today == date.fromisoformat(faked)
    server = start_server(AUTOMATION_SCHEDULER_ENABLED="false")
    # The server's environment carries libfaketime's settings as they are here (or their absence).
    passed_on = {k: server.env.get(k) for k in LIBFAKETIME}
    assert passed_on == {k: os.environ.get(k) for k in LIBFAKETIME}

    who = funded_account(server.client, "1000.00", {"VTI": "250.00", "BND": "72.50"})
    daily = rule_body(who, frequency="daily", startDate=(today - timedelta(days=30)).isoformat())
    del daily["dayOfMonth"]
    rule = data(server.client.post("/api/automation/auto-invest-rules", json=daily), 201)

    # Its id and creation time carry the server's date; a daily rule that started a month ago
    # runs next on the first trading day from the server's today on.
    assert rule["id"].startswith(f"AUTO-{today:%Y%m%d}-"), rule
    assert market_date(rule["createdAt"]) == today, rule
    assert rule["nextExecutionDate"] == XNYS.next_trading_day(today).isoformat(), rule
