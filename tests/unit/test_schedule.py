from calendar import monthrange
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autopilot.domain.calendar import WEEKENDS_ONLY, TradingCalendar
from autopilot.domain.schedule import (
    LAST_DAY,
    Frequency,
    HolidayRule,
    Schedule,
    next_occurrence,
    occurrences_between,
)
from autopilot.market.calendar import market_calendar

F = Frequency
FOLLOWING = HolidayRule.FOLLOWING
PRECEDING = HolidayRule.PRECEDING


@pytest.fixture(scope="module")
def nyse() -> TradingCalendar:
    return market_calendar("XNYS")


def first_n(schedule: Schedule, calendar: TradingCalendar, n: int) -> list[date]:
    found: list[date] = []
    current = next_occurrence(schedule, calendar, None)
    while current is not None and len(found) < n:
        found.append(current)
        current = next_occurrence(schedule, calendar, current)
    return found


# --- month-end anchoring -------------------------------------------------------------------


def test_monthly_day_31_keeps_its_anchor_through_february() -> None:
    schedule = Schedule(frequency=F.MONTHLY, start_date=date(2025, 1, 1), day_of_month=31)
    assert first_n(schedule, WEEKENDS_ONLY, 4) == [
        date(2025, 1, 31),
        date(2025, 2, 28),
        date(2025, 3, 31),
        date(2025, 4, 30),
    ]


def test_monthly_day_31_lands_on_february_29_in_a_leap_year() -> None:
    schedule = Schedule(frequency=F.MONTHLY, start_date=date(2028, 1, 10), day_of_month=31)
    assert first_n(schedule, WEEKENDS_ONLY, 3) == [
        date(2028, 1, 31),
        date(2028, 2, 29),
        date(2028, 3, 31),
    ]


def test_last_day_of_month_follows_each_months_length() -> None:
    schedule = Schedule(frequency=F.MONTHLY, start_date=date(2025, 1, 1), day_of_month=LAST_DAY)
    assert first_n(schedule, WEEKENDS_ONLY, 4) == [
        date(2025, 1, 31),
        date(2025, 2, 28),
        date(2025, 3, 31),
        date(2025, 4, 30),
    ]


def test_first_nominal_date_is_the_first_on_or_after_the_start() -> None:
    day_31 = Schedule(frequency=F.MONTHLY, start_date=date(2026, 12, 1), day_of_month=31)
    day_5 = Schedule(frequency=F.MONTHLY, start_date=date(2026, 12, 10), day_of_month=5)
    assert next_occurrence(day_31, WEEKENDS_ONLY, None) == date(2026, 12, 31)
    assert next_occurrence(day_5, WEEKENDS_ONLY, None) == date(2027, 1, 5)


def test_day_of_month_defaults_to_the_start_dates_day() -> None:
    schedule = Schedule(frequency=F.MONTHLY, start_date=date(2026, 3, 17))
    assert first_n(schedule, WEEKENDS_ONLY, 2) == [date(2026, 3, 17), date(2026, 4, 17)]


# --- holidays --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (FOLLOWING, [date(2026, 11, 27), date(2026, 12, 28)]),
        (PRECEDING, [date(2026, 11, 25), date(2026, 12, 24)]),
    ],
)
def test_thanksgiving_and_christmas_move_by_the_holiday_rule(
    nyse: TradingCalendar, rule: HolidayRule, expected: list[date]
) -> None:
    thanksgiving = Schedule(
        frequency=F.MONTHLY, start_date=date(2026, 11, 1), day_of_month=26, holiday_rule=rule
    )
    christmas = Schedule(
        frequency=F.MONTHLY, start_date=date(2026, 12, 1), day_of_month=25, holiday_rule=rule
    )
    assert next_occurrence(thanksgiving, nyse, None) == expected[0]
    assert next_occurrence(christmas, nyse, None) == expected[1]


