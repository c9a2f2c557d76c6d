"""Executing auto-invest rules through the services, on SQLite and PostgreSQL (DESIGN §5)."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from autopilot.bootstrap import Services
from autopilot.domain.auto_invest.execution import Execution
from autopilot.domain.auto_invest.rule import AutoInvestRule
from autopilot.domain.errors import Conflict, NotFound
from autopilot.domain.orders import OrderStatus
from autopilot.domain.outcomes import AutomationType, OutcomeStatus
from autopilot.domain.schedule import Frequency
from autopilot.engine.scheduler import Scheduler
from autopilot.services.auto_invest import execution as auto_invest_execution
from autopilot.services.platform import PriceTick
from autopilot.services.ports import RefusedByDatabase
from autopilot.services.records import LogEntry, OrderRecord
from tests.support.logs import action_of
from tests.support.services import (
    OPENING_CASH,
    PRICES,
    START,
    Investor,
    MakeServices,
    SettableClock,
    count_rows,
    failed_attempts,
    logs_of,
    open_funded_account,
    refuse_orders_for,
    spec,
)

WEEKLY_MONDAYS = {"frequency": Frequency.WEEKLY, "day_of_week": 0}


def orders_of(services: Services, order_ids: tuple[str, ...]) -> list[OrderRecord]:
    return [services.orders.get(order_id) for order_id in order_ids]


def cash_of(services: Services, investor: Investor) -> Decimal:
    return services.platform.account(investor.account_id).account.cash


def holdings_of(services: Services, investor: Investor) -> dict[str, tuple[Decimal, Decimal]]:
    view = services.platform.account(investor.account_id)
    return {p.symbol: (p.quantity, p.cost_basis) for p, _ in view.positions}


def rule_of(services: Services, rule_id: str) -> AutoInvestRule:
    return services.rules.get(rule_id).rule


# --- a due rule executes ------------------------------------------------------------------------


def test_due_rule_buys_fractional_shares_and_moves_to_the_next_trading_day(
    services: Services, investor: Investor, clock: SettableClock
) -> None:
    clock.on(date(2026, 12, 31))
    rule_id = services.rules.create(
        spec(
            investor,
            weights={"AAA": "50", "CCC": "50"},
            start_date=date(2026, 12, 1),
            day_of_month=31,
        )
    ).rule.id
    assert rule_of(services, rule_id).next_execution_date == date(2026, 12, 31)

    result = services.auto_invest.run_due(date(2026, 12, 31), triggered_by="scheduler")

    [outcome] = result.results
    assert (outcome.rule_id, outcome.status, outcome.occurrence) == (
        rule_id,
        "Success",
        date(2026, 12, 31),
    )
    orders = {o.order.symbol: o for o in orders_of(services, outcome.order_ids)}
    assert set(orders) == {"AAA", "CCC"}
    for record in orders.values():
        assert record.order.status is OrderStatus.FILLED
        assert record.order.notional == Decimal("50.00")
        assert record.filled_amount == Decimal("50.00")
        assert (record.automation_type, record.automation_id) == ("AutoInvest", rule_id)
    assert orders["AAA"].filled_quantity == Decimal("0.500000")
    assert orders["CCC"].filled_quantity == Decimal("7.142857")  # 50 / 7 floored to 6 places
    assert orders["CCC"].filled_price == Decimal("7.00")
    assert cash_of(services, investor) == OPENING_CASH - Decimal("100.00")
    assert holdings_of(services, investor) == {
        "AAA": (Decimal("0.500000"), Decimal("50.00")),
        "CCC": (Decimal("7.142857"), Decimal("50.00")),
    }
    rule = rule_of(services, rule_id)
    assert rule.execution_count == 1
    assert rule.total_invested == Decimal("100.00")
    # 2027-01-31 is a Sunday: the occurrence follows to Monday 2027-02-01.
    assert rule.next_execution_date == date(2027, 2, 1)
    [entry] = [r.entry for r in logs_of(services, rule_id)]
    assert entry.status == "Success"
    assert entry.execution_date == date(2026, 12, 31)
    assert set(entry.order_ids) == set(outcome.order_ids)
    assert entry.triggered_by == "scheduler"
    assert entry.error is None


def test_legs_are_split_to_the_cent_and_sum_exactly_to_the_amount(
    services: Services, investor: Investor
) -> None:
    rule_id = services.rules.create(
        spec(investor, amount="10.00", weights={"AAA": "33.33", "BBB": "33.33", "CCC": "33.34"})
    ).rule.id

    [outcome] = services.auto_invest.run_due(START, triggered_by="scheduler").results

    notionals = {o.order.symbol: o.order.notional for o in orders_of(services, outcome.order_ids)}
    assert notionals == {"AAA": Decimal("3.33"), "BBB": Decimal("3.33"), "CCC": Decimal("3.34")}
    assert sum(notionals.values(), Decimal("0.00")) == Decimal("10.00")
    assert cash_of(services, investor) == OPENING_CASH - Decimal("10.00")
    assert rule_of(services, rule_id).total_invested == Decimal("10.00")


def test_leg_below_the_minimum_order_amount_is_skipped_and_named(
    services: Services, investor: Investor
) -> None:
    rule_id = services.rules.create(spec(investor, weights={"AAA": "99.5", "BBB": "0.5"})).rule.id

    [outcome] = services.auto_invest.run_due(START, triggered_by="scheduler").results

    assert outcome.status == "Success"
    [order] = orders_of(services, outcome.order_ids)
    assert (order.order.symbol, order.order.notional) == ("AAA", Decimal("99.50"))
    [entry] = [r.entry for r in logs_of(services, rule_id)]
    assert "BBB" in entry.message
    assert entry.details is not None
    [skipped] = entry.details["skippedLegs"]
    assert skipped["symbol"] == "BBB"
    assert Decimal(skipped["amount"]) == Decimal("0.50")
    assert "minimum order amount" in skipped["reason"]
    assert cash_of(services, investor) == OPENING_CASH - Decimal("99.50")
    assert rule_of(services, rule_id).total_invested == Decimal("99.50")


def test_non_fractionable_leg_smaller_than_one_share_is_skipped(
    services: Services, investor: Investor
) -> None:
    services.platform.set_security("AAA", tradable=True, fractionable=False)  # 100.00 a share
    rule_id = services.rules.create(spec(investor, weights={"AAA": "50", "CCC": "50"})).rule.id

    [outcome] = services.auto_invest.run_due(START, triggered_by="scheduler").results

    assert outcome.status == "Success"
    assert [o.order.symbol for o in orders_of(services, outcome.order_ids)] == ["CCC"]
    [entry] = [r.entry for r in logs_of(services, rule_id)]
    assert entry.details is not None
    [skipped] = entry.details["skippedLegs"]
    assert skipped["symbol"] == "AAA"
    assert "whole share" in skipped["reason"]
    assert "AAA" in entry.message
    assert "AAA" not in holdings_of(services, investor)


def test_non_fractionable_leg_buys_whole_shares_and_refunds_the_rest(
    services: Services, investor: Investor
) -> None:
    services.platform.set_security("BBB", tradable=True, fractionable=False)  # 30.00 a share
    services.rules.create(spec(investor, weights={"BBB": "100"}))

    [outcome] = services.auto_invest.run_due(START, triggered_by="scheduler").results

    [order] = orders_of(services, outcome.order_ids)
    assert order.order.status is OrderStatus.FILLED
    assert order.filled_quantity == Decimal("3.000000")
    assert order.filled_amount == Decimal("90.00")
    assert cash_of(services, investor) == OPENING_CASH - Decimal("90.00")
    assert holdings_of(services, investor) == {"BBB": (Decimal("3.000000"), Decimal("90.00"))}


def test_untradable_leg_is_skipped(services: Services, investor: Investor) -> None:
    services.platform.set_security("BBB", tradable=False, fractionable=True)
    rule_id = services.rules.create(spec(investor, weights={"AAA": "60", "BBB": "40"})).rule.id

    [outcome] = services.auto_invest.run_due(START, triggered_by="scheduler").results

    assert [o.order.symbol for o in orders_of(services, outcome.order_ids)] == ["AAA"]
    [entry] = [r.entry for r in logs_of(services, rule_id)]
    assert entry.details is not None
    assert entry.details["skippedLegs"] == [
        {"symbol": "BBB", "amount": "40.00", "reason": "not tradable"}
    ]
    assert cash_of(services, investor) == OPENING_CASH - Decimal("60.00")


def test_insufficient_cash_skips_the_occurrence_and_moves_the_rule_on(
    services: Services, investor: Investor
) -> None:
    poor = open_funded_account(services, cash=Decimal("50.00"))
    rule_id = services.rules.create(spec(poor, **WEEKLY_MONDAYS)).rule.id

    [outcome] = services.auto_invest.run_due(START, triggered_by="scheduler").results

    assert outcome.status == "Skipped"
    assert outcome.order_ids == ()
    assert "insufficient cash" in outcome.message
    assert "100.00" in outcome.message and "50.00" in outcome.message
    assert count_rows(services, "orders") == 0
    assert cash_of(services, poor) == Decimal("50.00")
    rule = rule_of(services, rule_id)
    assert rule.next_execution_date == START + timedelta(weeks=1)
    assert (rule.execution_count, rule.total_invested) == (0, Decimal("0.00"))
    [entry] = [r.entry for r in logs_of(services, rule_id)]
    assert (entry.status, entry.execution_date) == ("Skipped", START)
    assert "insufficient cash" in entry.message


def test_rules_sharing_an_account_in_one_pass_never_spend_more_than_its_cash(
    services: Services, investor: Investor
) -> None:
    shared = open_funded_account(services, cash=Decimal("150.00"))
    first = services.rules.create(spec(shared)).rule.id
    second = services.rules.create(spec(shared)).rule.id

    result = services.auto_invest.run_due(START, triggered_by="scheduler")

    statuses = sorted(r.status for r in result.results if r.rule_id in (first, second))
    assert statuses == ["Skipped", "Success"]
    [skipped] = result.of("Skipped")
    assert "insufficient cash" in skipped.message and "50.00" in skipped.message
    assert cash_of(services, shared) == Decimal("50.00")
    assert count_rows(services, "orders") == 1


# --- completion -----------------------------------------------------------------------------------


def test_max_total_amount_makes_the_last_execution_partial_then_completes(
    services: Services, investor: Investor
) -> None:
    rule_id = services.rules.create(
        spec(investor, frequency=Frequency.DAILY, max_total_amount=Decimal("250.00"))
    ).rule.id
    days = [date(2026, 6, 1), date(2026, 6, 2), date(2026, 6, 3)]

    invested = []
    for day in days:
        [outcome] = services.auto_invest.run_due(day, triggered_by="scheduler").results
        orders = orders_of(services, outcome.order_ids)
        invested.append(sum((o.filled_amount or Decimal(0) for o in orders), Decimal("0.00")))

    assert invested == [Decimal("100.00"), Decimal("100.00"), Decimal("50.00")]
    rule = rule_of(services, rule_id)
    assert rule.status.value == "Completed"
    assert rule.next_execution_date is None
    assert (rule.execution_count, rule.total_invested) == (3, Decimal("250.00"))
    assert cash_of(services, investor) == OPENING_CASH - Decimal("250.00")
    assert services.auto_invest.run_due(date(2026, 6, 4), triggered_by="scheduler").results == []


def test_rule_completes_when_its_next_occurrence_is_past_the_end_date(
    services: Services, investor: Investor
) -> None:
    rule_id = services.rules.create(
        spec(investor, end_date=date(2026, 6, 10), **WEEKLY_MONDAYS)
    ).rule.id

    services.auto_invest.run_due(date(2026, 6, 1), triggered_by="scheduler")
    assert rule_of(services, rule_id).next_execution_date == date(2026, 6, 8)
    services.auto_invest.run_due(date(2026, 6, 8), triggered_by="scheduler")

    rule = rule_of(services, rule_id)
    assert rule.status.value == "Completed"
    assert rule.next_execution_date is None
    assert rule.execution_count == 2
    assert [r.entry.status for r in logs_of(services, rule_id)] == ["Success", "Success"]


# --- catch-up -------------------------------------------------------------------------------------

MISSED = [date(2026, 6, 1), date(2026, 6, 8), date(2026, 6, 15), date(2026, 6, 22)]
CATCH_UP_TODAY = date(2026, 6, 24)  # a Wednesday: four Mondays were missed


def _missed_rule(make_services: MakeServices, policy: str) -> tuple[Services, str]:
    services = make_services(automation_catch_up=policy)
    services.platform.record_prices([PriceTick(symbol=s, price=p) for s, p in PRICES.items()])
    investor = open_funded_account(services)
    rule_id = services.rules.create(spec(investor, **WEEKLY_MONDAYS)).rule.id
    assert rule_of(services, rule_id).next_execution_date == MISSED[0]
    return services, rule_id


def _statuses_by_date(services: Services, rule_id: str) -> dict[date, list[str]]:
    found: dict[date, list[str]] = {}
    for record in logs_of(services, rule_id):
        found.setdefault(record.entry.execution_date, []).append(record.entry.status)
    return found


def test_catch_up_coalesce_executes_the_latest_missed_occurrence_once(
    make_services: MakeServices,
) -> None:
    services, rule_id = _missed_rule(make_services, "coalesce")

    result = services.auto_invest.run_due(CATCH_UP_TODAY, triggered_by="scheduler")

    assert [r.status for r in result.of("Success")] == ["Success"]
    assert _statuses_by_date(services, rule_id) == {
        date(2026, 6, 1): ["Skipped"],
        date(2026, 6, 8): ["Skipped"],
        date(2026, 6, 15): ["Skipped"],
        date(2026, 6, 22): ["Success"],
    }
    skipped = [r.entry for r in logs_of(services, rule_id) if r.entry.status == "Skipped"]
    assert all("coalesce" in e.message for e in skipped)
    rule = rule_of(services, rule_id)
    assert rule.next_execution_date == date(2026, 6, 29)
    assert (rule.execution_count, rule.total_invested) == (1, Decimal("100.00"))


def test_catch_up_all_executes_each_missed_occurrence_in_order(
    make_services: MakeServices,
) -> None:
    services, rule_id = _missed_rule(make_services, "all")

    result = services.auto_invest.run_due(CATCH_UP_TODAY, triggered_by="scheduler")

    assert [r.occurrence for r in result.of("Success")] == MISSED
    assert _statuses_by_date(services, rule_id) == {d: ["Success"] for d in MISSED}
    rule = rule_of(services, rule_id)
    assert rule.next_execution_date == date(2026, 6, 29)
    assert (rule.execution_count, rule.total_invested) == (4, Decimal("400.00"))
    assert count_rows(services, "orders") == 4


def test_catch_up_skip_executes_none_of_the_missed_occurrences(
    make_services: MakeServices,
) -> None:
    services, rule_id = _missed_rule(make_services, "skip")

    result = services.auto_invest.run_due(CATCH_UP_TODAY, triggered_by="scheduler")

    assert result.of("Success") == []
    assert _statuses_by_date(services, rule_id) == {d: ["Skipped"] for d in MISSED}
    assert all("skip" in r.entry.message for r in logs_of(services, rule_id))
    rule = rule_of(services, rule_id)
    assert rule.next_execution_date == date(2026, 6, 29)
    assert rule.execution_count == 0
    assert count_rows(services, "orders") == 0


# --- failures ---------------------------------------------------------------------------------


def _failing_for(monkeypatch: pytest.MonkeyPatch, rule_id: str, failing: list[bool]) -> None:
    """Make the domain function raise for `rule_id` while `failing[0]` is true."""
    real = auto_invest_execution.execute_auto_invest

    def flaky(rule: AutoInvestRule, **kwargs: Any) -> Execution:
        if rule.id == rule_id and failing[0]:
            raise RuntimeError("quote feed exploded")
        return real(rule, **kwargs)

    monkeypatch.setattr(auto_invest_execution, "execute_auto_invest", flaky)


def test_error_in_one_rule_fails_it_while_the_others_execute_and_the_next_pass_retries(
    services: Services, investor: Investor, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = services.rules.create(spec(investor, **WEEKLY_MONDAYS)).rule.id
    healthy = services.rules.create(spec(investor, **WEEKLY_MONDAYS)).rule.id
    failing = [True]
    _failing_for(monkeypatch, broken, failing)

    first = services.auto_invest.run_due(START, triggered_by="scheduler")

    assert {(r.rule_id, r.status) for r in first.results} == {
        (broken, "Failed"),
        (healthy, "Success"),
    }
    [failed] = [r.entry for r in logs_of(services, broken)]
    assert failed.status == "Failed"
    assert failed.error is not None and "quote feed exploded" in failed.error
    assert failed.attempt == 1
    rule = rule_of(services, broken)
    assert rule.status.value == "Active"
    assert rule.next_execution_date == START
    assert rule.execution_count == 0
    assert rule_of(services, healthy).next_execution_date == date(2026, 6, 8)

    failing[0] = False
    second = services.auto_invest.run_due(START, triggered_by="scheduler")

    assert [(r.rule_id, r.status) for r in second.results] == [(broken, "Success")]
    assert [r.entry.status for r in logs_of(services, broken)] == ["Failed", "Success"]
    rule = rule_of(services, broken)
    assert rule.next_execution_date == date(2026, 6, 8)
    assert (rule.execution_count, failed_attempts(services, broken)) == (1, 0)


def test_an_error_in_a_rule_is_logged_once_with_its_traceback_and_the_others_go_on(
    services: Services,
    investor: Investor,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = services.rules.create(spec(investor, **WEEKLY_MONDAYS)).rule.id
    healthy = services.rules.create(spec(investor, **WEEKLY_MONDAYS)).rule.id
    _failing_for(monkeypatch, broken, [True])
    caplog.set_level(logging.INFO, logger="autopilot.scheduler")

    services.auto_invest.run_due(START, triggered_by="scheduler")

    failed = [r for r in caplog.records if action_of(r) == "execution.failed"]
    assert [getattr(r, "rule_id", None) for r in failed] == [broken]
    [record] = failed
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    # The guide's failure line, with the rule and the reason (DESIGN §7).
    assert record.getMessage() == (
        f"[Automation Scheduler] Auto-invest rule {broken} failed: "
        "RuntimeError: quote feed exploded"
    )
    succeeded = [r for r in caplog.records if action_of(r) == "execution.succeeded"]
    assert [getattr(r, "rule_id", None) for r in succeeded] == [healthy]


def test_rule_that_keeps_failing_is_given_up_after_max_attempts_and_moves_on(
    services: Services, investor: Investor, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = services.rules.create(spec(investor, **WEEKLY_MONDAYS)).rule.id
    _failing_for(monkeypatch, broken, [True])

    for attempt in (1, 2):
        [result] = services.auto_invest.run_due(START, triggered_by="scheduler").results
        assert result.status == "Failed"
        assert failed_attempts(services, broken) == attempt
        assert rule_of(services, broken).next_execution_date == START
    last = services.auto_invest.run_due(START, triggered_by="scheduler").results

    assert [r.status for r in last] == ["Failed", "Skipped"]
    entries = [r.entry for r in logs_of(services, broken)]
    assert [(e.status, e.attempt) for e in entries[:3]] == [
        ("Failed", 1),
        ("Failed", 2),
        ("Failed", 3),
    ]
    gave_up = entries[3]
    assert (gave_up.status, gave_up.execution_date) == ("Skipped", START)
    assert "gave up" in gave_up.message
    rule = rule_of(services, broken)
    assert rule.status.value == "Active"
    assert rule.next_execution_date == date(2026, 6, 8)
    assert failed_attempts(services, broken) == 0
    assert count_rows(services, "orders") == 0
    assert services.auto_invest.run_due(START, triggered_by="scheduler").results == []


def test_a_rule_the_database_refuses_fails_alone_and_is_given_up_while_the_pass_goes_on(
    services: Services, investor: Investor
) -> None:
    refused = services.rules.create(spec(investor, weights={"BBB": "100"})).rule.id
    healthy = services.rules.create(spec(investor, weights={"AAA": "100"})).rule.id
    refuse_orders_for(services, "BBB")
    scheduler = Scheduler(services)

    reports = [scheduler.run_pass() for _ in range(3)]

    assert [r.error for r in reports] == [None, None, None]
    assert [r.entry.status for r in logs_of(services, healthy)] == ["Success"]
    entries = [r.entry for r in logs_of(services, refused)]
    assert [(e.status, e.attempt) for e in entries] == [
        ("Failed", 1),
        ("Failed", 2),
        ("Failed", 3),
        ("Skipped", 3),
    ]
    assert all("refused by audit" in (e.error or e.message) for e in entries)
    assert rule_of(services, refused).next_execution_date == date(2026, 7, 1)
    assert cash_of(services, investor) == OPENING_CASH - Decimal("100.00")


# --- manual execution -------------------------------------------------------------------------


def test_manual_execution_runs_the_next_occurrence_now_and_the_schedule_moves_past_it(
    services: Services, investor: Investor, clock: SettableClock
) -> None:
    clock.on(date(2026, 6, 2))
    rule_id = services.rules.create(spec(investor, **WEEKLY_MONDAYS)).rule.id
    assert rule_of(services, rule_id).next_execution_date == date(2026, 6, 8)

    [first] = services.auto_invest.run_one(rule_id, date(2026, 6, 2), triggered_by="tester").results
    [second] = services.auto_invest.run_one(
        rule_id, date(2026, 6, 2), triggered_by="tester"
    ).results

    assert (first.status, first.occurrence) == ("Success", date(2026, 6, 8))
    assert (second.status, second.occurrence) == ("Success", date(2026, 6, 15))
    rule = rule_of(services, rule_id)
    assert rule.next_execution_date == date(2026, 6, 22)
    assert (rule.execution_count, rule.total_invested) == (2, Decimal("200.00"))
    assert [(r.entry.execution_date, r.entry.triggered_by) for r in logs_of(services, rule_id)] == [
        (date(2026, 6, 8), "tester"),
        (date(2026, 6, 15), "tester"),
    ]
    assert cash_of(services, investor) == OPENING_CASH - Decimal("200.00")
    # The scheduler does not execute the manually executed occurrences again.
    assert services.auto_invest.run_due(date(2026, 6, 15), triggered_by="scheduler").results == []


def test_manual_execution_of_a_paused_rule_is_a_conflict(
    services: Services, investor: Investor
) -> None:
    rule_id = services.rules.create(spec(investor)).rule.id
    services.rules.pause(rule_id)

    with pytest.raises(Conflict):
        services.auto_invest.run_one(rule_id, START, triggered_by="tester")
    assert logs_of(services, rule_id) == []


def test_manual_execution_of_an_unknown_rule_is_not_found(services: Services) -> None:
    with pytest.raises(NotFound):
        services.auto_invest.run_one("AUTO-20260601-000000000000000", START, triggered_by="tester")


# --- exactly once -----------------------------------------------------------------------------


def test_second_pass_on_the_same_day_executes_nothing(
    services: Services, investor: Investor
) -> None:
    rule_id = services.rules.create(spec(investor, **WEEKLY_MONDAYS)).rule.id

    first = services.auto_invest.run_due(START, triggered_by="scheduler")
    second = services.auto_invest.run_due(START, triggered_by="scheduler")

    assert len(first.of("Success")) == 1
    assert second.results == []
    assert count_rows(services, "orders") == 1
    assert len(logs_of(services, rule_id)) == 1
    assert cash_of(services, investor) == OPENING_CASH - Decimal("100.00")


def test_a_second_outcome_for_the_same_occurrence_violates_the_unique_key(
    services: Services, investor: Investor, clock: SettableClock
) -> None:
    rule = services.rules.create(spec(investor)).rule
    services.auto_invest.run_due(START, triggered_by="scheduler")
    now = clock.now()
    duplicate = LogEntry(
        automation_type=AutomationType.AUTO_INVEST,
        automation_id=rule.id,
        client_id=rule.client_id,
        execution_date=START,
        status=OutcomeStatus.SUCCESS,
        message="a second execution of the same occurrence",
        triggered_by="worker-2",
        attempt=1,
        started_at=now,
        finished_at=now,
    )

    with (
        pytest.raises(RefusedByDatabase, match=r"uq_automation_execution_logs_outcome|UNIQUE"),
        services.uow() as uow,
    ):
        uow.logs.add_many([duplicate], now)
    assert len(logs_of(services, rule.id)) == 1


def test_rule_whose_occurrence_already_has_an_outcome_does_not_poison_later_passes(
    services: Services, investor: Investor, clock: SettableClock
) -> None:
    # Inconsistent state (restored backup, manual fix): the outcome of the rule's next
    # occurrence is logged, yet the rule still points at it.
    rule = services.rules.create(spec(investor, **WEEKLY_MONDAYS)).rule
    now = clock.now()
    done = LogEntry(
        automation_type=AutomationType.AUTO_INVEST,
        automation_id=rule.id,
        client_id=rule.client_id,
        execution_date=START,
        status=OutcomeStatus.SUCCESS,
        message="executed by a worker whose rule update was lost",
        triggered_by="worker-1",
        attempt=1,
        started_at=now,
        finished_at=now,
    )
    with services.uow() as uow:
        uow.logs.add_many([done], now)

    for _ in range(4):  # more passes than AUTOMATION_MAX_ATTEMPTS
        services.auto_invest.run_due(START, triggered_by="scheduler")

    next_date = rule_of(services, rule.id).next_execution_date
    assert next_date is not None and next_date > START
