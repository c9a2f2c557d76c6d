"""What the services need from the outside: a clock, a broker and a unit of work (DESIGN §2).

Services see storage only through these Protocols: :class:`UnitOfWork` is one transaction and
its repositories (:mod:`autopilot.services.repositories`), and a failure of the database reaches
them as :class:`DatabaseUnavailable` or :class:`RefusedByDatabase`, never as a driver's
exception. The SQL adapters in :mod:`autopilot.storage` and the in-memory store in
:mod:`autopilot.storage.memory` implement them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

from autopilot.domain.orders import Order
from autopilot.services.repositories import (
    AccountRepository,
    ApiKeyRepository,
    AttemptRepository,
    AuditRepository,
    AutoInvestRuleRepository,
    ClientRepository,
    ExecutionLogRepository,
    MarketRepository,
    OrderRepository,
    PriceFeedRepository,
    ProposalRepository,
    RateLimitRepository,
    RebalancingRuleRepository,
    StatsRepository,
    TriggerOrderRepository,
    WebhookRepository,
    WorkerRepository,
)


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


class UnitOfWork(Protocol):
    """One transaction and the repositories that share it: committed when the ``with`` block
    ends normally, rolled back when it raises."""

    @property
    def clients(self) -> ClientRepository: ...
    @property
    def accounts(self) -> AccountRepository: ...
    @property
    def market(self) -> MarketRepository: ...
    @property
    def orders(self) -> OrderRepository: ...
    @property
    def auto_invest(self) -> AutoInvestRuleRepository: ...
    @property
    def rebalancing(self) -> RebalancingRuleRepository: ...
    @property
    def proposals(self) -> ProposalRepository: ...
    @property
    def logs(self) -> ExecutionLogRepository: ...
    @property
    def triggers(self) -> TriggerOrderRepository: ...
    @property
    def attempts(self) -> AttemptRepository: ...
    @property
    def keys(self) -> ApiKeyRepository: ...
    @property
    def audit(self) -> AuditRepository: ...
    @property
    def limits(self) -> RateLimitRepository: ...
    @property
    def workers(self) -> WorkerRepository: ...
    @property
    def stats(self) -> StatsRepository: ...
    @property
    def webhooks(self) -> WebhookRepository: ...
    @property
    def price_feed(self) -> PriceFeedRepository: ...

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` once this unit of work has committed (never if it rolls back)."""
        ...


class UnitOfWorkFactory(Protocol):
    """Each call opens a new transaction: ``with uow() as unit: ...``.

    ``uow(read_only=True)`` is a transaction that only reads: it never waits for a writer (on
    SQLite it takes no write lock, so a long pass never holds up a page that only reads) and the
    database refuses a write in it (PostgreSQL's READ ONLY transactions).
    """

    def __call__(self, *, read_only: bool = False) -> AbstractContextManager[UnitOfWork]: ...


class StorageError(Exception):
    """The database could not do what a unit of work asked; nothing of it was committed."""


class DatabaseUnavailable(StorageError):
    """The database cannot be reached, or the connection was lost: try again later."""


class Refusal(StrEnum):
    BUSY = "busy"
    """A lock timeout, a deadlock, a serialization failure, SQLite's "database is locked"."""
    OUT_OF_RANGE = "out_of_range"
    """A value does not fit its column (an amount of 10^24)."""
    REFUSED = "refused"
    """A constraint, a trigger or anything else the database raised for these rows."""


class RefusedByDatabase(StorageError):
    """The database refused the unit of work's statements (see :class:`Refusal`): the rows it was
    writing, not the connection, are at fault, so the same work may succeed without them."""

    def __init__(self, message: str, refusal: Refusal) -> None:
        super().__init__(message)
        self.refusal = refusal


__all__ = [
    "Broker",
    "Clock",
    "DatabaseUnavailable",
    "FixedClock",
    "Refusal",
    "RefusedByDatabase",
    "StorageError",
    "SystemClock",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "market_today",
]
