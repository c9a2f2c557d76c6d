"""Replaying a price history: time order, one tick per update, pauses from --speed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from autopilot.market.replay import ReplayError, parse_speed, pauses, replay_prices
from autopilot.services.platform import PriceTick

T0 = datetime(2026, 6, 1, 14, 30, tzinfo=UTC)


def tick(symbol: str, price: str, seconds: float) -> PriceTick:
    return PriceTick(symbol=symbol, price=Decimal(price), as_of=T0 + timedelta(seconds=seconds))


class RecordingPlatform:
    """Fake of PlatformService.record_prices: keeps each call's ticks."""

    def __init__(self) -> None:
        self.calls: list[list[PriceTick]] = []

    def record_prices(self, ticks: Sequence[PriceTick]) -> int:
        self.calls.append(list(ticks))
        return len(ticks)


HISTORY = [  # out of order on purpose; two updates share a time
    tick("AAA", "101.00", 60),
    tick("AAA", "100.00", 0),
    tick("BBB", "30.00", 180),
    tick("AAA", "99.00", 180),
]


def test_a_replay_records_one_tick_at_a_time_in_time_order() -> None:
    platform = RecordingPlatform()
    slept: list[float] = []
    assert replay_prices(platform, HISTORY, sleep=slept.append) == 4
    assert [[(t.symbol, str(t.price)) for t in call] for call in platform.calls] == [
        [("AAA", "100.00")],
        [("AAA", "101.00")],
        [("BBB", "30.00")],  # ties keep the file's order
        [("AAA", "99.00")],
    ]
    assert slept == []  # speed 0: as fast as possible


@pytest.mark.parametrize(
    ("speed", "expected"),
    [(1.0, [60.0, 120.0]), (60.0, [1.0, 2.0]), (0.5, [120.0, 240.0])],
)
def test_the_pause_between_ticks_is_their_gap_divided_by_the_speed(
    speed: float, expected: list[float]
) -> None:
    slept: list[float] = []
    replay_prices(RecordingPlatform(), HISTORY, speed=speed, sleep=slept.append)
    assert slept == expected  # no pause before the first tick, nor between equal times


def test_pauses_are_computed_before_each_tick() -> None:
    ordered = sorted(HISTORY, key=lambda t: t.as_of or T0)
    assert pauses(ordered, 60) == [0.0, 1.0, 2.0, 0.0]
    assert pauses(ordered, 0) == [0.0] * 4
    assert pauses([], 60) == []


@pytest.mark.parametrize(("text", "value"), [("0", 0.0), ("60", 60.0), ("0.5", 0.5)])
def test_a_speed_is_zero_or_a_positive_number(text: str, value: float) -> None:
    assert parse_speed(text) == value


@pytest.mark.parametrize("text", ["-1", "fast", "nan", "inf", ""])
def test_a_bad_speed_is_refused_naming_the_value(text: str) -> None:
    with pytest.raises(ReplayError, match=f"--speed {text!r}"):
        parse_speed(text)


def test_a_tick_without_as_of_cannot_be_replayed() -> None:
    platform = RecordingPlatform()
    with pytest.raises(ReplayError, match="BBB"):
        replay_prices(platform, [*HISTORY, PriceTick(symbol="BBB", price=Decimal("1"))])
    assert platform.calls == []
