"""One symbol's share of the trigger index: its level arrays, its two trailing-stop sides, and
the gates that let most price updates through in two comparisons (see
:mod:`autopilot.domain.triggers.index`).
"""

from __future__ import annotations

from autopilot.domain.triggers.levels import FAR, Levels
from autopilot.domain.triggers.trails import Buckets, TrailSide


class SymbolBook:
    """Everything indexed for one symbol, and its gates.

    A price strictly between ``low_gate`` and ``high_gate`` changes nothing. One strictly
    between ``low_gate`` and ``rise_until`` (or ``fall_until`` and ``high_gate``) is a new high
    of the sell stops (a new low of the buy stops) and nothing else: :meth:`TrailSide.rise`.
    """

    __slots__ = (
        "above",
        "arm_buy",
        "arm_sell",
        "below",
        "buy",
        "fall_until",
        "high_gate",
        "level_high",
        "level_low",
        "low_gate",
        "number",
        "rise_until",
        "sell",
        "symbol",
    )

    def __init__(self, symbol: str, number: int, buckets: Buckets) -> None:
        self.symbol = symbol
        self.number = number
        self.above = Levels()
        self.below = Levels()
        self.arm_sell = Levels()
        self.arm_buy = Levels()
        self.sell = TrailSide(buckets, sell=True)
        self.buy = TrailSide(buckets, sell=False)
        self.refresh_gates()

    def refresh_gates(self) -> None:
        """Recompute every gate (after the book was edited)."""
        self.sell.refresh_gates()
        self.buy.refresh_gates()
        self.refresh_levels()

    def refresh_levels(self) -> None:
        """Recompute the gates after the level arrays changed (the sides' gates are current)."""
        self.level_high = min(self.above.lowest(), self.arm_sell.lowest())
        self.level_low = max(self.below.highest(), self.arm_buy.highest())
        self.combine_gates()

    def combine_gates(self) -> None:
        """The book's gates from the sides' gates and the level extremes (all kept current)."""
        sell, buy = self.sell, self.buy
        up_rest = min(-buy.fire_gate, self.level_high)  # all but a new high of the sell stops
        down_rest = max(sell.fire_gate, self.level_low)  # all but a new low of the buy stops
        self.high_gate = min(sell.raise_gate + 1, up_rest)
        self.low_gate = max(-buy.raise_gate - 1, down_rest)
        self.rise_until = up_rest if sell.rides_alone() else -FAR
        self.fall_until = down_rest if buy.rides_alone() else FAR

    # The two fast paths of on_price: the same as sell.rise (buy.rise) then combine_gates,
    # knowing what cannot have changed (the hot path of a price feed: one call, not five).

    def sell_rise(self, ticks: int) -> None:
        """A new high of the sell stops and nothing else: ``low_gate < ticks < rise_until``."""
        sell = self.sell
        sell.rise(ticks)
        down_rest = sell.fire_gate if sell.fire_gate > self.level_low else self.level_low
        self.high_gate = ticks + 1 if ticks < self.rise_until else self.rise_until
        low = -self.buy.raise_gate - 1
        self.low_gate = low if low > down_rest else down_rest
        if self.fall_until != FAR:  # the buy side rides alone
            self.fall_until = down_rest

    def buy_fall(self, ticks: int) -> None:
        """A new low of the buy stops and nothing else: ``fall_until < ticks < high_gate``."""
        buy = self.buy
        buy.rise(-ticks)
        up_rest = -buy.fire_gate if -buy.fire_gate < self.level_high else self.level_high
        self.low_gate = ticks - 1 if ticks > self.fall_until else self.fall_until
        high = self.sell.raise_gate + 1
        self.high_gate = high if high < up_rest else up_rest
        if self.rise_until != -FAR:  # the sell side rides alone
            self.rise_until = up_rest
