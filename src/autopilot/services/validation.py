"""Checks of user input shared by the services; each failure names the field."""

from __future__ import annotations

import re
from decimal import Decimal

from autopilot.domain.errors import InvalidInput
from autopilot.domain.money import CENT

SYMBOL = re.compile(r"^[A-Z][A-Z0-9.\-]{0,15}$")
# The money columns hold 20 digits (cash: 2 decimals, prices: 6): amounts stay below a trillion.
MAX_AMOUNT = Decimal(10) ** 12
PRICE_PLACES = Decimal("0.000001")


def positive_cents(field: str, value: Decimal) -> Decimal:
    """A positive amount with at most two decimals, returned with exactly two."""
    if not value.is_finite() or value <= 0:
        raise InvalidInput(field, f"must be a positive amount, got {value}")
    if value != value.quantize(CENT):
        raise InvalidInput(field, f"must have at most two decimals, got {value}")
    return value.quantize(CENT)


def positive(field: str, value: Decimal) -> Decimal:
    if not value.is_finite() or value <= 0:
        raise InvalidInput(field, f"must be positive, got {value}")
    return value


def price(field: str, value: Decimal) -> Decimal:
    """A price as stored: positive, below a trillion, at most six decimals (more would be
    rounded away silently, and 0.0000001 would become a price of zero)."""
    positive(field, value)
    if value >= MAX_AMOUNT:
        raise InvalidInput(field, f"must be below {MAX_AMOUNT:,}, got {value}")
    if value != value.quantize(PRICE_PLACES):
        raise InvalidInput(field, f"must have at most six decimals, got {value}")
    return value


def symbol(field: str, value: str) -> str:
    text = value.strip().upper()
    if not SYMBOL.match(text):
        raise InvalidInput(field, f"{value!r} is not a ticker symbol (letters, digits, . or -)")
    return text
