"""The scheduler loop runs passes in the background, writes the guide's log lines, survives a
database outage and stops when asked (DESIGN §5 "Failures", §7)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from autopilot.bootstrap import Services
from autopilot.domain.orders import OrderStatus, notional_buy
from autopilot.engine.scheduler import Scheduler
from autopilot.services.platform import PriceTick
from autopilot.services.records import NewOrder
from tests.pg import ThrowawayPostgres
from tests.support.logs import action_of, actions
from tests.support.services import (
    PRICES,
    START,
    Investor,
    MakeServices,
    logs_of,
    open_funded_account,
    spec,
)
from tests.support.waiting import wait_for

DEADLINE_S = 20.0
FAST = {"automation_check_interval": 50}


def eventually(condition: Callable[[], bool], what: str) -> None:
    wait_for(condition, what=what, timeout_s=DEADLINE_S)


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "autopilot.scheduler"]


@pytest.fixture
def scheduled(make_services: MakeServices) -> Iterator[tuple[Services, Scheduler]]:
    services = make_services(**FAST)
    scheduler = Scheduler(services)
    yield services, scheduler
    scheduler.stop(timeout=DEADLINE_S)


def _seed(services: Services) -> tuple[Investor, str]:
    services.platform.record_prices([PriceTick(symbol=s, price=p) for s, p in PRICES.items()])
    investor = open_funded_account(services)
    rule_id = services.rules.create(spec(investor)).rule.id
    return investor, rule_id


def _executed(services: Services, rule_id: str) -> bool:
    return any(r.entry.status == "Success" for r in logs_of(services, rule_id))


def test_started_loop_executes_due_rules_and_stops_when_asked(
    scheduled: tuple[Services, Scheduler], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="autopilot.scheduler")
    services, scheduler = scheduled
    _, rule_id = _seed(services)

    assert scheduler.start() is True
    assert scheduler.is_running
    assert scheduler.start() is False  # already running
    eventually(lambda: _executed(services, rule_id), "the due rule to execute")
    eventually(
        lambda: messages(caplog).count("[Automation Scheduler] Scheduled checks completed") >= 2,
        "a second pass",
    )
    assert scheduler.stop(timeout=DEADLINE_S) is True

    assert not scheduler.is_running
    assert scheduler.stop() is False
    [entry] = [r.entry for r in logs_of(services, rule_id)]  # later passes found nothing due
    assert (entry.status, entry.execution_date, entry.triggered_by) == (
        "Success",
        START,
        "scheduler",
    )
    [order_id] = entry.order_ids
    lines = messages(caplog)
    assert "[Automation Scheduler] Starting scheduler (check interval: 50ms)" in lines
    assert "[Automation Scheduler] Running scheduled checks..." in lines
    assert f"[Automation Scheduler] Executing auto-invest rule: {rule_id}" in lines
    assert (
        f"[Automation Scheduler] Auto-invest rule {rule_id} executed successfully. "
        f"Order ID: {order_id}"
    ) in lines
    assert "[Automation Scheduler] Scheduled checks completed" in lines
    assert rule_id.startswith("AUTO-") and order_id.startswith("ORD-")
    assert scheduler.last_pass is not None and scheduler.last_pass.error is None


def test_loop_survives_a_database_outage_and_executes_the_due_rule_once_it_is_back(
    request: pytest.FixtureRequest,
    db_url: str,
    scheduled: tuple[Services, Scheduler],
    caplog: pytest.LogCaptureFixture,
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("an outage is simulated by stopping the PostgreSQL server")
    pg_server: ThrowawayPostgres = request.getfixturevalue("pg_server")
    caplog.set_level(logging.INFO, logger="autopilot.scheduler")
    services, scheduler = scheduled
    _, rule_id = _seed(services)

    pg_server.stop_server()
    try:
        scheduler.start()
        eventually(
            lambda: actions(caplog).count("pass.failed") >= 2,
            "two failed passes during the outage",
        )
        assert scheduler.is_running
        assert scheduler.last_pass is not None and scheduler.last_pass.error is not None
    finally:
        pg_server.start_server()

    eventually(lambda: _executed(services, rule_id), "the due rule to execute after the outage")
    scheduler.stop(timeout=DEADLINE_S)

    assert not scheduler.is_running
    assert [r.entry.status for r in logs_of(services, rule_id)] == ["Success"]
    failed = [r for r in caplog.records if action_of(r) == "pass.failed"]
    assert all(
        r.getMessage().startswith("[Automation Scheduler] Scheduled checks failed: ")
        and "DatabaseUnavailable" in r.getMessage()
        for r in failed
    )
    assert all(r.exc_info is None for r in failed)  # an outage is expected: one line each


def test_pass_resubmits_orders_left_pending_by_a_crash(
    scheduled: tuple[Services, Scheduler], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="autopilot.scheduler")
    services, scheduler = scheduled
    investor, _ = _seed(services)
    order = notional_buy(
        "ORD-20260601-000000000000002", investor.account_id, "CCC", Decimal("70.00")
    )
    now = services.clock.now()
    with services.uow() as uow:  # written, cash held, never submitted
        uow.orders.add_many([NewOrder(order=order, client_id=investor.client_id)], now)
        uow.accounts.hold({investor.account_id: Decimal("70.00")}, now)

    report = scheduler.run_pass()

    assert report.error is None
    filled = services.orders.get(order.id)
    assert filled.order.status is OrderStatus.FILLED
    assert filled.filled_quantity == Decimal("10.000000")
    resubmitted = [r for r in caplog.records if action_of(r) == "orders.resubmitting"]
    assert [getattr(r, "count", None) for r in resubmitted] == [1]


def test_an_unexpected_error_in_a_pass_is_logged_with_its_traceback_and_the_loop_goes_on(
    scheduled: tuple[Services, Scheduler],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO, logger="autopilot.scheduler")
    services, scheduler = scheduled
    _, rule_id = _seed(services)
    broken = [True]
    real_run_all = services.triggers.run_all

    def run_all(**kwargs: object) -> object:
        if broken[0]:
            raise RuntimeError("the trigger index is corrupt")
        return real_run_all(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(services.triggers, "run_all", run_all)

    report = scheduler.run_pass()

    assert report.error == "the trigger index is corrupt"
    [failed] = [r for r in caplog.records if action_of(r) == "pass.failed"]
    assert failed.exc_info is not None and isinstance(failed.exc_info[1], RuntimeError)
    assert _executed(services, rule_id)  # the auto-invest part of the pass had committed
    broken[0] = False
    assert scheduler.run_pass().error is None
