"""The in-process scheduler of a running server executes due rules by itself.

Rules created over HTTP start on or after today, and today (America/New_York) may not be a trading
day, so the database is prepared before the server starts: migrated by `python -m autopilot db
upgrade`, then filled through the services with a clock set to a past trading day, which leaves a
daily rule whose next execution date is in the past.

The server reads the real clock, so what it executes depends on the day the test runs on: the
occurrences before today are missed ones (the catch-up setting decides which of them run), and
today's, when today is a trading day, is not missed and executes. Every expectation is computed
from the real date and the XNYS calendar (`make test-dates` runs these tests at a Saturday, a
holiday, a month-end and an ordinary Tuesday).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from autopilot.bootstrap import build
from autopilot.config import load_settings
from autopilot.domain.auto_invest.rule import Allocation
from autopilot.domain.orders import notional_buy
from autopilot.domain.schedule import Frequency
from autopilot.services.auto_invest.rules import RuleSpec
from autopilot.services.platform import PriceTick
from autopilot.services.ports import FixedClock
from autopilot.services.records import NewOrder
from autopilot.storage.migrate import upgrade
from tests.support.http import MARKET, XNYS, data, market_today
from tests.support.server import StartServer, child_env, run_cli
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.real_clock]

DEADLINE_S = 20.0
EXECUTE = "/api/automation/scheduler/execute"


@dataclass(frozen=True)
class Prepared:
    database_url: str
    workdir: Path
    client_id: int
    account_id: int
    rule_id: str
    start: date
    today: date  # the market date the rule was prepared on: the server's today too
    occurrences: list[date]  # trading days from start through today: all are due

    @property
    def missed(self) -> list[date]:
        """The occurrences before today."""
        return [d for d in self.occurrences if d < self.today]

    @property
    def todays(self) -> list[date]:
        """Today's occurrence, when today is a trading day (the rule is daily): not a missed one."""
        return [d for d in self.occurrences if d == self.today]

    def executed_by(self, catch_up: str) -> list[date]:
        """What a pass executes: today's occurrence whatever the setting, and of the missed ones
        the latest (`coalesce`), each (`all`) or none (`skip`)."""
        missed = {"coalesce": self.missed[-1:], "all": self.missed, "skip": []}[catch_up]
        return [*missed, *self.todays]

    @property
    def next_run(self) -> date:
        """Where the rule moves once a pass has dealt with everything due: the first trading
        day after today."""
        return XNYS.trading_day_after(self.today)


def prepare_due_rule(workdir: Path, *, migrate_with_cli: bool = False) -> Prepared:
    """A migrated SQLite database holding a daily rule that started about a week ago."""
    workdir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{workdir}/autopilot.db"
    if migrate_with_cli:
        migrated = run_cli(["db", "upgrade"], cwd=workdir, env=child_env(DATABASE_URL=url))
        assert migrated.returncode == 0, migrated.stderr
        assert "database is up to date" in migrated.stdout
    else:
        upgrade(url)

    today = market_today()
    start = XNYS.previous_trading_day(today - timedelta(days=7))
    services = build(load_settings(database_url=url), clock=at_ten(start))
    try:
        client = services.platform.create_client("Grace Hopper", None)
        account = services.platform.open_account(client.id, "USD")
        services.platform.deposit(account.id, Decimal("10000.00"))
        services.platform.record_prices(
            [
                PriceTick(symbol="VTI", price=Decimal("250.00"), as_of=None),
                PriceTick(symbol="BND", price=Decimal("72.50"), as_of=None),
            ]
        )
        record = services.rules.create(
            RuleSpec(
                client_id=client.id,
                account_id=account.id,
                name="Daily",
                amount=Decimal("100.00"),
                allocations=(
                    Allocation(symbol="VTI", weight=Decimal("60")),
                    Allocation(symbol="BND", weight=Decimal("40")),
                ),
                frequency=Frequency.DAILY,
                start_date=start,
            )
        )
    finally:
        services.close()
    assert record.rule.next_execution_date == start
    days = [start + timedelta(days=n) for n in range((today - start).days + 1)]
    return Prepared(
        database_url=url,
        workdir=workdir,
        client_id=client.id,
        account_id=account.id,
        rule_id=record.rule.id,
        start=start,
        today=today,
        occurrences=[d for d in days if XNYS.is_trading_day(d)],
    )


def at_ten(day: date) -> FixedClock:
    """A clock at 10:00 in New York on `day`, for writing to the database before a server
    starts."""
    return FixedClock(datetime.combine(day, time(10, 0), tzinfo=MARKET))


