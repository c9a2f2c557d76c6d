"""The unit of work: one transaction, and the repositories that share it.

A driver's error never leaves here: :func:`translate` turns it into the project's own
:class:`~autopilot.services.ports.DatabaseUnavailable` or
:class:`~autopilot.services.ports.RefusedByDatabase`, the original chained as its cause.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DataError, DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from autopilot.services.ports import DatabaseUnavailable, Refusal, RefusedByDatabase, StorageError
from autopilot.services.ports import UnitOfWorkFactory as PortFactory
from autopilot.storage.after_commit import run_after_commit
from autopilot.storage.attempts_repo import Attempts
from autopilot.storage.auto_invest_repo import AutoInvestRules
from autopilot.storage.db import (
    READ_ONLY,
    SQLITE_BUSY_TIMEOUT_MS,
    is_busy,
    is_sqlite,
    is_unreachable,
)
from autopilot.storage.logs_repo import ExecutionLogs
from autopilot.storage.orders_repo import Orders
from autopilot.storage.platform_repo import Accounts, Clients, Market
from autopilot.storage.price_feed_repo import PriceFeed
from autopilot.storage.rebalancing_repo import RebalancingProposals, RebalancingRules
from autopilot.storage.security_repo import ApiKeys, AuditEvents, RateLimits
from autopilot.storage.stats_repo import Stats
from autopilot.storage.trigger_repo import TriggerOrders
from autopilot.storage.webhooks_repo import Webhooks
from autopilot.storage.workers_repo import Workers
from autopilot.storage.write_gate import WriteGate


class UnitOfWork:
    """Repositories over one connection in one transaction; commit on success, else roll back."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.clients = Clients(connection)
        self.accounts = Accounts(connection)
        self.market = Market(connection)
        self.orders = Orders(connection)
        self.auto_invest = AutoInvestRules(connection)
        self.rebalancing = RebalancingRules(connection)
        self.proposals = RebalancingProposals(connection)
        self.logs = ExecutionLogs(connection)
        self.triggers = TriggerOrders(connection)
        self.attempts = Attempts(connection)
        self.keys = ApiKeys(connection)
        self.audit = AuditEvents(connection)
        self.limits = RateLimits(connection)
        self.workers = Workers(connection)
        self.stats = Stats(connection)
        self.webhooks = Webhooks(connection)
        self.price_feed = PriceFeed(connection)
        self.committed: list[Callable[[], None]] = []

    def after_commit(self, action: Callable[[], None]) -> None:
        self.committed.append(action)


class UnitOfWorkFactory:
    """Units of work on ``engine``. On SQLite this process's writers take turns in the order
    they came (:class:`~autopilot.storage.write_gate.WriteGate`); a read-only unit reads its
    snapshot without the write lock (WAL), so it waits for no writer at all."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._gate = WriteGate(SQLITE_BUSY_TIMEOUT_MS / 1000) if is_sqlite(engine) else None

    @contextmanager
    def __call__(self, *, read_only: bool = False) -> Iterator[UnitOfWork]:
        gate = None if read_only else self._gate
        if gate is not None and not gate.acquire():
            raise RefusedByDatabase(
                f"database is locked: no turn to write within {SQLITE_BUSY_TIMEOUT_MS} ms",
                Refusal.BUSY,
            )
        try:
            try:
                with self._transaction(read_only) as connection:
                    unit = UnitOfWork(connection)
                    yield unit
            except SQLAlchemyError as exc:
                raise translate(exc) from exc
        finally:
            if gate is not None:
                gate.release()
        run_after_commit(unit.committed)

    @contextmanager
    def _transaction(self, read_only: bool) -> Iterator[Connection]:
        if not read_only:
            with self.engine.begin() as connection:
                yield connection
            return
        with self.engine.connect() as connection:
            connection.execution_options(**{READ_ONLY: True})
            with connection.begin():
                if not is_sqlite(self.engine):
                    connection.exec_driver_sql("SET TRANSACTION READ ONLY")
                yield connection


def translate(exc: SQLAlchemyError) -> StorageError:
    """The project's exception for a database error: unavailable, or refused (busy, a value out
    of range, anything else the database raised for the statements)."""
    first = _first_line(exc)
    if isinstance(exc, PoolTimeout):
        return DatabaseUnavailable(f"no database connection free: {first}")
    if not isinstance(exc, DBAPIError):
        return RefusedByDatabase(first, Refusal.REFUSED)
    if is_unreachable(exc):
        return DatabaseUnavailable(first)
    if is_busy(exc):
        return RefusedByDatabase(first, Refusal.BUSY)
    if isinstance(exc, DataError):
        return RefusedByDatabase(first, Refusal.OUT_OF_RANGE)
    return RefusedByDatabase(first, Refusal.REFUSED)


def _first_line(exc: SQLAlchemyError) -> str:
    # Driver errors span lines (the statement, hints, links); the first says what went wrong.
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


if TYPE_CHECKING:  # mypy proves the SQL adapters implement the services' ports

    def _conforms(engine: Engine) -> PortFactory:
        return UnitOfWorkFactory(engine)
