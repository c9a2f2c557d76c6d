"""Trading days: weekdays that are not market holidays."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import date, timedelta

_ONE_DAY = timedelta(days=1)
# No market closes for weeks on end; a longer run means a broken holiday source.
_MAX_CLOSED_RUN = 31


class TradingCalendar:
    """A market's trading days: Monday to Friday, minus the holidays of each year.

    ``holidays_for_year(year)`` returns that year's market holidays; it is called at most
    once per year per calendar (the result is cached). Calendars hash by identity, so reuse
    one instance per market to share the schedule memo.
    """

    def __init__(self, holidays_for_year: Callable[[int], Collection[date]]) -> None:
        self._holidays_for_year = holidays_for_year
        self._holidays_by_year: dict[int, frozenset[date]] = {}

    def is_trading_day(self, d: date) -> bool:
        """True when ``d`` is a weekday and not a holiday of the market."""
        return d.weekday() < 5 and d not in self._holidays(d.year)

    def next_trading_day(self, d: date) -> date:
        """``d`` itself when it is a trading day, otherwise the first trading day after it."""
        return self._walk(d, _ONE_DAY)

    def previous_trading_day(self, d: date) -> date:
        """``d`` itself when it is a trading day, otherwise the last trading day before it."""
        return self._walk(d, -_ONE_DAY)

    def trading_day_after(self, d: date) -> date:
        """The first trading day strictly after ``d``."""
        return self._walk(d + _ONE_DAY, _ONE_DAY)

    def _walk(self, d: date, step: timedelta) -> date:
        for _ in range(_MAX_CLOSED_RUN):
            if self.is_trading_day(d):
                return d
            d += step
        raise ValueError(f"no trading day within {_MAX_CLOSED_RUN} days of {d - step}")

    def _holidays(self, year: int) -> frozenset[date]:
        holidays = self._holidays_by_year.get(year)
        if holidays is None:
            holidays = frozenset(self._holidays_for_year(year))
            self._holidays_by_year[year] = holidays
        return holidays


WEEKENDS_ONLY = TradingCalendar(lambda year: ())
"""A calendar without holidays, for tests."""
