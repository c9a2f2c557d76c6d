"""The one place where adapters are built and wired (DESIGN §2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine

from autopilot.brokers.paper import PaperBroker
from autopilot.config import Settings
from autopilot.domain.calendar import TradingCalendar
from autopilot.market.calendar import market_calendar
from autopilot.services.auto_invest.execution import AutoInvestExecutor, ExecutionPolicy
from autopilot.services.auto_invest.rules import AutoInvestRuleService
from autopilot.services.execution_logs import ExecutionLogService
from autopilot.services.orders import OrderService
from autopilot.services.platform import PlatformService
from autopilot.services.ports import Broker, Clock, SystemClock
from autopilot.services.rebalancing.execution import RebalancingExecutor
from autopilot.services.rebalancing.proposals import ProposalService
from autopilot.services.rebalancing.rules import RebalancingRuleService
from autopilot.services.triggers.evaluation import TriggerEvaluator
from autopilot.services.triggers.orders import TriggerOrderService
from autopilot.storage.db import make_engine
from autopilot.storage.unit_of_work import UnitOfWorkFactory


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    settings: Settings
    engine: Engine
    uow: UnitOfWorkFactory
    clock: Clock
    calendar: TradingCalendar
    broker: Broker
    auto_invest: AutoInvestExecutor
    rules: AutoInvestRuleService
    orders: OrderService
    platform: PlatformService
    logs: ExecutionLogService
    rebalancing: RebalancingExecutor
    rebalancing_rules: RebalancingRuleService
    proposals: ProposalService
    triggers: TriggerEvaluator
    trigger_orders: TriggerOrderService

    def close(self) -> None:
        self.engine.dispose()


def build(
    settings: Settings, *, clock: Clock | None = None, broker: Broker | None = None
) -> Services:
    """Wire the services for `settings`. The caller owns the result and calls `close()`.

    The broker is the paper broker on the same database unless another one is given (tests hand
    in `InMemoryBroker`).
    """
    clock = clock or SystemClock()
    engine = make_engine(settings.database_url)
    uow = UnitOfWorkFactory(engine)
    calendar = market_calendar(settings.automation_market_calendar)
    broker = broker if broker is not None else PaperBroker(uow=uow, clock=clock)
    triggers = TriggerEvaluator(uow=uow, broker=broker, clock=clock, zone=settings.zone)
    policy = ExecutionPolicy(
        calendar=calendar,
        catch_up=settings.automation_catch_up,
        min_order_amount=settings.automation_min_order_amount,
        max_attempts=settings.automation_max_attempts,
        batch_size=settings.automation_batch_size,
    )
    return Services(
        settings=settings,
        engine=engine,
        uow=uow,
        clock=clock,
        calendar=calendar,
        broker=broker,
        auto_invest=AutoInvestExecutor(uow=uow, broker=broker, clock=clock, policy=policy),
        rules=AutoInvestRuleService(uow=uow, clock=clock, calendar=calendar, zone=settings.zone),
        orders=OrderService(uow=uow, broker=broker, clock=clock, zone=settings.zone),
        platform=PlatformService(
            uow=uow,
            broker=broker,
            clock=clock,
            on_prices=lambda updates: triggers.on_prices(updates, triggered_by="prices"),
        ),
        logs=ExecutionLogService(uow=uow),
        rebalancing=RebalancingExecutor(
            uow=uow,
            broker=broker,
            clock=clock,
            calendar=calendar,
            zone=settings.zone,
            batch_size=settings.automation_batch_size,
            proposal_ttl=timedelta(hours=settings.automation_proposal_ttl_hours),
            max_attempts=settings.automation_max_attempts,
        ),
        rebalancing_rules=RebalancingRuleService(
            uow=uow, clock=clock, calendar=calendar, zone=settings.zone
        ),
        proposals=ProposalService(uow=uow, broker=broker, clock=clock),
        triggers=triggers,
        trigger_orders=TriggerOrderService(
            uow=uow, clock=clock, zone=settings.zone, evaluator=triggers
        ),
    )
