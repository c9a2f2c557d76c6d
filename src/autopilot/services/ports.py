"""What the services need from the outside: a clock, a broker and a unit of work.

The unit of work is the storage layer's (one transaction and its repositories); services only
call repository methods on it and never build SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from autopilot.domain.orders import Order

if TYPE_CHECKING:
    # Type-only: the unit of work's repositories are the storage adapters behind the ports.
    from autopilot.storage.unit_of_work import UnitOfWork

UnitOfWorkFactory = Callable[[], AbstractContextManager["UnitOfWork"]]

__all__ = ["Broker", "Clock", "FixedClock", "SystemClock", "UnitOfWork", "UnitOfWorkFactory"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that says what it is told (tests, `run-once --as-of`)."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self.at = at

    def now(self) -> datetime:
        return self.at


def market_today(clock: Clock, zone: ZoneInfo) -> date:
    """Today's date in the market's time zone: what "due today" means."""
    return clock.now().astimezone(zone).date()


class Broker(Protocol):
    def submit(self, orders: Sequence[Order]) -> None:
        """Send written orders to the market; the order id is the idempotency key.

        Submitting an order twice has the effect of submitting it once.
        """
        ...

    def on_prices(self, symbols: Sequence[str]) -> None:
        """New prices arrived for `symbols`: fill resting orders whose limit they reach."""
        ...