def logs_of(api: Any, rule_id: str) -> list[dict[str, Any]]:
    page = data(
        api.get("/api/automation/execution-logs", params={"automationId": rule_id, "pageSize": 500})
    )
    items: list[dict[str, Any]] = page["items"]
    return items


def successes(api: Any, rule_id: str) -> list[dict[str, Any]]:
    return [r for r in logs_of(api, rule_id) if r["status"] == "Success"]


def test_in_process_scheduler_executes_a_due_rule_by_itself(
    start_server: StartServer, tmp_path: Path
) -> None:
    prepared = prepare_due_rule(tmp_path / "db", migrate_with_cli=True)
    server = start_server(
        workdir=prepared.workdir,
        DATABASE_URL=prepared.database_url,
        AUTOMATION_CHECK_INTERVAL="200",
    )
    api = server.client

    # coalesce (the default): the latest missed occurrence once, and today's when today is a
    # trading day (it is not a missed one); the other missed ones are Skipped.
    executed = prepared.executed_by("coalesce")
    wait_for(
        lambda: len(successes(api, prepared.rule_id)) >= len(executed),
        timeout_s=DEADLINE_S,
        what=f"the scheduler's {len(executed)} Success row(s)",
    )
    rows = successes(api, prepared.rule_id)
    assert sorted(r["executionDate"] for r in rows) == [d.isoformat() for d in executed]
    for row in rows:
        assert row["triggeredBy"] == "scheduler"
        assert len(row["orderIds"]) == 2
        for order_id in row["orderIds"]:
            assert data(api.get(f"/api/orders/{order_id}"))["status"] == "Filled"
    skipped = sorted(
        r["executionDate"] for r in logs_of(api, prepared.rule_id) if r["status"] == "Skipped"
    )
    assert skipped == [d.isoformat() for d in prepared.occurrences if d not in executed]

    account = data(api.get(f"/api/accounts/{prepared.account_id}"))
    assert Decimal(account["cash"]) == Decimal("10000.00") - 100 * len(executed)

    rule = data(api.get(f"/api/automation/auto-invest-rules/{prepared.rule_id}"))
    assert rule["executionCount"] == len(executed)
    assert rule["nextExecutionDate"] == prepared.next_run.isoformat()

    status = data(api.get("/api/automation/scheduler/status"))
    assert status["isRunning"] is True
    assert status["checkInterval"] == "200"
    assert status["lastRunAt"]

    # Later passes find nothing more to do: the occurrence executed exactly once.
    first_run = status["lastRunAt"]
    wait_for(
        lambda: data(api.get("/api/automation/scheduler/status"))["lastRunAt"] != first_run,
        timeout_s=DEADLINE_S,
        what="another scheduler pass",
    )
    assert sorted(
        r["id"] for r in logs_of(api, prepared.rule_id) if r["status"] == "Success"
    ) == sorted(r["id"] for r in rows)

    stopped = data(api.post("/api/automation/scheduler/stop"))
    assert stopped["isRunning"] is False
    assert data(api.get("/api/automation/scheduler/status"))["isRunning"] is False
    started = data(api.post("/api/automation/scheduler/start"))
    assert started["isRunning"] is True
    assert data(api.get("/api/automation/scheduler/status"))["isRunning"] is True

    # The operator's guide lines (DESIGN §7).
    log = server.stderr
    assert "[Automation Scheduler] Starting scheduler (check interval: 200ms)" in log
    assert "[Automation Scheduler] Running scheduled checks..." in log
    assert f"[Automation Scheduler] Executing auto-invest rule: {prepared.rule_id}" in log
    assert (
        f"[Automation Scheduler] Auto-invest rule {prepared.rule_id} executed successfully" in log
    )
    assert "[Automation Scheduler] Scheduled checks completed" in log


