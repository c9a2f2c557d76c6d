"""Prices as integer ticks, and sorted arrays of levels: the parts of the trigger index that are
not trailing stops (see :mod:`autopilot.domain.triggers.index`).

The index works in integer ticks of 0.0001 (:data:`~autopilot.domain.triggers.PRICE_PLACES`), so
comparing a price with a level is an int comparison, and a level array holds machine ints rather
than ``Decimal`` objects.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from decimal import Decimal

from autopilot.domain.errors import InvalidInput
from autopilot.domain.triggers.conditions import PERCENT_PLACES, PRICE_PLACES

TICKS_PER_UNIT: int = 10**PRICE_PLACES
CENT_TICKS: int = 10 ** (PRICE_PLACES - 2)
PERCENT_ONE: int = 100 * 10**PERCENT_PLACES
"""100 %, in the integer units of a scaled percent (a percent times 10**PERCENT_PLACES)."""
FAR: int = 1 << 62
"""Beyond any price in ticks: a gate at ``FAR`` (or ``-FAR``) lets nothing through."""


def to_ticks(price: Decimal, field: str = "price") -> int:
    """``price`` as an integer count of 0.0001; refuses a price with more decimal places."""
    numerator, denominator = price.as_integer_ratio()
    per_unit, rest = divmod(TICKS_PER_UNIT, denominator)
    if rest:
        raise InvalidInput(field, f"at most {PRICE_PLACES} decimal places, got {price}")
    return numerator * per_unit


def from_ticks(ticks: int) -> Decimal:
    """The price of ``ticks``: to the cent when it is a whole number of cents (100.00, 99.5012)."""
    if ticks % CENT_TICKS == 0:
        return Decimal(ticks // CENT_TICKS).scaleb(-2)
    return Decimal(ticks).scaleb(-PRICE_PLACES)


class Levels:
    """A sorted array of levels (ticks) with the seq of each trigger, in step.

    Holds the "at or above" levels, the "at or below" levels and the activation prices of
    waiting trailing stops of one symbol. Equal levels keep their insertion order.
    """

    __slots__ = ("levels", "seqs")

    def __init__(self) -> None:
        self.levels: array[int] = array("q")
        self.seqs: array[int] = array("q")

    def insert(self, level: int, seq: int) -> None:
        at = bisect_right(self.levels, level)
        self.levels.insert(at, level)
        self.seqs.insert(at, seq)

    def remove(self, level: int, seq: int) -> None:
        """Drop ``seq``, which must be present at ``level``."""
        at = bisect_left(self.levels, level)
        while self.seqs[at] != seq:
            at += 1
        del self.levels[at]
        del self.seqs[at]

    def pop_up_to(self, level: int) -> array[int]:
        """Remove and return the seqs whose level is at most ``level``."""
        end = bisect_right(self.levels, level)
        taken = self.seqs[:end]
        del self.levels[:end]
        del self.seqs[:end]
        return taken

    def pop_from(self, level: int) -> array[int]:
        """Remove and return the seqs whose level is at least ``level``."""
        start = bisect_left(self.levels, level)
        taken = self.seqs[start:]
        del self.levels[start:]
        del self.seqs[start:]
        return taken

    def lowest(self) -> int:
        """The lowest level, or ``FAR`` when empty."""
        return self.levels[0] if self.levels else FAR

    def highest(self) -> int:
        """The highest level, or ``-FAR`` when empty."""
        return self.levels[-1] if self.levels else -FAR
