"""The in-memory unit of work and its factory."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from autopilot.services.ports import UnitOfWorkFactory
from autopilot.storage.after_commit import run_after_commit
from autopilot.storage.memory.logs import MemoryAttempts, MemoryExecutionLogs
from autopilot.storage.memory.orders import MemoryOrders
from autopilot.storage.memory.platform import (
    MemoryAccounts,
    MemoryClients,
    MemoryMarket,
    MemoryPriceFeed,
)
from autopilot.storage.memory.rules import (
    MemoryAutoInvestRules,
    MemoryProposals,
    MemoryRebalancingRules,
)
from autopilot.storage.memory.security import MemoryApiKeys, MemoryAuditEvents, MemoryRateLimits
from autopilot.storage.memory.stats import MemoryStats
from autopilot.storage.memory.tables import Tables
from autopilot.storage.memory.triggers import MemoryTriggerOrders
from autopilot.storage.memory.webhooks import MemoryWebhooks
from autopilot.storage.memory.workers import MemoryWorkers


class InMemoryUnitOfWork:
    """The repositories over one transaction's copy of the tables."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self.clients = MemoryClients(tables)
        self.accounts = MemoryAccounts(tables)
        self.market = MemoryMarket(tables)
        self.orders = MemoryOrders(tables)
        self.auto_invest = MemoryAutoInvestRules(tables)
        self.rebalancing = MemoryRebalancingRules(tables)
        self.proposals = MemoryProposals(tables)
        self.logs = MemoryExecutionLogs(tables)
        self.triggers = MemoryTriggerOrders(tables)
        self.attempts = MemoryAttempts(tables)
        self.keys = MemoryApiKeys(tables)
        self.audit = MemoryAuditEvents(tables)
        self.limits = MemoryRateLimits(tables)
        self.workers = MemoryWorkers(tables)
        self.stats = MemoryStats(tables)
        self.webhooks = MemoryWebhooks(tables)
        self.price_feed = MemoryPriceFeed(tables)
        self.committed: list[Callable[[], None]] = []

    def after_commit(self, action: Callable[[], None]) -> None:
        self.committed.append(action)


class InMemoryStore:
    """A unit-of-work factory over tables in memory: one transaction at a time; a transaction
    that raises leaves the tables as they were."""

    def __init__(self) -> None:
        self._tables = Tables()
        self._lock = threading.RLock()

    @contextmanager
    def __call__(self, *, read_only: bool = False) -> Iterator[InMemoryUnitOfWork]:
        with self._lock:
            work = self._tables.copy()
            unit = InMemoryUnitOfWork(work)
            yield unit
            self._tables = work
        run_after_commit(unit.committed)

    def count(self, table: str) -> int:
        """How many rows a table holds (as ``SELECT count(*)`` would say)."""
        with self._lock:
            rows: object = getattr(self._tables, table)
            assert isinstance(rows, dict | list)
            return len(rows)


if TYPE_CHECKING:  # mypy proves the store implements the services' ports
    _conforms: UnitOfWorkFactory = InMemoryStore()
