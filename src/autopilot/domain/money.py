"""Money: one constructor that refuses floats, and the explicit rounding steps."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
"""No money, to the cent: the start of every sum of cash amounts."""
HUNDRED = Decimal(100)
"""Percentages (weights, thresholds, moves) are out of this."""


def money(value: object) -> Decimal:
    """Parse ``value`` (``str``, ``int`` or ``Decimal``) into a ``Decimal``, unrounded.

    Floats and bools are refused with ``TypeError`` (a float has already lost the amount);
    NaN, infinities and unparsable strings raise ``ValueError``. Nothing is quantized here:
    round explicitly with :func:`to_cents` or :func:`floor_to`.
    """
    if isinstance(value, bool | float):
        raise TypeError(f"money must not be a {type(value).__name__}: {value!r}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        result = _parse(value)
    else:
        raise TypeError(f"cannot make money from {type(value).__name__}: {value!r}")
    if not result.is_finite():
        raise ValueError(f"money must be finite: {value!r}")
    return result


def _parse(text: str) -> Decimal:
    try:
        return Decimal(text.strip())
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal amount: {text!r}") from exc


def to_cents(value: Decimal) -> Decimal:
    """Round to the cent, halves away from zero (``ROUND_HALF_UP``).

    2.675 → 2.68 and -0.005 → -0.01.
    """
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def floor_to(value: Decimal, places: int) -> Decimal:
    """Cut ``value`` to ``places`` decimals with ``ROUND_DOWN`` (toward zero: -1.239 → -1.23).

    Use it for quantities, so that an order never buys more than the cash covers.
    """
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)
