"""Auto-invest executions as pure data: amounts, caps, skips, catch-up and the next date."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from autopilot.domain.auto_invest.execution import CatchUpPolicy, Execution, execute_auto_invest
from autopilot.domain.auto_invest.rule import Allocation, AutoInvestRule, RuleStatus
from autopilot.domain.calendar import WEEKENDS_ONLY
from autopilot.domain.quotes import Quote
from autopilot.domain.schedule import Frequency, Schedule, next_occurrence

QUOTES = {
    "VTI": Quote(symbol="VTI", price=Decimal("250.00")),
    "BND": Quote(symbol="BND", price=Decimal("72.50")),
    "BRK.A": Quote(symbol="BRK.A", price=Decimal("700000.00"), fractionable=False),
    "HALT": Quote(symbol="HALT", price=Decimal("10.00"), tradable=False),
}
MONDAY = date(2026, 11, 30)


def rule(**changes: object) -> AutoInvestRule:
    base: dict[str, object] = {
        "id": "AUTO-1",
        "client_id": 1,
        "account_id": 1,
        "name": "Monthly",
        "amount": Decimal("500.00"),
        "allocations": (
            Allocation(symbol="VTI", weight=Decimal(60)),
            Allocation(symbol="BND", weight=Decimal(40)),
        ),
        "schedule": Schedule(frequency=Frequency.DAILY, start_date=date(2026, 1, 1)),
        "next_execution_date": MONDAY,
    }
    base.update(changes)
    return AutoInvestRule(**base)  # type: ignore[arg-type]


def run(
    r: AutoInvestRule,
    *,
    today: date = MONDAY,
    cash: str = "10000.00",
    catch_up: CatchUpPolicy = "coalesce",
    force: bool = False,
) -> Execution:
    return execute_auto_invest(
        r,
        today=today,
        calendar=WEEKENDS_ONLY,
        cash=Decimal(cash),
        quotes=QUOTES,
        min_order_amount=Decimal("1.00"),
        catch_up=catch_up,
        force=force,
    )


def test_a_due_rule_buys_each_allocation_and_moves_to_the_next_trading_day() -> None:
    execution = run(rule())
    (outcome,) = execution.outcomes
    assert outcome.status == "Success"
    assert [(b.symbol, b.notional) for b in outcome.buys] == [
        ("VTI", Decimal("300.00")),
        ("BND", Decimal("200.00")),
    ]
    assert execution.cash_after == Decimal("9500.00")
    assert execution.rule.next_execution_date == MONDAY + timedelta(days=1)
    assert execution.rule.execution_count == 1
    assert execution.rule.total_invested == Decimal("500.00")


def test_a_rule_not_yet_due_does_nothing_unless_forced() -> None:
    later = rule(next_execution_date=MONDAY + timedelta(days=3))
    assert run(later).outcomes == ()
    forced = run(later, force=True)
    assert [o.occurrence for o in forced.outcomes] == [MONDAY + timedelta(days=3)]
    assert forced.rule.next_execution_date == MONDAY + timedelta(days=4)


def test_a_next_date_off_the_schedule_is_realigned_not_due_on_every_pass() -> None:
    monthly = Schedule(frequency=Frequency.MONTHLY, start_date=date(2026, 1, 1), day_of_month=1)
    off = rule(schedule=monthly, next_execution_date=MONDAY - timedelta(days=3))  # Nov 27

    execution = run(off)

    assert execution.outcomes == ()
    assert execution.rule.next_execution_date == date(2026, 12, 1)
    assert execution.cash_after == Decimal("10000.00")


def test_insufficient_cash_skips_with_the_reason_and_moves_on() -> None:
    execution = run(rule(), cash="499.99")
    (outcome,) = execution.outcomes
    assert outcome.status == "Skipped"
    assert "insufficient cash" in outcome.message and "499.99" in outcome.message
    assert outcome.buys == ()
    assert execution.cash_after == Decimal("499.99")
    assert execution.rule.next_execution_date == MONDAY + timedelta(days=1)
    assert execution.rule.execution_count == 0


def test_legs_under_the_minimum_untradable_or_under_one_whole_share_are_skipped_and_named() -> None:
    allocations = (
        Allocation(symbol="VTI", weight=Decimal("99.5")),
        Allocation(symbol="BND", weight=Decimal("0.1")),
        Allocation(symbol="HALT", weight=Decimal("0.2")),
        Allocation(symbol="BRK.A", weight=Decimal("0.2")),
    )
    (outcome,) = run(rule(allocations=allocations)).outcomes
    assert outcome.status == "Success"
    assert [b.symbol for b in outcome.buys] == ["VTI"]
    reasons = {s.symbol: s.reason for s in outcome.skipped_legs}
    assert "minimum order amount" in reasons["BND"]
    assert reasons["HALT"] == "not tradable"
    assert "no whole share" in reasons["BRK.A"]
    assert "BND" in outcome.message


def test_the_cap_makes_the_last_execution_partial_then_completes_the_rule() -> None:
    capped = rule(total_invested=Decimal("5800.00"), max_total_amount=Decimal("6000.00"))
    execution = run(capped)
    assert execution.outcomes[0].invested == Decimal("200.00")
    assert execution.rule.total_invested == Decimal("6000.00")
    assert execution.rule.status is RuleStatus.COMPLETED
    assert execution.rule.next_execution_date is None


def test_coalesce_runs_the_latest_missed_occurrence_once_and_todays_and_logs_the_others() -> None:
    execution = run(rule(next_execution_date=MONDAY - timedelta(days=7)), catch_up="coalesce")
    statuses = [(o.occurrence, o.status.value) for o in execution.outcomes]
    friday = MONDAY - timedelta(days=3)
    assert statuses[-2:] == [(friday, "Success"), (MONDAY, "Success")]
    assert [s for _, s in statuses[:-2]] == ["Skipped"] * 4
    assert all("coalesced into " + friday.isoformat() in o.message for o in execution.outcomes[:4])
    assert execution.rule.execution_count == 2
    assert execution.rule.next_execution_date == MONDAY + timedelta(days=1)


def test_coalesce_on_a_day_without_an_occurrence_runs_the_latest_missed_one_alone() -> None:
    weekly = Schedule(frequency=Frequency.WEEKLY, start_date=MONDAY - timedelta(days=21))
    late = rule(schedule=weekly, next_execution_date=MONDAY - timedelta(days=21))
    execution = run(late, today=MONDAY + timedelta(days=2), catch_up="coalesce")
    assert [(o.occurrence, o.status.value) for o in execution.outcomes] == [
        (MONDAY - timedelta(days=21), "Skipped"),
        (MONDAY - timedelta(days=14), "Skipped"),
        (MONDAY - timedelta(days=7), "Skipped"),
        (MONDAY, "Success"),
    ]
    assert execution.rule.next_execution_date == MONDAY + timedelta(days=7)


def test_catch_up_all_runs_every_missed_occurrence_in_order() -> None:
    execution = run(rule(next_execution_date=MONDAY - timedelta(days=7)), catch_up="all")
    assert [o.status.value for o in execution.outcomes] == ["Success"] * 6
    assert execution.rule.execution_count == 6


def test_catch_up_skip_runs_only_today() -> None:
    execution = run(rule(next_execution_date=MONDAY - timedelta(days=7)), catch_up="skip")
    assert [o.status.value for o in execution.outcomes] == ["Skipped"] * 5 + ["Success"]


def test_an_end_date_in_the_past_completes_the_rule() -> None:
    schedule = Schedule(frequency=Frequency.DAILY, start_date=date(2026, 1, 1), end_date=MONDAY)
    execution = run(rule(schedule=schedule))
    assert execution.outcomes[0].status == "Success"
    assert execution.rule.status is RuleStatus.COMPLETED


@settings(max_examples=200, deadline=None)
@given(
    amount_cents=st.integers(min_value=1, max_value=10_000_00),
    cap_cents=st.integers(min_value=1, max_value=50_000_00),
    weights=st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=2),
    runs=st.integers(min_value=1, max_value=40),
)
def test_total_invested_never_exceeds_the_cap(
    amount_cents: int, cap_cents: int, weights: list[int], runs: int
) -> None:
    symbols = ["VTI", "BND"][: len(weights)]
    total = sum(weights)
    # Percentages summing exactly to 100: scale, then give the remainder to the first.
    scaled = [Decimal(w * 100) / Decimal(total) for w in weights]
    scaled = [s.quantize(Decimal("0.01")) for s in scaled]
    scaled[0] += Decimal(100) - sum(scaled)
    r = rule(
        amount=Decimal(amount_cents) / 100,
        max_total_amount=Decimal(cap_cents) / 100,
        allocations=tuple(
            Allocation(symbol=s, weight=w) for s, w in zip(symbols, scaled, strict=True)
        ),
    )
    day = MONDAY
    for _ in range(runs):
        execution = run(r, today=day, cash="1000000000.00")
        spent = sum((o.invested for o in execution.outcomes), Decimal(0))
        for o in execution.outcomes:  # what an outcome says it invested is what its buys cost
            assert o.invested == sum((b.notional for b in o.buys), Decimal(0))
        assert execution.rule.total_invested == r.total_invested + spent
        assert execution.rule.total_invested <= Decimal(cap_cents) / 100
        r = execution.rule
        if r.next_execution_date is None:
            break
        day = r.next_execution_date


def test_next_date_of_a_monthly_rule_keeps_the_month_end_anchor() -> None:
    schedule = Schedule(frequency=Frequency.MONTHLY, start_date=date(2027, 1, 1), day_of_month=31)
    first = next_occurrence(schedule, WEEKENDS_ONLY, None)
    assert first == date(2027, 2, 1)  # Jan 31 2027 is a Sunday
    r = rule(schedule=schedule, next_execution_date=first)
    execution = run(r, today=first)
    assert execution.rule.next_execution_date == date(2027, 3, 1)  # Feb 28 is a Sunday too


def test_a_whole_share_leg_is_cut_to_the_shares_it_buys_so_invested_is_what_is_paid() -> None:
    quotes = {**QUOTES, "BRK.B": Quote(symbol="BRK.B", price=Decimal("30.00"), fractionable=False)}
    allocations = (Allocation(symbol="BRK.B", weight=Decimal(100)),)
    execution = execute_auto_invest(
        rule(amount=Decimal("100.00"), allocations=allocations),
        today=MONDAY,
        calendar=WEEKENDS_ONLY,
        cash=Decimal("1000.00"),
        quotes=quotes,
        min_order_amount=Decimal("1.00"),
        catch_up="coalesce",
    )
    assert [b.notional for b in execution.outcomes[0].buys] == [Decimal("90.00")]
    assert execution.rule.total_invested == Decimal("90.00")


def test_a_cap_whose_remainder_splits_into_legs_under_the_minimum_completes_the_rule() -> None:
    allocations = tuple(Allocation(symbol=s, weight=Decimal(50)) for s in ("VTI", "BND"))
    capped = rule(
        allocations=allocations,
        total_invested=Decimal("998.50"),
        max_total_amount=Decimal("1000.00"),  # 1.50 left: two legs of 0.75, each under 1.00
    )
    execution = run(capped)
    assert execution.outcomes[0].status == "Skipped"
    assert execution.rule.status is RuleStatus.COMPLETED
    assert execution.rule.next_execution_date is None


def test_with_state_changes_the_execution_state_and_keeps_every_other_field() -> None:
    import dataclasses

    state = ("next_execution_date", "execution_count", "total_invested", "status")
    before = rule(
        max_total_amount=Decimal("900.00"),
        is_enabled=False,
        execution_count=3,
        total_invested=Decimal("120.00"),
        status=RuleStatus.PAUSED,
    )
    after = before.with_state(
        next_execution_date=date(2027, 1, 4),
        execution_count=4,
        total_invested=Decimal("620.00"),
        status=RuleStatus.COMPLETED,
    )
    for field in dataclasses.fields(AutoInvestRule):
        if field.name in state:
            assert getattr(after, field.name) != getattr(before, field.name), field.name
        else:
            assert getattr(after, field.name) == getattr(before, field.name), field.name
    assert set(state) < {f.name for f in dataclasses.fields(AutoInvestRule)}
