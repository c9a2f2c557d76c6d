"""A broker that cannot take orders stops nothing (DESIGN §4, §5 "Failures"): what is committed
stands, the orders wait Pending with their cash held, and the next pass hands each of them to the
broker once it is back."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from autopilot.bootstrap import Services
from autopilot.brokers.memory import InMemoryBroker
from autopilot.domain.orders import OrderStatus
from autopilot.engine.scheduler import Scheduler
from autopilot.services import submission
from autopilot.services.platform import PriceTick
from tests.integration.conftest import (
    OPENING_CASH,
    PRICES,
    START,
    Investor,
    MakeServices,
    logs_of,
    market_buy,
    open_funded_account,
    spec,
)


@pytest.fixture
def broker() -> InMemoryBroker:
    return InMemoryBroker(down=True)


@pytest.fixture
def services(make_services: MakeServices, broker: InMemoryBroker) -> Services:
    return make_services(broker=broker)


@pytest.fixture
def investor(services: Services) -> Investor:
    # The broker is down: price updates reach it and fail, which must not lose the prices.
    services.platform.record_prices([PriceTick(symbol=s, price=p) for s, p in PRICES.items()])
    return open_funded_account(services)


def scheduler_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "autopilot.scheduler"]


def statuses(services: Services, order_ids: tuple[str, ...]) -> set[OrderStatus]:
    return {services.orders.get(i).order.status for i in order_ids}


def cash(services: Services, investor: Investor) -> Decimal:
    return services.platform.account(investor.account_id).account.cash


def test_a_rule_executes_while_the_broker_is_down_and_its_orders_go_out_once_it_is_back(
    services: Services,
    broker: InMemoryBroker,
    investor: Investor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="autopilot.scheduler")
    rule_id = services.rules.create(spec(investor, weights={"AAA": "60", "BBB": "40"})).rule.id
    scheduler = Scheduler(services)

    during = scheduler.run_pass()

    assert during.error is None
    [entry] = [r.entry for r in logs_of(services, rule_id)]
    assert (entry.status, entry.execution_date) == ("Success", START)
    assert len(entry.order_ids) == 2
    assert statuses(services, entry.order_ids) == {OrderStatus.PENDING}
    assert cash(services, investor) == OPENING_CASH - Decimal("100.00")  # held for the orders
    assert broker.accepted == []
    assert any(
        line.startswith("[Automation Scheduler] submitting 2 order(s) failed (ORD-")
        and all(i in line for i in entry.order_ids)
        and "left Pending for the next pass: BrokerUnavailable" in line
        for line in scheduler_lines(caplog)
    )

    broker.down = False
    after = scheduler.run_pass()

    assert after.error is None
    assert sorted(broker.handed) == sorted(entry.order_ids)  # each handed over once
    assert set(broker.accepted_ids()) == set(entry.order_ids)
    # The fake fills nothing, so they stay Pending and the next pass offers each once more.
    again = scheduler.run_pass()
    assert again.error is None
    assert sorted(broker.handed) == sorted(entry.order_ids * 2)
    assert [r.entry.status for r in logs_of(services, rule_id)] == ["Success"]
    assert services.rules.get(rule_id).rule.execution_count == 1
    assert "[Automation Scheduler] Resubmitting 2 pending order(s)" in scheduler_lines(caplog)


def test_an_order_placed_while_the_broker_is_down_is_kept_pending_not_lost(
    services: Services, broker: InMemoryBroker, investor: Investor
) -> None:
    placed = services.orders.place(market_buy(investor, "AAA", "250.00"))

    assert placed.order.status is OrderStatus.PENDING
    assert cash(services, investor) == OPENING_CASH - Decimal("250.00")

    broker.down = False
    Scheduler(services).run_pass()

    assert broker.accepted_ids() == [placed.order.id]


def test_resubmission_offers_each_pending_order_once_per_pass_however_many_there_are(
    services: Services,
    broker: InMemoryBroker,
    investor: Investor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(submission, "RESUBMIT_CHUNK", 2)
    placed = [
        services.orders.place(market_buy(investor, symbol, "10.00")).order.id
        for symbol in ("AAA", "BBB", "CCC", "AAA", "BBB")
    ]
    broker.down = False

    # The fake fills nothing, so all five stay Pending: chunked by a cursor, the pass still ends.
    report = Scheduler(services).run_pass()

    assert report.error is None
    assert sorted(broker.accepted_ids()) == sorted(placed)
    assert broker.calls == 3  # chunks of 2, 2 and 1
