"""Replaying a price history: one tick at a time, in time order, optionally paced.

Each tick is recorded on its own through ``PlatformService.record_prices``, so the broker
and the trigger evaluator see every update in the order it happened. The pause between ticks is
the gap between their ``as_of`` divided by the speed (60 plays a minute of history per second);
speed 0 does not pause. The sleep is an argument, so tests replay without waiting.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from itertools import pairwise
from typing import Protocol

from rich.progress import Progress

from autopilot.services.platform import PriceTick

Sleep = Callable[[float], None]


class PriceRecorder(Protocol):
    """What a replay feeds: :class:`~autopilot.services.platform.PlatformService`."""

    def record_prices(self, ticks: Sequence[PriceTick]) -> int: ...


class ReplayError(ValueError):
    """A replay that cannot start; str() names the value."""


def parse_speed(text: str) -> float:
    """``--speed`` as a factor: 0 (as fast as possible) or a positive finite number."""
    try:
        speed = float(text)
    except ValueError:
        raise ReplayError(f"--speed {text!r} is not a number") from None
    if not math.isfinite(speed) or speed < 0:
        raise ReplayError(f"--speed {text!r} must be 0 (as fast as possible) or a positive number")
    return speed


def in_time_order(ticks: Sequence[PriceTick]) -> list[PriceTick]:
    """The ticks sorted by ``as_of`` (ties keep the file's order); each must have one."""
    for i, tick in enumerate(ticks):
        if tick.as_of is None:
            raise ReplayError(f"price {i} ({tick.symbol}) has no as_of: a replay needs one")
    return sorted(ticks, key=_as_of)


def _as_of(tick: PriceTick) -> datetime:
    assert tick.as_of is not None
    return tick.as_of


def pauses(ticks: Sequence[PriceTick], speed: float) -> list[float]:
    """Seconds to wait before each tick of time-ordered ``ticks``: none before the first, and
    none at all at speed 0."""
    if speed < 0:
        raise ReplayError(f"speed {speed} must not be negative")
    if speed == 0:
        return [0.0] * len(ticks)
    gaps = ((_as_of(b) - _as_of(a)).total_seconds() / speed for a, b in pairwise(ticks))
    return [0.0, *gaps][: len(ticks)]


def replay_prices(
    platform: PriceRecorder,
    ticks: Sequence[PriceTick],
    *,
    speed: float = 0.0,
    sleep: Sleep = time.sleep,
) -> int:
    """Record ``ticks`` one at a time in ``as_of`` order, pausing per ``speed``, with a progress
    bar; returns how many were recorded."""
    ordered = in_time_order(ticks)
    done = 0
    with Progress(transient=True) as progress:
        task = progress.add_task("replaying prices", total=len(ordered))
        for tick, wait in zip(ordered, pauses(ordered, speed), strict=True):
            if wait > 0:
                sleep(wait)
            done += platform.record_prices([tick])
            progress.advance(task)
    return done
