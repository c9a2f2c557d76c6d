"""Checks of user input shared by the services; each failure names the field."""

from __future__ import annotations

import re
from decimal import Decimal

from autopilot.domain.errors import InvalidInput
from autopilot.domain.money import CENT

SYMBOL = re.compile(r"^[A-Z][A-Z0-9.\-]{0,15}$")


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


def symbol(field: str, value: str) -> str:
    text = value.strip().upper()
    if not SYMBOL.match(text):
        raise InvalidInput(field, f"{value!r} is not a ticker symbol (letters, digits, . or -)")
    return text
