"""The services on the in-memory store: a whole day of each automation without a database.

The store keeps the database's rules (the outcome key, one pending proposal, the scales), so
the same passes execute the same way: what the SQL stores do in the other integration tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from autopilot.bootstrap import Services, build
from autopilot.config import load_settings
from autopilot.domain.auto_invest.rule import Allocation
from autopilot.domain.orders import OrderStatus, OrderType, Side
from autopilot.domain.outcomes import OutcomeStatus
from autopilot.domain.rebalancing.drift import Target
from autopilot.domain.rebalancing.rule import TriggerMode
from autopilot.domain.schedule import Frequency
from autopilot.domain.triggers.conditions import TriggerStatus
from autopilot.domain.triggers.order import OrderTemplate
from autopilot.services.auto_invest.rules import RuleSpec
from autopilot.services.orders import PlaceOrder
from autopilot.services.platform import PriceTick
from autopilot.services.rebalancing.rules import RebalancingSpec
from autopilot.services.records import LogFilter
from autopilot.services.triggers.orders import ConditionSpec, TriggerSpec
from autopilot.storage.memory.store import InMemoryStore
from tests.support.services import DEFAULT_SETTINGS, START, SettableClock


@pytest.fixture
def memory(clock: SettableClock) -> Iterator[Services]:
    settings = load_settings(database_url="sqlite:///unused.db", **DEFAULT_SETTINGS)
    services = build(settings, clock=clock, uow=InMemoryStore())
    yield services
    services.close()


def funded(services: Services, cash: str = "10000.00") -> tuple[int, int]:
    services.platform.record_prices(
        [
            PriceTick(symbol="VTI", price=Decimal("100")),
            PriceTick(symbol="BND", price=Decimal("50")),
        ]
    )
    client = services.platform.create_client("Ada", None)
    account = services.platform.open_account(client.id, "USD")
    services.platform.deposit(account.id, Decimal(cash))
    return client.id, account.id


def buy(services: Services, account_id: int, symbol: str, quantity: str) -> None:
    services.orders.place(
        PlaceOrder(
            account_id=account_id,
            symbol=symbol,
            side=Side.BUY,
            order_type=OrderType.MARKET,
            quantity=Decimal(quantity),
        )
    )


def test_an_auto_invest_pass_executes_once_and_the_paper_broker_fills(memory: Services) -> None:
    client_id, account_id = funded(memory)
    rule = memory.rules.create(
        RuleSpec(
            client_id=client_id,
            account_id=account_id,
            name="Monthly",
            amount=Decimal("500.00"),
            allocations=(
                Allocation(symbol="VTI", weight=Decimal(60)),
                Allocation(symbol="BND", weight=Decimal(40)),
            ),
            frequency=Frequency.MONTHLY,
            start_date=START,
        )
    ).rule

    first = memory.auto_invest.run_due(START, triggered_by="scheduler")
    second = memory.auto_invest.run_due(START, triggered_by="scheduler")

    [executed] = first.results
    assert executed.status is OutcomeStatus.SUCCESS and len(executed.order_ids) == 2
    assert second.results == []
    orders = [memory.orders.get(i) for i in executed.order_ids]
    assert {o.order.status for o in orders} == {OrderStatus.FILLED}
    view = memory.platform.account(account_id)
    assert view.account.cash == Decimal("9500.00")
    assert {p.symbol: p.quantity for p, _ in view.positions} == {
        "BND": Decimal("4.000000"),
        "VTI": Decimal("3.000000"),
    }
    assert memory.rules.get(rule.id).rule.execution_count == 1


def test_a_drifted_account_is_rebalanced_and_a_proposal_waits_for_approval(
    memory: Services,
) -> None:
    client_id, account_id = funded(memory)
    buy(memory, account_id, "VTI", "80")  # 8,000 of 10,000: 80/0 against 50/50
    spec = RebalancingSpec(
        client_id=client_id,
        account_id=account_id,
        name="50/50",
        targets=(
            Target(symbol="VTI", weight=Decimal(50)),
            Target(symbol="BND", weight=Decimal(50)),
        ),
        trigger_mode=TriggerMode.DRIFT,
        drift_threshold=Decimal("5"),
        require_confirmation=True,
    )
    rule = memory.rebalancing_rules.create(spec).rule

    result = memory.rebalancing.run_due(START, triggered_by="scheduler")

    assert result.counts[OutcomeStatus.PENDING_APPROVAL] == 1
    [waiting], _ = memory.proposals.search(rule_id=rule.id, status=None, page=1, page_size=10)
    approved = memory.proposals.approve(waiting.id, START)
    assert approved.order_ids
    assert memory.rebalancing_rules.drift(rule.id).drift == Decimal("0.00")


def test_a_stop_loss_fires_once_on_the_price_that_crosses_it(memory: Services) -> None:
    client_id, account_id = funded(memory)
    buy(memory, account_id, "VTI", "10")
    [stop] = memory.trigger_orders.create(
        [
            TriggerSpec(
                client_id=client_id,
                account_id=account_id,
                symbol="VTI",
                condition=ConditionSpec(type="priceBelow", level=Decimal("95")),
                order=OrderTemplate(side=Side.SELL, sell_all=True),
            )
        ]
    )

    memory.platform.record_prices([PriceTick(symbol="VTI", price=Decimal("94.50"))])
    memory.platform.record_prices([PriceTick(symbol="VTI", price=Decimal("90.00"))])

    fired = memory.trigger_orders.get(stop.trigger.id)
    assert fired.trigger.status is TriggerStatus.TRIGGERED and fired.order_id is not None
    assert memory.orders.get(fired.order_id).order.status is OrderStatus.FILLED
    logs, total = memory.logs.search(LogFilter(automation_id=stop.trigger.id), page=1, page_size=9)
    assert total == 1 and logs[0].entry.status is OutcomeStatus.SUCCESS


def test_a_rule_that_keeps_failing_is_given_up_and_moves_on(
    memory: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from autopilot.services.auto_invest import execution

    client_id, account_id = funded(memory)
    rule = memory.rules.create(
        RuleSpec(
            client_id=client_id,
            account_id=account_id,
            name="Daily",
            amount=Decimal("10.00"),
            allocations=(Allocation(symbol="VTI", weight=Decimal(100)),),
            frequency=Frequency.DAILY,
            start_date=START,
        )
    ).rule

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("quote feed exploded")

    monkeypatch.setattr(execution, "execute_auto_invest", broken)
    statuses = [
        [r.status for r in memory.auto_invest.run_due(START, triggered_by="scheduler").results]
        for _ in range(3)
    ]

    assert statuses == [
        [OutcomeStatus.FAILED],
        [OutcomeStatus.FAILED],
        [OutcomeStatus.FAILED, OutcomeStatus.SKIPPED],
    ]
    moved = memory.rules.get(rule.id).rule
    assert moved.next_execution_date is not None and moved.next_execution_date > START
    logs, _ = memory.logs.search(LogFilter(automation_id=rule.id), page=1, page_size=9)
    assert [r.entry.attempt for r in reversed(logs)] == [1, 2, 3, 3]
