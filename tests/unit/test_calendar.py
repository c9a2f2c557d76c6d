from datetime import date

import pytest

from autopilot.domain.calendar import WEEKENDS_ONLY, TradingCalendar
from autopilot.market.calendar import market_calendar, supported_calendars

THANKSGIVING_2026 = date(2026, 11, 26)
CHRISTMAS_2026 = date(2026, 12, 25)


def test_weekends_are_never_trading_days() -> None:
    assert WEEKENDS_ONLY.is_trading_day(date(2026, 6, 5))  # Friday
    assert not WEEKENDS_ONLY.is_trading_day(date(2026, 6, 6))
    assert not WEEKENDS_ONLY.is_trading_day(date(2026, 6, 7))


def test_nyse_holidays_are_not_trading_days() -> None:
    nyse = market_calendar("XNYS")
    for holiday in (THANKSGIVING_2026, CHRISTMAS_2026, date(2026, 7, 3)):
        assert not nyse.is_trading_day(holiday)
    assert nyse.is_trading_day(date(2026, 12, 24))


def test_next_and_previous_trading_day_keep_a_trading_day_and_move_off_a_holiday() -> None:
    nyse = market_calendar("XNYS")
    assert nyse.next_trading_day(date(2026, 11, 25)) == date(2026, 11, 25)
    assert nyse.previous_trading_day(date(2026, 11, 25)) == date(2026, 11, 25)
    assert nyse.next_trading_day(CHRISTMAS_2026) == date(2026, 12, 28)
    assert nyse.previous_trading_day(CHRISTMAS_2026) == date(2026, 12, 24)
    assert nyse.previous_trading_day(date(2026, 11, 29)) == date(2026, 11, 27)


def test_trading_day_after_is_strictly_after() -> None:
    nyse = market_calendar("XNYS")
    assert nyse.trading_day_after(date(2026, 11, 25)) == date(2026, 11, 27)
    assert nyse.trading_day_after(date(2026, 12, 24)) == date(2026, 12, 28)


def test_holidays_are_fetched_once_per_year() -> None:
    asked: list[int] = []

    def holidays_for_year(year: int) -> list[date]:
        asked.append(year)
        return [date(year, 1, 1)]

    calendar = TradingCalendar(holidays_for_year)
    assert not calendar.is_trading_day(date(2027, 1, 1))
    assert calendar.next_trading_day(date(2026, 12, 31)) == date(2026, 12, 31)
    assert calendar.trading_day_after(date(2026, 12, 31)) == date(2027, 1, 4)
    assert sorted(asked) == [2026, 2027]


def test_market_calendar_is_one_instance_per_code() -> None:
    assert market_calendar("XNYS") is market_calendar("XNYS")


def test_unknown_market_calendar_names_the_supported_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown market calendar 'NOPE'; supported: .*XNYS"):
        market_calendar("NOPE")
    assert "XNYS" in supported_calendars()
