"""Splitting an amount over weighted legs so the legs sum exactly to it."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

from autopilot.domain.money import CENT


def split_amount(amount: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Split ``amount`` over ``weights`` into cent amounts that sum exactly to ``amount``.

    Largest-remainder method: each leg first gets its exact share ``amount * w / total``
    rounded down to the cent; the cents left over go one each to the legs with the largest
    remainders, earlier legs first on ties. So every leg is within one cent of its exact
    share. Weights are relative (percentages summing to 100 are typical, any positive
    total works). Legs come back quantized to the cent, in the order of ``weights``.

    Raises ``ValueError`` when ``amount`` is negative or not a whole number of cents, when
    ``weights`` is empty, has a negative weight, or sums to zero.
    """
    return [Decimal(leg).scaleb(-2) for leg in _split_cents(_whole_cents(amount), tuple(weights))]


@lru_cache(maxsize=4096)
def _split_cents(cents: int, weights: tuple[Decimal, ...]) -> tuple[int, ...]:
    # Cached: a scheduler pass splits the same few (amount, weights) pairs over and over.
    total = _total_weight(weights)
    shares = [Fraction(cents) * Fraction(weight) / total for weight in weights]
    legs = [share.numerator // share.denominator for share in shares]
    leftover = cents - sum(legs)
    by_remainder = sorted(range(len(legs)), key=lambda i: (legs[i] - shares[i], i))
    for index in by_remainder[:leftover]:
        legs[index] += 1
    return tuple(legs)


def _whole_cents(amount: Decimal) -> int:
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"amount must be a non-negative number of cents, got {amount}")
    if amount % CENT != 0:
        raise ValueError(f"amount must be a multiple of 0.01, got {amount}")
    return int(amount / CENT)


def _total_weight(weights: Sequence[Decimal]) -> Fraction:
    if not weights:
        raise ValueError("weights must not be empty")
    if any(not weight.is_finite() or weight < 0 for weight in weights):
        raise ValueError(f"weights must be finite and non-negative, got {list(weights)}")
    total = sum((Fraction(weight) for weight in weights), Fraction(0))
    if total == 0:
        raise ValueError("weights must not sum to zero")
    return total