def test_preceding_never_moves_before_the_start_date(nyse: TradingCalendar) -> None:
    schedule = Schedule(
        frequency=F.MONTHLY,
        start_date=date(2026, 11, 26),
        day_of_month=26,
        holiday_rule=PRECEDING,
    )
    # Dec 26 is a Saturday and Dec 25 a holiday, so December's occurrence moves back to the 24th.
    assert first_n(schedule, nyse, 2) == [date(2026, 11, 27), date(2026, 12, 24)]


def test_preceding_from_a_weekend_start_moves_forward_instead() -> None:
    schedule = Schedule(
        frequency=F.MONTHLY, start_date=date(2026, 8, 1), holiday_rule=PRECEDING
    )  # a Saturday
    assert first_n(schedule, WEEKENDS_ONLY, 2) == [date(2026, 8, 3), date(2026, 9, 1)]


def test_daily_runs_on_trading_days_only(nyse: TradingCalendar) -> None:
    schedule = Schedule(frequency=F.DAILY, start_date=date(2026, 11, 25))
    assert first_n(schedule, nyse, 4) == [
        date(2026, 11, 25),
        date(2026, 11, 27),
        date(2026, 11, 30),
        date(2026, 12, 1),
    ]


# --- weekly, quarterly, annually --------------------------------------------------------------


def test_weekly_runs_on_its_weekday_and_moves_off_a_holiday(nyse: TradingCalendar) -> None:
    schedule = Schedule(frequency=F.WEEKLY, start_date=date(2026, 6, 20), day_of_week=4)
    assert first_n(schedule, nyse, 3) == [date(2026, 6, 26), date(2026, 7, 6), date(2026, 7, 10)]
    preceding = Schedule(
        frequency=F.WEEKLY, start_date=date(2026, 6, 20), day_of_week=4, holiday_rule=PRECEDING
    )
    assert first_n(preceding, nyse, 3) == [date(2026, 6, 26), date(2026, 7, 2), date(2026, 7, 10)]


def test_biweekly_runs_every_other_week_from_the_first_matching_weekday() -> None:
    schedule = Schedule(frequency=F.BIWEEKLY, start_date=date(2026, 6, 1), day_of_week=2)
    assert first_n(schedule, WEEKENDS_ONLY, 3) == [
        date(2026, 6, 3),
        date(2026, 6, 17),
        date(2026, 7, 1),
    ]


def test_weekly_defaults_to_the_start_dates_weekday() -> None:
    schedule = Schedule(frequency=F.WEEKLY, start_date=date(2026, 6, 2))
    assert first_n(schedule, WEEKENDS_ONLY, 2) == [date(2026, 6, 2), date(2026, 6, 9)]


def test_quarterly_runs_every_three_months_from_the_first_date() -> None:
    schedule = Schedule(frequency=F.QUARTERLY, start_date=date(2026, 1, 20), day_of_month=15)
    assert first_n(schedule, WEEKENDS_ONLY, 4) == [
        date(2026, 2, 16),  # Feb 15 is a Sunday
        date(2026, 5, 15),
        date(2026, 8, 17),  # Aug 15 is a Saturday
        date(2026, 11, 16),  # Nov 15 is a Sunday
    ]


def test_annually_on_february_29_clamps_in_common_years() -> None:
    schedule = Schedule(frequency=F.ANNUALLY, start_date=date(2028, 2, 29))
    assert first_n(schedule, WEEKENDS_ONLY, 5) == [
        date(2028, 2, 29),
        date(2029, 2, 28),
        date(2030, 2, 28),
        date(2031, 2, 28),
        date(2032, 3, 1),  # Feb 29 2032 is a Sunday
    ]


# --- end, far dates, catch-up -----------------------------------------------------------------


