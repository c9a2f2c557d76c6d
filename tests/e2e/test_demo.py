"""`autopilot demo`, the README's "let the sample do it", as a real process on the real clock.

It loads a client with $10,000, prices and two rules whose first date is the CLI's today ($500
monthly on today's day of the month, $25 daily), then runs a pass. On a trading day the pass
executes both; on a weekend or market holiday nothing is due yet, so the demo says so and
executes both by hand, each on its first date: the next trading day.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from decimal import Decimal
from pathlib import Path

import pytest

from autopilot.bootstrap import build
from autopilot.config import load_settings
from autopilot.services.ports import FixedClock
from autopilot.services.records import LogFilter
from tests.support.http import MARKET, XNYS, market_today
from tests.support.server import child_env, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.real_clock]

LOADED = re.compile(r"^loaded client (\d+), account (\d+), rules (\S+), (\S+)$", re.MULTILINE)
NOT_A_TRADING_DAY = "today is not a trading day, so nothing is due"
KEY = re.compile(r"^client (\d+)'s key \(shown this once\): (ap_\S+)$", re.MULTILINE)


def test_demo_executes_both_sample_rules_on_their_first_date_whatever_the_day(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/autopilot.db"
    today = market_today()

    result = run_cli(["demo"], cwd=tmp_path, env=child_env(DATABASE_URL=url))

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    (loaded,) = LOADED.findall(result.stdout)
    client_id, account_id, rule_ids = int(loaded[0]), int(loaded[1]), loaded[2:]
    for rule_id in rule_ids:  # made on the CLI's today
        assert rule_id.startswith(f"AUTO-{today:%Y%m%d}-"), result.stdout
    trading = XNYS.is_trading_day(today)
    assert (NOT_A_TRADING_DAY in result.stdout) is not trading, result.stdout
    assert "pass: {'executed': 2, 'skipped': 0, 'failed': 0, 'pendingApproval': 0}" in result.stdout

    first_date = XNYS.next_trading_day(today)  # today itself when it is a trading day
    services = build(
        load_settings(database_url=url),
        clock=FixedClock(datetime.combine(today, time(12, 0), tzinfo=MARKET)),
    )
    [(key_client, key)] = KEY.findall(result.stdout)
    assert int(key_client) == client_id
    assert f'/api/accounts/{account_id}" -H "Authorization: Bearer {key}"' in result.stdout
    try:
        caller = services.keys.authenticate(key)
        assert (caller.role.value, caller.client_id) == ("client", client_id)
        records, total = services.logs.search(LogFilter(client_id=client_id), page=1, page_size=50)
        cash = services.platform.account(account_id).account.cash
    finally:
        services.close()
    assert total == 2
    executed_by = "scheduler" if trading else "demo"
    assert sorted(
        (r.entry.automation_id, r.entry.execution_date, r.entry.status, r.entry.triggered_by)
        for r in records
    ) == sorted((rule_id, first_date, "Success", executed_by) for rule_id in rule_ids)
    assert cash == Decimal("10000.00") - Decimal("500.00") - Decimal("25.00")
