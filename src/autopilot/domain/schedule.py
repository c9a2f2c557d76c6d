"""Auto-invest schedules: when a recurring rule is due, on a market's trading days."""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Final, Literal

from autopilot.domain.calendar import TradingCalendar

LAST_DAY: Final = "last"

_ONE_DAY = timedelta(days=1)


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    ANNUALLY = "annually"

    @property
    def takes_day_of_week(self) -> bool:
        return self in (Frequency.WEEKLY, Frequency.BIWEEKLY)

    @property
    def takes_day_of_month(self) -> bool:
        return self in (Frequency.MONTHLY, Frequency.QUARTERLY, Frequency.ANNUALLY)


class HolidayRule(StrEnum):
    """Where a date that falls on a weekend or market holiday moves to."""

    FOLLOWING = "following"
    PRECEDING = "preceding"


_DAYS_PER_PERIOD: Final = {Frequency.WEEKLY: 7, Frequency.BIWEEKLY: 14}
_MONTHS_PER_PERIOD: Final = {Frequency.MONTHLY: 1, Frequency.QUARTERLY: 3, Frequency.ANNUALLY: 12}


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """A recurrence. Fields a frequency does not use are ignored.

    ``day_of_week`` (0=Monday) applies to weekly and biweekly and defaults to the start
    date's weekday; ``day_of_month`` (1..31 or ``"last"``) applies to monthly, quarterly and
    annually and defaults to the start date's day. ``end_date`` is inclusive.
    """

    frequency: Frequency
    start_date: date
    end_date: date | None = None
    day_of_week: int | None = None
    day_of_month: int | Literal["last"] | None = None
    holiday_rule: HolidayRule = HolidayRule.FOLLOWING

    def __post_init__(self) -> None:
        if self.day_of_week is not None and not _is_int_in(self.day_of_week, 0, 6):
            raise ValueError(f"day_of_week must be 0 (Monday) to 6, got {self.day_of_week!r}")
        day = self.day_of_month
        if day is not None and day != LAST_DAY and not _is_int_in(day, 1, 31):
            raise ValueError(f"day_of_month must be 1 to 31 or 'last', got {day!r}")
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError(
                f"end_date {self.end_date} must not be before start_date {self.start_date}"
            )

    @property
    def weekday(self) -> int | None:
        """The weekday (0=Monday) a weekly or biweekly schedule runs on, chosen or the start
        date's; None for the other frequencies."""
        if not self.frequency.takes_day_of_week:
            return None
        return self.start_date.weekday() if self.day_of_week is None else self.day_of_week

    @property
    def month_day(self) -> int | Literal["last"] | None:
        """The day of the month a monthly, quarterly or annual schedule runs on, chosen or the
        start date's; None for the other frequencies."""
        return _day_of_month(self) if self.frequency.takes_day_of_month else None


def _is_int_in(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def next_occurrence(
    schedule: Schedule, calendar: TradingCalendar, after: date | None
) -> date | None:
    """The first occurrence strictly after ``after`` (the very first when ``None``), or ``None``.

    Nominal dates are counted from an anchor, the first nominal date on or after the start
    date, so month-end holds: day 31 monthly gives Jan 31 → Feb 28 (29 in leap years) →
    Mar 31 → Apr 30. A nominal date on a weekend or market holiday moves to the next trading
    day (``FOLLOWING``) or the previous one (``PRECEDING``) — but never before the start
    date: there it moves forward instead. Daily schedules run on every trading day. Dates
    that two nominals move to count once. ``None`` means the schedule has ended: the
    occurrence would fall after ``end_date``, or after the last date Python can represent
    (9999-12-31). Results are memoised per (schedule, calendar).
    """
    try:
        lower = schedule.start_date if after is None else max(schedule.start_date, after + _ONE_DAY)
        return _first_occurrence_from(schedule, calendar, lower)
    except (OverflowError, ValueError):  # past year 9999 (date arithmetic or date()): none left
        return None


def occurrences_between(
    schedule: Schedule, calendar: TradingCalendar, first: date, through: date
) -> list[date]:
    """Every occurrence ``d`` with ``first <= d <= through``, in order (for catch-up)."""
    found: list[date] = []
    current = _first_occurrence_from(schedule, calendar, max(first, schedule.start_date))
    while current is not None and current <= through:
        found.append(current)
        current = _first_occurrence_from(schedule, calendar, current + _ONE_DAY)
    return found


@lru_cache(maxsize=65_536)
def _first_occurrence_from(
    schedule: Schedule, calendar: TradingCalendar, lower: date
) -> date | None:
    """The first occurrence on or after ``lower`` (which is on or after the start date)."""
    if schedule.frequency is Frequency.DAILY:
        found = calendar.next_trading_day(lower)
    else:
        found = _first_adjusted_from(schedule, calendar, lower)
    if schedule.end_date is not None and found > schedule.end_date:
        return None
    return found


def _first_adjusted_from(schedule: Schedule, calendar: TradingCalendar, lower: date) -> date:
    # Adjusted dates never decrease with the index, so jump to about the right index, back
    # off two periods for dates a holiday rule moves across `lower`, then step forward.
    index = max(0, _index_near(schedule, lower) - 2)
    while True:
        adjusted = _adjust(schedule, calendar, _nominal(schedule, index))
        if adjusted >= lower:
            return adjusted
        index += 1


def _adjust(schedule: Schedule, calendar: TradingCalendar, nominal: date) -> date:
    if schedule.holiday_rule is HolidayRule.PRECEDING:
        preceding = calendar.previous_trading_day(nominal)
        if preceding >= schedule.start_date:
            return preceding
    return calendar.next_trading_day(nominal)


def _index_near(schedule: Schedule, lower: date) -> int:
    """An index whose nominal date is at most one period before the first one >= ``lower``."""
    days = _DAYS_PER_PERIOD.get(schedule.frequency)
    if days is not None:
        return (lower - _weekly_anchor(schedule)).days // days
    months = _MONTHS_PER_PERIOD[schedule.frequency]
    return (_month_number(lower) - _monthly_anchor(schedule)) // months


def _nominal(schedule: Schedule, index: int) -> date:
    days = _DAYS_PER_PERIOD.get(schedule.frequency)
    if days is not None:
        return _weekly_anchor(schedule) + timedelta(days=days * index)
    months = _MONTHS_PER_PERIOD[schedule.frequency]
    return _day_in_month(_monthly_anchor(schedule) + months * index, _day_of_month(schedule))


def _weekly_anchor(schedule: Schedule) -> date:
    start = schedule.start_date
    weekday = start.weekday() if schedule.day_of_week is None else schedule.day_of_week
    return start + timedelta(days=(weekday - start.weekday()) % 7)


def _monthly_anchor(schedule: Schedule) -> int:
    """The month number of the first nominal date on or after the start date."""
    start = schedule.start_date
    month = _month_number(start)
    if _day_in_month(month, _day_of_month(schedule)) < start:
        month += 1
    return month


def _day_of_month(schedule: Schedule) -> int | Literal["last"]:
    return schedule.start_date.day if schedule.day_of_month is None else schedule.day_of_month


def _month_number(d: date) -> int:
    return d.year * 12 + d.month - 1


def _day_in_month(month_number: int, day: int | Literal["last"]) -> date:
    """``day`` of the month, clamped to the month's last day."""
    year, month_index = divmod(month_number, 12)
    last = monthrange(year, month_index + 1)[1]
    return date(year, month_index + 1, last if day == LAST_DAY else min(day, last))