def test_an_occurrence_moved_past_the_end_date_ends_the_schedule() -> None:
    schedule = Schedule(
        frequency=F.MONTHLY,
        start_date=date(2026, 4, 1),
        end_date=date(2026, 5, 30),
        day_of_month=30,
    )
    assert first_n(schedule, WEEKENDS_ONLY, 10) == [date(2026, 4, 30)]  # May 30 is a Saturday


def test_next_occurrence_jumps_far_from_the_start() -> None:
    schedule = Schedule(frequency=F.MONTHLY, start_date=date(1990, 1, 1), day_of_month=15)
    assert next_occurrence(schedule, WEEKENDS_ONLY, date(2026, 3, 20)) == date(2026, 4, 15)
    weekly = Schedule(frequency=F.BIWEEKLY, start_date=date(1990, 1, 1))  # a Monday
    assert next_occurrence(weekly, WEEKENDS_ONLY, date(2026, 3, 20)) == date(2026, 3, 23)


def test_occurrences_between_lists_missed_dates_inclusive(nyse: TradingCalendar) -> None:
    schedule = Schedule(frequency=F.WEEKLY, start_date=date(2026, 11, 1), day_of_week=3)
    assert occurrences_between(schedule, nyse, date(2026, 11, 5), date(2026, 12, 3)) == [
        date(2026, 11, 5),
        date(2026, 11, 12),
        date(2026, 11, 19),
        date(2026, 11, 27),
        date(2026, 12, 3),
    ]
    assert occurrences_between(schedule, nyse, date(2026, 11, 6), date(2026, 11, 11)) == []


def test_two_nominal_dates_moved_to_the_same_day_count_once() -> None:
    closed = {date(2026, 6, d) for d in range(8, 13)}  # a whole week closed
    calendar = TradingCalendar(lambda year: closed)
    schedule = Schedule(frequency=F.DAILY, start_date=date(2026, 6, 5))
    assert first_n(schedule, calendar, 2) == [date(2026, 6, 5), date(2026, 6, 15)]
    weekly = Schedule(
        frequency=F.WEEKLY, start_date=date(2026, 6, 5), day_of_week=0, holiday_rule=PRECEDING
    )
    # Monday Jun 8 moves back to Friday Jun 5; Monday Jun 15 stays.
    assert first_n(weekly, calendar, 2) == [date(2026, 6, 5), date(2026, 6, 15)]


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("day_of_month", {"day_of_month": 0}),
        ("day_of_month", {"day_of_month": 32}),
        ("day_of_month", {"day_of_month": "first"}),
        ("day_of_week", {"day_of_week": 7}),
        ("day_of_week", {"day_of_week": -1}),
        ("end_date", {"end_date": date(2025, 12, 31)}),
    ],
)
def test_schedule_refuses_invalid_fields(field: str, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=field):
        Schedule(frequency=F.MONTHLY, start_date=date(2026, 1, 1), **kwargs)  # type: ignore[arg-type]


# --- properties -------------------------------------------------------------------------------


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    start = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)))
    end = draw(st.none() | st.integers(0, 1500).map(lambda days: start + timedelta(days=days)))
    return Schedule(
        frequency=draw(st.sampled_from(Frequency)),
        start_date=start,
        end_date=end,
        day_of_week=draw(st.none() | st.integers(0, 6)),
        day_of_month=draw(st.none() | st.integers(1, 31) | st.just(LAST_DAY)),
        holiday_rule=draw(st.sampled_from(HolidayRule)),
    )


@settings(deadline=None)
@given(schedule=schedules())
def test_each_occurrence_is_a_trading_day_after_the_last_within_start_and_end(
    schedule: Schedule,
) -> None:
    previous: date | None = None
    for _ in range(30):
        current = next_occurrence(schedule, WEEKENDS_ONLY, previous)
        if current is None:
            break
        assert WEEKENDS_ONLY.is_trading_day(current)
        assert current >= schedule.start_date
        assert previous is None or current > previous
        assert schedule.end_date is None or current <= schedule.end_date
        previous = current


