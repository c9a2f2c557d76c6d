"""How values read in the API: money and quantities as strings, dates and moments in ISO form."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TypeVar

from autopilot.api.schemas.responses import Page

T = TypeVar("T")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def text(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return str(abs(value) if value == 0 else value)  # "-0" given as input shows as 0.00


def amount(value: Decimal) -> str:
    """A value that is always there, as :func:`text` shows it."""
    shown = text(value)
    assert shown is not None
    return shown


def day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def moment(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def at(value: datetime) -> str:
    """A moment that is always there, as :func:`moment` shows it."""
    return value.isoformat()


def on(value: date) -> str:
    """A date that is always there, as :func:`day` shows it."""
    return value.isoformat()


def percentage(value: Decimal) -> str:
    """A percentage without trailing zeros: 5 → "5", 2.50 → "2.5"."""
    return format(value.normalize(), "f")


def percent(value: Decimal | None) -> str | None:
    return None if value is None else percentage(value)


def page(items: Sequence[T], total: int, number: int, size: int) -> Page[T]:
    return Page[T](items=list(items), total=total, page=number, page_size=size)
