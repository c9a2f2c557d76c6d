"""A broker that cannot take orders stops nothing (DESIGN §4, §5 "Failures"): what is committed
stands, the orders wait Pending with their cash held, and the next pass hands each of them to the
broker once it is back."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from autopilot.bootstrap import Services
from autopilot.brokers.memory import InMemoryBroker
from autopilot.domain.orders import OrderStatus, Side
from autopilot.domain.triggers.conditions import TriggerStatus
from autopilot.domain.triggers.order import OrderTemplate
from autopilot.engine.scheduler import Scheduler
from autopilot.services import submission
from autopilot.services.platform import PriceTick
from autopilot.services.triggers.orders import ConditionSpec, TriggerSpec
from tests.support.logs import action_of, actions
from tests.support.services import (
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


def statuses(services: Services, order_ids: tuple[str, ...]) -> set[OrderStatus]:
    return {services.orders.get(i).order.status for i in order_ids}


def available(services: Services, investor: Investor) -> Decimal:
    """Cash less holds; the cash itself stays until a fill debits it."""
    account = services.platform.account(investor.account_id).account
    assert account.cash == OPENING_CASH  # nothing filled while the broker is down
    return account.available


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
    assert available(services, investor) == OPENING_CASH - Decimal("100.00")  # held for the orders
    assert broker.accepted == []
    [refused] = [r for r in caplog.records if action_of(r) == "orders.submit_failed"]
    assert getattr(refused, "count", None) == 2
    assert all(i in refused.getMessage() for i in entry.order_ids)  # it names the orders
    assert "BrokerUnavailable" in refused.getMessage()

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
    assert [
        getattr(r, "count", None) for r in caplog.records if action_of(r) == "orders.resubmitting"
    ] == [2, 2]


def test_an_order_placed_while_the_broker_is_down_is_kept_pending_not_lost(
    services: Services, broker: InMemoryBroker, investor: Investor
) -> None:
    placed = services.orders.place(market_buy(investor, "AAA", "250.00"))

    assert placed.order.status is OrderStatus.PENDING
    assert available(services, investor) == OPENING_CASH - Decimal("250.00")

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


def test_a_price_the_broker_fails_on_still_fires_the_stops_it_crosses(
    services: Services,
    broker: InMemoryBroker,
    investor: Investor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A buy-the-dip order needs no position (the broker is down: nothing fills).
    [dip] = services.trigger_orders.create(
        [
            TriggerSpec(
                client_id=investor.client_id,
                account_id=investor.account_id,
                symbol="AAA",
                condition=ConditionSpec(type="priceBelow", level=Decimal("90.00")),
                order=OrderTemplate(side=Side.BUY, notional=Decimal("100.00")),
            )
        ]
    )
    caplog.set_level(logging.INFO)

    services.platform.record_prices([PriceTick(symbol="AAA", price=Decimal("89.00"))])

    fired = services.trigger_orders.get(dip.trigger.id)
    assert fired.trigger.status is TriggerStatus.TRIGGERED
    assert fired.order_id is not None
    assert services.orders.get(fired.order_id).order.status is OrderStatus.PENDING
    assert available(services, investor) == OPENING_CASH - Decimal("100.00")  # held for the order
    [broker_failed] = [r for r in caplog.records if action_of(r) == "prices.broker_failed"]
    assert broker_failed.exc_info is not None  # logged with its traceback, once
    assert actions(caplog).count("orders.submit_failed") == 1  # the fired order waits Pending