def reference_occurrences(
    schedule: Schedule, calendar: TradingCalendar, through: date
) -> list[date]:
    """The schedule's semantics, naively: scan day by day for nominal dates, then adjust."""
    days = [
        schedule.start_date + timedelta(days=i)
        for i in range((through - schedule.start_date).days + 40)
    ]
    if schedule.frequency is F.DAILY:
        nominals = [d for d in days if calendar.is_trading_day(d)]
    elif schedule.frequency in (F.WEEKLY, F.BIWEEKLY):
        weekday = (
            schedule.start_date.weekday() if schedule.day_of_week is None else schedule.day_of_week
        )
        matching = [d for d in days if d.weekday() == weekday]
        step = 1 if schedule.frequency is F.WEEKLY else 2
        nominals = matching[::step]
    else:
        wanted = schedule.start_date.day if schedule.day_of_month is None else schedule.day_of_month
        matching = [d for d in days if d.day == clamp(wanted, d)]
        step = {F.MONTHLY: 1, F.QUARTERLY: 3, F.ANNUALLY: 12}[schedule.frequency]
        nominals = [d for d in matching if month_gap(matching[0], d) % step == 0]
    adjusted = sorted({adjust(schedule, calendar, d) for d in nominals})
    end = through if schedule.end_date is None else min(through, schedule.end_date)
    return [d for d in adjusted if d <= end]


def month_gap(first: date, d: date) -> int:
    return (d.year - first.year) * 12 + d.month - first.month


def clamp(day: int | str, d: date) -> int:
    last = monthrange(d.year, d.month)[1]
    return last if day == LAST_DAY else min(int(day), last)


def adjust(schedule: Schedule, calendar: TradingCalendar, d: date) -> date:
    if (
        schedule.holiday_rule is PRECEDING
        and calendar.previous_trading_day(d) >= schedule.start_date
    ):
        return calendar.previous_trading_day(d)
    return calendar.next_trading_day(d)


@settings(deadline=None)
@given(schedule=schedules(), offset=st.integers(-10, 1500))
def test_occurrences_match_a_naive_day_by_day_scan(schedule: Schedule, offset: int) -> None:
    through = schedule.start_date + timedelta(days=1500)
    expected = reference_occurrences(schedule, WEEKENDS_ONLY, through)

    assert occurrences_between(schedule, WEEKENDS_ONLY, schedule.start_date, through) == expected
    after = schedule.start_date + timedelta(days=offset)
    later = [d for d in expected if d > after]
    if later:
        assert next_occurrence(schedule, WEEKENDS_ONLY, after) == later[0]


def test_a_schedule_names_the_day_it_runs_on_where_the_client_left_it_to_the_start_date() -> None:
    tuesday = date(2026, 12, 1)
    assert Schedule(frequency=Frequency.WEEKLY, start_date=tuesday).weekday == 1
    assert Schedule(frequency=Frequency.BIWEEKLY, start_date=tuesday, day_of_week=4).weekday == 4
    assert Schedule(frequency=Frequency.QUARTERLY, start_date=tuesday).month_day == 1
    assert (
        Schedule(frequency=Frequency.MONTHLY, start_date=tuesday, day_of_month="last").month_day
        == "last"
    )
    daily = Schedule(frequency=Frequency.DAILY, start_date=tuesday)
    assert (daily.weekday, daily.month_day) == (None, None)
    assert Schedule(frequency=Frequency.WEEKLY, start_date=tuesday).month_day is None


def test_a_schedule_ends_where_dates_end_instead_of_overflowing() -> None:
    yearly = Schedule(frequency=Frequency.ANNUALLY, start_date=date(9998, 6, 1))
    calendar = market_calendar("XNYS")
    last = next_occurrence(yearly, calendar, date(9998, 6, 1))
    assert last is not None and last.year == 9999
    assert next_occurrence(yearly, calendar, last) is None
