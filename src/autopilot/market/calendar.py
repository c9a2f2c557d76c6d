"""Market calendars backed by the ``holidays`` package."""

from __future__ import annotations

from datetime import date
from functools import cache

import holidays

from autopilot.domain.calendar import TradingCalendar


def supported_calendars() -> list[str]:
    """The market codes :func:`market_calendar` accepts (ISO 10383 MICs and aliases)."""
    return sorted(holidays.list_supported_financial())


def market_calendar(code: str) -> TradingCalendar:
    """The trading calendar of market ``code`` (e.g. ``"XNYS"``).

    The same instance is returned for the same code, so schedule memoisation (keyed by
    calendar identity) is shared. Raises ``ValueError`` for an unknown code.
    """
    if code not in holidays.list_supported_financial():
        supported = ", ".join(supported_calendars())
        raise ValueError(f"unknown market calendar {code!r}; supported: {supported}")
    return _calendar(code)


@cache
def _calendar(code: str) -> TradingCalendar:
    def holidays_for_year(year: int) -> frozenset[date]:
        return frozenset(holidays.financial_holidays(code, years=year))

    return TradingCalendar(holidays_for_year)
