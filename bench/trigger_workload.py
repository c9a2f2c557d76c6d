"""The trigger workload both trigger benchmarks replay: seeded prices, conditions and price walks.

`bench/triggers.py` (the index against the naive scan) and `bench/trigger_e2e.py` (trigger orders
end to end) draw the same triggers and updates from here, so their figures describe one market.
"""

from __future__ import annotations

import random
import sys
from array import array
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT / "src", ROOT):  # runnable from a checkout without installing the package
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from autopilot.domain.orders import Side  # noqa: E402
from autopilot.domain.triggers.conditions import (  # noqa: E402
    Condition,
    Direction,
    PercentChange,
    PriceAbove,
    PriceBelow,
    TrailingStop,
    Trigger,
)

SEED = 20250616
PERCENTS = [Decimal(p) for p in ("2", "3", "5", "7.5", "10", "15", "20")]
AMOUNTS = [Decimal(a) for a in ("0.50", "1", "2", "5")]
BATCH = 100  # price ticks per record_prices call, end to end


def base_prices(symbols: int) -> list[int]:
    """A starting price in cents per symbol, from 20.00 to 500.00."""
    rng = random.Random(SEED)
    return [rng.randrange(2_000, 50_000) for _ in range(symbols)]


def symbol_name(number: int) -> str:
    return f"S{number:05d}"


def cents(value: float) -> Decimal:
    return Decimal(round(value)).scaleb(-2)


def random_condition(rng: random.Random, base: int) -> Condition:
    """Levels 8-30% away from the start, so that a small fraction fires on the walk."""
    away = rng.uniform(0.08, 0.30)
    roll = rng.random()
    if roll < 0.30:
        return PriceBelow(level=cents(base * (1 - away)))
    if roll < 0.55:
        return PriceAbove(level=cents(base * (1 + away)))
    if roll < 0.70:
        direction = rng.choice((Direction.UP, Direction.DOWN))
        percent = Decimal(rng.randrange(8, 30))
        return PercentChange(percent=percent, direction=direction, reference_price=cents(base))
    return _trailing(rng, base)


def _trailing(rng: random.Random, base: int) -> TrailingStop:
    side = Side.SELL if rng.random() < 0.8 else Side.BUY
    by_percent = rng.random() < 0.7
    percent = rng.choice(PERCENTS[2:]) if by_percent else None
    amount = None if by_percent else rng.choice(AMOUNTS) * max(1, base // 2_000)
    mark = cents(base)
    if rng.random() < 0.2:
        up = side is Side.SELL
        activation = cents(base * (1.05 if up else 0.95))
        return TrailingStop(side=side, percent=percent, amount=amount, activation_price=activation)
    return TrailingStop(side=side, percent=percent, amount=amount, mark=mark)


def generate_triggers(count: int, symbols: int, only: set[int] | None = None) -> Iterator[Trigger]:
    """The same `count` triggers on every call (seeded); `only` keeps those of some symbols."""
    rng = random.Random(SEED + 1)
    bases = base_prices(symbols)
    for number in range(count):
        symbol = number % symbols
        condition = random_condition(rng, bases[symbol])
        if only is not None and symbol not in only:
            continue
        yield Trigger(
            id=f"TRIG-20250616-{number:07d}",
            account_id=1 + number // 4,
            symbol=symbol_name(symbol),
            condition=condition,
        )


class Walk:
    """Price updates held compactly (a symbol number and a price in cents per update, in two
    arrays: 12 bytes an update, not a tuple and a ``Decimal``), turned into ``(symbol, price)``
    pairs a slice at a time. Prices are shared ``Decimal`` objects, one per distinct price."""

    __slots__ = ("_decimals", "cents", "names", "symbols")

    def __init__(self, symbols: int) -> None:
        self.names = [symbol_name(n) for n in range(symbols)]
        self.symbols: array[int] = array("I")
        self.cents: array[int] = array("q")
        self._decimals: dict[int, Decimal] = {}

    def __len__(self) -> int:
        return len(self.symbols)

    def price(self, cents: int) -> Decimal:
        decimal = self._decimals.get(cents)
        if decimal is None:
            decimal = self._decimals[cents] = Decimal(cents).scaleb(-2)
        return decimal

    def updates(self, start: int = 0, stop: int | None = None) -> list[tuple[str, Decimal]]:
        names, price = self.names, self.price
        return [
            (names[symbol], price(cents))
            for symbol, cents in zip(self.symbols[start:stop], self.cents[start:stop], strict=True)
        ]


def generate_walk(count: int, symbols: int) -> Walk:
    """Random walks: each update moves one random symbol by up to ±0.4%, to the cent."""
    rng = random.Random(SEED + 2)
    prices = base_prices(symbols)
    walk = Walk(symbols)
    for _ in range(count):
        symbol = rng.randrange(symbols)
        price = prices[symbol]
        price = max(100, price + round(price * rng.uniform(-0.004, 0.004)))
        prices[symbol] = price
        walk.symbols.append(symbol)
        walk.cents.append(price)
    return walk


def generate_updates(count: int, symbols: int) -> list[tuple[str, Decimal]]:
    """The updates of :func:`generate_walk`, as a list."""
    return generate_walk(count, symbols).updates()


def postgres_available() -> bool:
    """Whether PostgreSQL's binaries are here for a throwaway server."""
    try:
        from tests.pg import find_pg_bin
    except ImportError:
        return False
    return find_pg_bin() is not None
