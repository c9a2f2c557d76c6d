"""The scheduler loop runs passes in the background, writes the guide's log lines, survives a
database outage and stops when asked (DESIGN §5 "Failures", §7)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from autopilot.bootstrap import Services
from autopilot.domain.orders import OrderStatus, notional_buy
from autopilot.engine.scheduler import Scheduler
from autopilot.services.platform import PriceTick
from autopilot.services.records import NewOrder
from tests.integration.conftest import (
    PRICES,
    START,
    Investor,
    MakeServices,
    logs_of,
    open_funded_account,
    spec,
)
from tests.pg import ThrowawayPostgres

DEADLINE_S = 20.0
FAST = {"automation_check_interval": 50}


def eventually(condition: Callable[[], bool], what: str) -> None:
    """Wait until `condition()` holds, failing with `what` after a generous deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


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
            lambda: sum("Scheduled checks failed" in m for m in messages(caplog)) >= 2,
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
    failed = [m for m in messages(caplog) if "Scheduled checks failed" in m]
    assert all(m.startswith("[Automation Scheduler] Scheduled checks failed: ") for m in failed)


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
        cash = uow.accounts.lock_cash([investor.account_id])[investor.account_id]
        uow.accounts.set_cash({investor.account_id: cash - Decimal("70.00")}, now)

    report = scheduler.run_pass()

    assert report.error is None
    filled = services.orders.get(order.id)
    assert filled.order.status is OrderStatus.FILLED
    assert filled.filled_quantity == Decimal("10.000000")
    assert "[Automation Scheduler] Resubmitting 1 pending order(s)" in messages(caplog)