@pytest.mark.parametrize("catch_up", ["coalesce", "all", "skip"])
def test_catch_up_setting_decides_which_missed_occurrences_run(
    start_server: StartServer, tmp_path: Path, catch_up: str
) -> None:
    prepared = prepare_due_rule(tmp_path / "db")
    server = start_server(
        workdir=prepared.workdir,
        DATABASE_URL=prepared.database_url,
        AUTOMATION_CHECK_INTERVAL="200",
        AUTOMATION_CATCH_UP=catch_up,
    )
    api = server.client
    due = [d.isoformat() for d in prepared.occurrences]

    def settled() -> list[dict[str, Any]] | None:
        rows = logs_of(api, prepared.rule_id)
        return rows if len(rows) >= len(due) else None

    rows = wait_for(settled, timeout_s=DEADLINE_S, what=f"{len(due)} log rows")
    by_status: dict[str, list[str]] = {}
    for row in rows:
        by_status.setdefault(row["status"], []).append(row["executionDate"])
    # Today's occurrence is not a missed one: whatever the setting, it executes when today is a
    # trading day. Of the missed ones `coalesce` executes the latest, `all` each, `skip` none;
    # the others are logged Skipped with the setting that skipped them.
    executed = prepared.executed_by(catch_up)
    skipped = [d for d in prepared.occurrences if d not in executed]
    assert len(rows) == len(due), rows  # one row per occurrence, none twice
    assert sorted(by_status.get("Success", [])) == [d.isoformat() for d in executed], rows
    assert sorted(by_status.get("Skipped", [])) == [d.isoformat() for d in skipped], rows
    assert set(by_status) <= {"Success", "Skipped"}, rows
    for row in rows:
        assert row["triggeredBy"] == "scheduler"
        if row["status"] == "Skipped":
            assert f"catch-up: {catch_up}" in row["message"], row
    rule = data(api.get(f"/api/automation/auto-invest-rules/{prepared.rule_id}"))
    assert rule["executionCount"] == len(executed)
    assert rule["nextExecutionDate"] == prepared.next_run.isoformat()
    account = data(api.get(f"/api/accounts/{prepared.account_id}"))
    assert Decimal(account["cash"]) == Decimal("10000.00") - 100 * len(executed)


def test_disabled_scheduler_does_not_run_but_can_be_started(
    start_server: StartServer, tmp_path: Path
) -> None:
    prepared = prepare_due_rule(tmp_path / "db")
    server = start_server(
        workdir=prepared.workdir,
        DATABASE_URL=prepared.database_url,
        AUTOMATION_CHECK_INTERVAL="200",
        AUTOMATION_SCHEDULER_ENABLED="FALSE",
    )
    api = server.client
    status = data(api.get("/api/automation/scheduler/status"))
    assert status["isRunning"] is False
    assert status["enabled"] is False
    assert status["lastRunAt"] is None
    assert logs_of(api, prepared.rule_id) == []

    assert data(api.post("/api/automation/scheduler/start"))["isRunning"] is True
    executed = prepared.executed_by("coalesce")
    wait_for(
        lambda: len(successes(api, prepared.rule_id)) >= len(executed),
        timeout_s=DEADLINE_S,
        what="the Success rows after a manual start",
    )
    rows = successes(api, prepared.rule_id)
    assert sorted(r["executionDate"] for r in rows) == [d.isoformat() for d in executed]


@pytest.mark.parametrize("kind", ["auto-invest", "rebalancing", "triggers"])
def test_a_cron_post_of_execute_also_hands_the_broker_orders_a_crash_left_pending(
    start_server: StartServer, tmp_path: Path, kind: str
) -> None:
    prepared = prepare_due_rule(tmp_path / "db")
    stranded = notional_buy(
        "ORD-20260601-000000000000009", prepared.account_id, "VTI", Decimal("250.00")
    )
    services = build(
        load_settings(database_url=prepared.database_url), clock=at_ten(prepared.start)
    )
    try:  # written with its cash held, then the process died before submitting it
        with services.uow() as uow:
            now = services.clock.now()
            uow.orders.add_many([NewOrder(order=stranded, client_id=prepared.client_id)], now)
            uow.accounts.hold({prepared.account_id: Decimal("250.00")}, now)
    finally:
        services.close()
    server = start_server(
        workdir=prepared.workdir,
        DATABASE_URL=prepared.database_url,
        AUTOMATION_SCHEDULER_ENABLED="false",  # cron does the passes
    )

    result = data(server.client.post(EXECUTE, json={"type": kind}))

    order = data(server.client.get(f"/api/orders/{stranded.id}"))
    assert (order["status"], order["filledQuantity"]) == ("Filled", "1.000000")
    account = data(server.client.get(f"/api/accounts/{prepared.account_id}"))
    if kind == "auto-invest":  # 250.00 for the stranded order, 100.00 per execution
        executed = len(prepared.executed_by("coalesce"))
        cash = Decimal("9750.00") - 100 * executed
        assert (result["counts"]["executed"], Decimal(account["cash"])) == (executed, cash)
    else:
        assert (result["counts"]["executed"], account["cash"]) == (0, "9750.00")
    assert account["heldCash"] == "0.00"  # the fills turned every hold into a debit
    # The guide's first troubleshooting step: the start-up lines say why nothing runs by itself.
    assert "[Automation Scheduler] Scheduler disabled (AUTOMATION_SCHEDULER_ENABLED=false)" in (
        server.stderr
    )
