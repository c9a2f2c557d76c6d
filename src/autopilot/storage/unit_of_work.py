"""The unit of work: one transaction, and the repositories that share it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from autopilot.storage.auto_invest_repo import AutoInvestRules
from autopilot.storage.logs_repo import ExecutionLogs
from autopilot.storage.orders_repo import Orders
from autopilot.storage.platform_repo import Accounts, Clients, Market
from autopilot.storage.rebalancing_repo import RebalancingProposals, RebalancingRules
from autopilot.storage.trigger_repo import TriggerOrders


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


class UnitOfWorkFactory:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def __call__(self) -> Iterator[UnitOfWork]:
        with self.engine.begin() as connection:
            yield UnitOfWork(connection)
