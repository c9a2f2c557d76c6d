"""Rebalancing through the services, on SQLite and PostgreSQL: rules, drift, preview, execution
by the scheduler pass and on demand, proposals and their expiry."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from autopilot.bootstrap import Services
from autopilot.domain.errors import Conflict, InvalidInput
from autopilot.domain.orders import OrderType, Side
from autopilot.domain.outcomes import OutcomeStatus
from autopilot.domain.rebalancing.drift import Target
from autopilot.domain.rebalancing.rule import ProposalStatus, TriggerMode
from autopilot.domain.schedule import Frequency
from autopilot.engine.scheduler import Scheduler
from autopilot.services.orders import PlaceOrder
from autopilot.services.platform import PriceTick
from autopilot.services.rebalancing.rules import RebalancingSpec
from autopilot.services.records import Balance
from autopilot.storage.db import make_engine
from autopilot.storage.migrate import upgrade
from autopilot.storage.tables import metadata
from tests.support.services import (
    START,
    Investor,
    SettableClock,
    logs_of,
    open_funded_account,
    refuse_orders_for,
)

PRICES = {"VTI": Decimal("100.00"), "BND": Decimal("50.00"), "VXUS": Decimal("25.00")}
TARGETS = {"VTI": "60", "BND": "30", "VXUS": "10"}


@pytest.fixture
def drifted(services: Services) -> Investor:
    """10,000.00 invested 70 / 25 / 5 (targets 60 / 30 / 10): drift 10 pp, no cash left."""
    services.platform.record_prices([PriceTick(symbol=s, price=p) for s, p in PRICES.items()])
    who = open_funded_account(services, Decimal("10000.00"))
    for symbol, quantity in (("VTI", "70"), ("BND", "50"), ("VXUS", "20")):
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


def rebalancing(who: Investor, **fields: Any) -> RebalancingSpec:
    values: dict[str, Any] = {
        "client_id": who.client_id,
        "account_id": who.account_id,
        "name": "Model 60/30/10",
        "targets": tuple(Target(symbol=s, weight=Decimal(w)) for s, w in TARGETS.items()),
        "trigger_mode": TriggerMode.DRIFT,
        "drift_threshold": Decimal("5"),
    }
    values.update(fields)
    return RebalancingSpec(**values)


def quantities(services: Services, who: Investor) -> dict[str, Decimal]:
    view = services.platform.account(who.account_id)
    return {p.symbol: p.quantity for p, _ in view.positions}


def test_migrations_create_the_tables_exactly_as_declared(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        assert {"rebalancing_rules", "rebalancing_proposals"} <= set(
            inspect(engine).get_table_names()
        )
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": False})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_drift_and_preview_show_the_account_against_its_targets(
    services: Services, drifted: Investor
) -> None:
    rule = services.rebalancing_rules.create(rebalancing(drifted)).rule
    assert rule.id.startswith("REBAL-")
    drift = services.rebalancing_rules.drift(rule.id)
    assert drift.total_value == Decimal("10000.00")
    assert drift.drift == Decimal("10.00")
    assert [(h.symbol, h.weight, h.drift) for h in drift.holdings][:3] == [
        ("VTI", Decimal("70.00"), Decimal("10.00")),
        ("BND", Decimal("25.00"), Decimal("-5.00")),
        ("VXUS", Decimal("5.00"), Decimal("-5.00")),
    ]
    plan = services.rebalancing_rules.preview(rule.id)
    assert [(t.symbol, t.side, t.quantity) for t in plan.trades] == [
        ("VTI", Side.SELL, Decimal("10.000000")),
        ("BND", Side.BUY, Decimal("10.000000")),
        ("VXUS", Side.BUY, Decimal("20.000000")),
    ]


def test_a_pass_rebalances_a_drifted_account_once_a_day(
    services: Services, drifted: Investor, clock: SettableClock
) -> None:
    rule = services.rebalancing_rules.create(rebalancing(drifted)).rule
    report = Scheduler(services).run_pass()
    assert report.result is not None and report.result.counts[OutcomeStatus.SUCCESS] == 1
    assert quantities(services, drifted) == {
        "BND": Decimal("60"),
        "VTI": Decimal("60"),
        "VXUS": Decimal("40"),
    }
    assert services.rebalancing_rules.drift(rule.id).drift == Decimal("0.00")
    (row,) = logs_of(services, rule.id)
    assert (row.entry.status, row.entry.execution_date) == ("Success", START)
    assert row.entry.automation_type == "Rebalancing"
    assert row.entry.details is not None and row.entry.details["driftBefore"] == "10.00"
    assert len(row.entry.order_ids) == 3
    # Drifted again the same day: no second rebalance for that date.
    services.platform.record_prices([PriceTick(symbol="VTI", price=Decimal("150.00"))])
    Scheduler(services).run_pass()
    assert len(logs_of(services, rule.id)) == 1
    clock.on(START + timedelta(days=1))
    Scheduler(services).run_pass()
    assert [r.entry.status for r in logs_of(services, rule.id)] == ["Success", "Success"]


def test_a_balanced_account_is_not_due_and_cooldown_holds_a_drifted_one(
    services: Services, drifted: Investor, clock: SettableClock
) -> None:
    rule = services.rebalancing_rules.create(rebalancing(drifted, cooldown_days=5)).rule
    services.rebalancing.run_due(START, triggered_by="test")
    services.platform.record_prices([PriceTick(symbol="VTI", price=Decimal("200.00"))])
    clock.on(START + timedelta(days=2))
    result = services.rebalancing.run_due(START + timedelta(days=2), triggered_by="test")
    assert result.counts[OutcomeStatus.SUCCESS] == 0
    assert len(logs_of(services, rule.id)) == 1


def test_a_scheduled_rule_checks_on_its_date_and_moves_to_the_next(
    services: Services, drifted: Investor
) -> None:
    spec = rebalancing(
        drifted,
        trigger_mode=TriggerMode.SCHEDULE,
        frequency=Frequency.QUARTERLY,
        day_of_month=1,
    )
    rule = services.rebalancing_rules.create(spec).rule
    assert rule.next_check_date == START
    services.rebalancing.run_due(START, triggered_by="test")
    after = services.rebalancing_rules.get(rule.id).rule
    assert after.next_check_date == date(2026, 9, 1)
    assert after.last_executed_at is not None


def test_confirmation_stores_a_proposal_and_approval_executes_it(
    services: Services, drifted: Investor, caplog: pytest.LogCaptureFixture
) -> None:
    rule = services.rebalancing_rules.create(rebalancing(drifted, require_confirmation=True)).rule
    result = services.rebalancing.run_due(START, triggered_by="test")
    assert result.of("PendingApproval")
    (proposal,), _ = services.proposals.search(rule_id=rule.id, status=None, page=1, page_size=10)
    assert proposal.status is ProposalStatus.PENDING_APPROVAL
    assert quantities(services, drifted)["VTI"] == Decimal("70")
    # No second plan while one waits.
    with pytest.raises(Conflict):
        services.rebalancing.run_one(rule.id, START, triggered_by="test")
    caplog.set_level(logging.INFO, logger="autopilot.scheduler")
    approved = services.proposals.approve(proposal.id, START)
    assert approved.status is ProposalStatus.APPROVED and len(approved.order_ids) == 3
    assert quantities(services, drifted)["VTI"] == Decimal("60")
    lines = [r.getMessage() for r in caplog.records if r.name == "autopilot.scheduler"]
    executing = f"[Automation Scheduler] Executing rebalancing rule: {rule.id}"
    done = (
        f"[Automation Scheduler] Rebalancing rule {rule.id} executed successfully. "
        f"Order ID: {', '.join(approved.order_ids)}"
    )
    assert lines.index(executing) < lines.index(done)
    # The pending row stays in the log as history; the approval is logged beside it.
    pending, row = logs_of(services, rule.id)
    assert pending.entry.status == "PendingApproval" and pending.entry.order_ids == ()
    assert row.entry.status == "Success" and row.entry.order_ids == approved.order_ids
    with pytest.raises(Conflict):
        services.proposals.approve(proposal.id, START)
    with pytest.raises(Conflict):
        services.proposals.reject(proposal.id)


def test_approval_replans_when_prices_moved_past_the_threshold(
    services: Services, drifted: Investor
) -> None:
    rule = services.rebalancing_rules.create(rebalancing(drifted, require_confirmation=True)).rule
    services.rebalancing.run_due(START, triggered_by="test")
    (proposal,), _ = services.proposals.search(rule_id=rule.id, status=None, page=1, page_size=10)
    services.platform.record_prices([PriceTick(symbol="VTI", price=Decimal("120.00"))])
    approved = services.proposals.approve(proposal.id, START)
    assert approved.trades != proposal.trades
    assert services.rebalancing_rules.drift(rule.id).drift < Decimal("1")


def test_a_proposal_past_its_expiry_expires_and_cannot_be_approved(
    services: Services, drifted: Investor, clock: SettableClock
) -> None:
    rule = services.rebalancing_rules.create(rebalancing(drifted, require_confirmation=True)).rule
    services.rebalancing.run_due(START, triggered_by="test")
    (proposal,), _ = services.proposals.search(rule_id=rule.id, status=None, page=1, page_size=10)
    clock.at = clock.at + timedelta(hours=73)
    with pytest.raises(Conflict):
        services.proposals.approve(proposal.id, START)
    assert services.proposals.get(proposal.id).status is ProposalStatus.EXPIRED
    assert [r.entry.status for r in logs_of(services, rule.id)] == ["PendingApproval", "Skipped"]


def test_a_rejected_proposal_places_nothing(services: Services, drifted: Investor) -> None:
    rule = services.rebalancing_rules.create(rebalancing(drifted, require_confirmation=True)).rule
    services.rebalancing.run_due(START, triggered_by="test")
    (proposal,), _ = services.proposals.search(rule_id=rule.id, status=None, page=1, page_size=10)
    assert services.proposals.reject(proposal.id).status is ProposalStatus.REJECTED
    assert quantities(services, drifted)["VTI"] == Decimal("70")
    assert [r.entry.status for r in logs_of(services, rule.id)] == ["PendingApproval", "Skipped"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"targets": (Target(symbol="VTI", weight=Decimal("90")),)}, "targets"),
        ({"targets": (Target(symbol="VTI", weight=Decimal("-10")),)}, "targets[0].weight"),
        (
            {
                "targets": (
                    Target(symbol="VTI", weight=Decimal("50")),
                    Target(symbol="VTI", weight=Decimal("50")),
                )
            },
            "targets[1].symbol",
        ),
        ({"drift_threshold": Decimal("0")}, "drift_threshold"),
        ({"drift_threshold": Decimal("100")}, "drift_threshold"),
        ({"targets": (Target(symbol="NOPE", weight=Decimal("100")),)}, "targets"),
        ({"trigger_mode": TriggerMode.SCHEDULE}, "frequency"),
        ({"client_id": 999}, "client_id"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(
    services: Services, drifted: Investor, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        services.rebalancing_rules.create(rebalancing(drifted, **fields))
    assert caught.value.field == field
    _, total = services.rebalancing_rules.search(
        client_id=None, account_id=None, status=None, page=1, page_size=10
    )
    assert total == 0


def test_an_account_of_another_client_is_refused(services: Services, drifted: Investor) -> None:
    other = open_funded_account(services, Decimal("0"))
    with pytest.raises(InvalidInput) as caught:
        services.rebalancing_rules.create(rebalancing(drifted, account_id=other.account_id))
    assert caught.value.field == "account_id"


def test_cash_may_stand_among_the_targets(services: Services, drifted: Investor) -> None:
    targets = (
        Target(symbol="VTI", weight=Decimal("60")),
        Target(symbol="BND", weight=Decimal("30")),
        Target(symbol="CASH", weight=Decimal("10")),
    )
    rule = services.rebalancing_rules.create(rebalancing(drifted, targets=targets)).rule
    lines = {h.symbol: h for h in services.rebalancing_rules.drift(rule.id).holdings}
    assert (lines["CASH"].target, lines["CASH"].drift) == (Decimal("10"), Decimal("-10.00"))
    assert (lines["VXUS"].target, lines["VXUS"].weight) == (Decimal("0"), Decimal("5.00"))


def test_pause_resume_and_cancel(services: Services, drifted: Investor) -> None:
    rule = services.rebalancing_rules.create(rebalancing(drifted)).rule
    assert services.rebalancing_rules.pause(rule.id).rule.status.value == "Paused"
    assert (
        services.rebalancing.run_due(START, triggered_by="test").counts[OutcomeStatus.SUCCESS] == 0
    )
    assert services.rebalancing_rules.resume(rule.id).rule.status.value == "Active"
    assert services.rebalancing_rules.cancel(rule.id).rule.status.value == "Cancelled"
    with pytest.raises(Conflict):
        services.rebalancing_rules.cancel(rule.id)


def test_cancelling_a_rule_withdraws_its_waiting_proposal(
    services: Services, drifted: Investor
) -> None:
    rule = services.rebalancing_rules.create(rebalancing(drifted, require_confirmation=True)).rule
    services.rebalancing.run_due(START, triggered_by="test")
    (proposal,), _ = services.proposals.search(rule_id=rule.id, status=None, page=1, page_size=10)
    services.rebalancing_rules.cancel(rule.id)
    assert services.proposals.get(proposal.id).status is ProposalStatus.REJECTED
    with pytest.raises(Conflict):
        services.proposals.approve(proposal.id, START)
    assert quantities(services, drifted)["VTI"] == Decimal("70")
    assert [r.entry.status for r in logs_of(services, rule.id)] == ["PendingApproval", "Skipped"]


def test_a_rule_whose_planning_fails_is_retried_then_given_up_for_the_day(
    services: Services, drifted: Investor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from autopilot.services.rebalancing import accounts as rebalancing_accounts

    def broken(self: object, *args: object) -> None:
        raise RuntimeError("prices feed returned garbage")

    rule = services.rebalancing_rules.create(rebalancing(drifted)).rule
    monkeypatch.setattr(rebalancing_accounts.AccountPicture, "drift_and_plan", broken)
    for _ in range(4):  # one pass more than AUTOMATION_MAX_ATTEMPTS (3)
        services.rebalancing.run_due(START, triggered_by="test")
    rows = [(r.entry.status, r.entry.attempt) for r in logs_of(services, rule.id)]
    assert rows == [("Failed", 1), ("Failed", 2), ("Failed", 3), ("Skipped", 3)]
    gave_up = logs_of(services, rule.id)[-1].entry
    assert "gave up after 3" in gave_up.message and "garbage" in gave_up.message
    assert quantities(services, drifted)["VTI"] == Decimal("70")  # nothing traded


def test_a_rebalance_the_database_refuses_is_a_failed_attempt_not_a_failed_pass(
    services: Services, drifted: Investor
) -> None:
    rule = services.rebalancing_rules.create(rebalancing(drifted)).rule
    refuse_orders_for(services, "VXUS")  # the rebalance buys VXUS
    scheduler = Scheduler(services)

    reports = [scheduler.run_pass() for _ in range(4)]

    assert [r.error for r in reports] == [None] * 4
    rows = [(r.entry.status, r.entry.attempt) for r in logs_of(services, rule.id)]
    assert rows == [("Failed", 1), ("Failed", 2), ("Failed", 3), ("Skipped", 3)]
    assert "refused by audit" in (logs_of(services, rule.id)[0].entry.error or "")
    assert quantities(services, drifted)["VTI"] == Decimal("70")  # all or nothing: no sell


def test_two_rules_on_one_account_never_rebalance_it_twice_from_the_same_picture(
    services: Services, drifted: Investor
) -> None:
    first = services.rebalancing_rules.create(rebalancing(drifted)).rule
    second = services.rebalancing_rules.create(rebalancing(drifted)).rule
    services.rebalancing.run_due(START, triggered_by="test")
    ran = [r for r in (first, second) if logs_of(services, r.id)]
    assert len(ran) == 1  # the other waits for the positions the first one's orders leave
    services.rebalancing.run_due(START, triggered_by="test")  # now balanced: nothing to do
    assert quantities(services, drifted)["VTI"] == Decimal("60")


def test_an_account_with_orders_in_flight_is_not_rebalanced_until_they_settle(
    services: Services, drifted: Investor
) -> None:
    rule = services.rebalancing_rules.create(rebalancing(drifted)).rule
    resting = PlaceOrder(
        account_id=drifted.account_id,
        symbol="VTI",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Decimal("1"),
        limit_price=Decimal("1.00"),
    )
    services.platform.deposit(drifted.account_id, Decimal("1.00"))
    order = services.orders.place(resting)  # rests Submitted, far under the market
    services.rebalancing.run_due(START, triggered_by="test")
    assert logs_of(services, rule.id) == []
    services.orders.cancel(order.order.id)
    services.rebalancing.run_due(START, triggered_by="test")
    assert [r.entry.status for r in logs_of(services, rule.id)] == ["Success"]


def test_drift_of_an_account_with_orders_in_flight_is_a_conflict_not_a_bad_input(
    services: Services, drifted: Investor, clock: SettableClock
) -> None:
    rule = services.rebalancing_rules.create(rebalancing(drifted)).rule
    with services.uow() as uow:  # as between a rebalance's commit and its fills: the buys
        # hold more than the cash, the sells' proceeds not in yet
        uow.accounts.set_balances(
            {drifted.account_id: Balance(Decimal("0.00"), Decimal("500.00"))}, clock.now()
        )
    with pytest.raises(Conflict, match="in flight"):
        services.rebalancing_rules.drift(rule.id)
    with pytest.raises(Conflict, match="in flight"):
        services.rebalancing_rules.preview(rule.id)
