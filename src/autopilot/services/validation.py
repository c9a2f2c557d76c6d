"""Checks of user input shared by the services; each failure names the field."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from autopilot.domain.errors import InvalidInput
from autopilot.domain.money import CENT

SYMBOL = re.compile(r"^[A-Z][A-Z0-9.\-]{0,15}$")
# What a symbol as given may look like: :func:`symbol` upper-cases it first.
SYMBOL_AS_GIVEN = SYMBOL.pattern.replace("A-Z", "A-Za-z")
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


PERCENT_STEP = Decimal("0.0001")
# Dates the service works with: far-off years overflow the conversion to UTC or the calendar.
FIRST_SUPPORTED_DAY, LAST_SUPPORTED_DAY = date(1970, 1, 1), date(2199, 12, 31)
# A price stamped later than this ahead of the clock would stay "latest" until then.
CLOCK_SKEW = timedelta(minutes=5)


def day(field: str, value: date) -> date:
    if not FIRST_SUPPORTED_DAY <= value <= LAST_SUPPORTED_DAY:
        raise InvalidInput(
            field, f"must be from {FIRST_SUPPORTED_DAY} to {LAST_SUPPORTED_DAY}, got {value}"
        )
    return value


def moment(field: str, value: datetime) -> datetime:
    """A point in time with its offset, from 1970 to 2199 in UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(field, "must include a timezone offset")
    try:
        in_utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidInput(field, f"is out of range: {value.isoformat()}") from None
    day(field, in_utc.date())
    return value


def past(field: str, value: datetime, now: datetime) -> datetime:
    """A moment that has happened (a price's as-of), give or take the clocks' skew."""
    moment(field, value)
    if value > now + CLOCK_SKEW:
        raise InvalidInput(field, f"is in the future ({value.isoformat()}); it is {now}")
    return value


def percent_places(field: str, value: Decimal) -> Decimal:
    """A percentage (a weight, a threshold) with at most four decimals. Finer ones are refused:
    1e-10000000 would print as a megabyte and make sums round (100 + 1e-400 "equals" 100)."""
    try:
        exact = value.is_finite() and value == value.quantize(PERCENT_STEP)
    except InvalidOperation:  # too many digits to quantize: not a four-decimal percentage
        exact = False
    if not exact:
        shown = str(value) if len(str(value)) <= 24 else f"{str(value)[:21]}..."
        raise InvalidInput(field, f"at most 4 decimals, got {shown}")
    return value


def security(field: str, value: str) -> str:
    """A tradable security's symbol: a ticker symbol other than CASH, which names the
    account's cash (a rebalancing target may use it, a price or an order may not)."""
    text = symbol(field, value)
    if text == "CASH":
        raise InvalidInput(field, "CASH is the account's cash, not a security")
    return text


def symbol(field: str, value: str) -> str:
    # ASCII first: str.upper() would fold "ß" to "SS" and "ﬁ" to "FI" into a valid-looking ticker.
    text = value.strip().upper() if value.isascii() else value
    if not SYMBOL.match(text):
        raise InvalidInput(field, f"{value!r} is not a ticker symbol (letters, digits, . or -)")
    return text
