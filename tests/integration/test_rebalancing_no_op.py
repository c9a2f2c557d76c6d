"""A rebalancing check that trades nothing does not use up its day (DESIGN §5 "Rebalancing").

The account sits at its targets (60/30/10 of 10,000.00, no cash); then VTI rises 50%, which puts
it at 69.23/23.08/7.69, a drift of 9.23 points against a threshold of 5. Whether the first
check came from a manual execution or from the scheduler, the later drift the same day
rebalances, on SQLite and on PostgreSQL, and the unique key still allows one rebalance a day.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from autopilot.bootstrap import Services
from autopilot.domain.errors import Conflict
from autopilot.domain.orders import OrderType, Side
from autopilot.domain.outcomes import OutcomeStatus
from autopilot.domain.rebalancing.drift import Target
from autopilot.domain.rebalancing.rule import TriggerMode
from autopilot.domain.schedule import Frequency
from autopilot.engine.scheduler import Scheduler
from autopilot.services.orders import PlaceOrder
from autopilot.services.platform import PriceTick
from autopilot.services.rebalancing.rules import RebalancingChanges, RebalancingSpec
from tests.support.services import START, Investor, SettableClock, logs_of, open_funded_account

PRICES = {"VTI": Decimal("100.00"), "BND": Decimal("50.00"), "VXUS": Decimal("25.00")}
AT_TARGETS = {"VTI": "60", "BND": "60", "VXUS": "40"}  # 6,000 / 3,000 / 1,000


@pytest.fixture
def balanced(services: Services) -> Investor:
    services.platform.record_prices([PriceTick(symbol=s, price=p) for s, p in PRICES.items()])
    who = open_funded_account(services, Decimal("10000.00"))
    for symbol, quantity in AT_TARGETS.items():
        services.orders.place(
            PlaceOrder(
                account_id=who.account_id,
                symbol=symbol,
                side=Side.BUY,
                order_type=OrderType.MARKET,
                quantity=Decimal(quantity),
            )
        )
    return who


def rule_for(services: Services, who: Investor, **fields: Any) -> str:
    values: dict[str, Any] = {
        "client_id": who.client_id,
        "account_id": who.account_id,
        "name": "Model 60/30/10",
        "targets": (
            Target(symbol="VTI", weight=Decimal(60)),
            Target(symbol="BND", weight=Decimal(30)),
            Target(symbol="VXUS", weight=Decimal(10)),
        ),
        "trigger_mode": TriggerMode.DRIFT,
        "drift_threshold": Decimal("5"),
    }
    values.update(fields)
    return services.rebalancing_rules.create(RebalancingSpec(**values)).rule.id


def vti_up_half(services: Services) -> None:
    services.platform.record_prices([PriceTick(symbol="VTI", price=Decimal("150.00"))])


def rows(services: Services, rule_id: str) -> list[tuple[str, bool, str]]:
    return [
        (r.entry.status.value, r.entry.no_op, r.entry.execution_date.isoformat())
        for r in logs_of(services, rule_id)
    ]


def test_a_manual_check_at_the_targets_then_a_drift_the_same_day_rebalances(
    services: Services, balanced: Investor
) -> None:
    rule_id = rule_for(services, balanced)

    first = services.rebalancing.run_one(rule_id, START, triggered_by="api")

    [checked] = first.results
    assert (checked.status, checked.message, checked.order_ids) == (
        OutcomeStatus.SKIPPED,
        "nothing to trade",
        (),
    )
    assert rows(services, rule_id) == [("Skipped", True, START.isoformat())]

    vti_up_half(services)
    assert services.rebalancing_rules.drift(rule_id).drift == Decimal("9.23")
    second = services.rebalancing.run_one(rule_id, START, triggered_by="api")

    [rebalanced] = second.results
    assert rebalanced.status is OutcomeStatus.SUCCESS and rebalanced.order_ids
    assert services.rebalancing_rules.drift(rule_id).drift == Decimal("0.00")
    assert rows(services, rule_id) == [
        ("Skipped", True, START.isoformat()),
        ("Success", False, START.isoformat()),
    ]
    # One rebalance a day still: a third execution of the day is refused, nothing written.
    vti_up_half(services)
    with pytest.raises(Conflict, match="already has an outcome"):
        services.rebalancing.run_one(rule_id, START, triggered_by="api")
    assert len(rows(services, rule_id)) == 2


def test_a_scheduled_check_at_the_targets_then_a_drift_the_same_day_rebalances(
    services: Services, balanced: Investor
) -> None:
    # Both modes: the monthly check falls today and finds the account at its targets.
    rule_id = rule_for(
        services,
        balanced,
        trigger_mode=TriggerMode.BOTH,
        frequency=Frequency.MONTHLY,
        day_of_month=START.day,
    )
    assert services.rebalancing_rules.get(rule_id).rule.next_check_date == START
    scheduler = Scheduler(services)

    report = scheduler.run_pass()

    assert report.result is not None
    assert report.result.counts[OutcomeStatus.SKIPPED] == 1
    assert rows(services, rule_id) == [("Skipped", True, START.isoformat())]
    assert services.rebalancing_rules.get(rule_id).rule.next_check_date == START.replace(month=7)

    vti_up_half(services)
    report = scheduler.run_pass()

    assert report.result is not None and report.result.counts[OutcomeStatus.SUCCESS] == 1
    assert services.rebalancing_rules.drift(rule_id).drift == Decimal("0.00")
    assert [status for status, _, _ in rows(services, rule_id)] == ["Skipped", "Success"]
    # The day's rebalance is done: a pass after another move places nothing more that day.
    vti_up_half(services)
    scheduler.run_pass()
    assert len(rows(services, rule_id)) == 2


def test_repeated_no_op_checks_of_a_day_keep_one_row_and_a_new_day_adds_one(
    services: Services, balanced: Investor, clock: SettableClock
) -> None:
    # Drifted, but every trade it would place is below the minimum: each pass checks, none
    # trades, and the log keeps one row for the day, the latest check's.
    vti_up_half(services)
    rule_id = rule_for(services, balanced, min_trade_amount=Decimal("5000.00"))
    scheduler = Scheduler(services)

    for _ in range(3):
        scheduler.run_pass()
        clock.at += timedelta(minutes=15)

    [row] = logs_of(services, rule_id)
    assert (row.entry.status, row.entry.no_op, row.entry.message) == (
        OutcomeStatus.SKIPPED,
        True,
        "nothing to trade",
    )
    assert row.entry.details is not None and row.entry.details["skipped"]
    assert row.entry.started_at == clock.at - timedelta(minutes=15)  # the third check's
    assert row.created_at < row.entry.started_at  # created by the first

    clock.on(START + timedelta(days=1))
    scheduler.run_pass()
    assert rows(services, rule_id) == [
        ("Skipped", True, START.isoformat()),
        ("Skipped", True, (START + timedelta(days=1)).isoformat()),
    ]
    # The minimum lowered the same day: the next pass rebalances.
    services.rebalancing_rules.update(rule_id, RebalancingChanges(min_trade_amount=Decimal("1.00")))
    scheduler.run_pass()
    assert logs_of(services, rule_id)[-1].entry.status is OutcomeStatus.SUCCESS
