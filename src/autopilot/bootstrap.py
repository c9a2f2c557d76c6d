"""The one place where adapters are built and wired (DESIGN §2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine

from autopilot.brokers.paper import PaperBroker
from autopilot.config import Settings
from autopilot.domain.auto_invest.rule import AutoInvestRule
from autopilot.domain.calendar import TradingCalendar
from autopilot.market.calendar import market_calendar
from autopilot.services.audit import AuditTrail
from autopilot.services.auto_invest.execution import AutoInvestExecution, AutoInvestPolicy
from autopilot.services.auto_invest.rules import AutoInvestRuleService
from autopilot.services.execution.driver import DriverPolicy, PassDriver, Runner
from autopilot.services.execution.passes import PassService
from autopilot.services.execution_logs import ExecutionLogService
from autopilot.services.keys import ApiKeyService
from autopilot.services.limits import RateLimiter
from autopilot.services.operations import OperationsService
from autopilot.services.orders import OrderService
from autopilot.services.platform import PlatformService
from autopilot.services.ports import Broker, Clock, SystemClock, UnitOfWorkFactory
from autopilot.services.rebalancing.due import DueRule
from autopilot.services.rebalancing.execution import RebalancingExecution, RebalancingPolicy
from autopilot.services.rebalancing.proposals import ProposalService
from autopilot.services.rebalancing.rules import RebalancingRuleService
from autopilot.services.sessions import SessionService
from autopilot.services.triggers.evaluation import TriggerEvaluator
from autopilot.services.triggers.firing import TriggerPolicy
from autopilot.services.triggers.orders import TriggerOrderService
from autopilot.services.triggers.routing import PriceRouting
from autopilot.services.webhooks import Dispatcher, Sender, WebhookService
from autopilot.services.workers import WorkerService
from autopilot.storage.db import is_sqlite, make_engine
from autopilot.storage.unit_of_work import UnitOfWorkFactory as SqlUnitOfWorkFactory
from autopilot.storage.wakeups import PriceWakeups
from autopilot.webhook_sender import UrllibSender


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    settings: Settings
    engine: Engine | None
    """The SQL engine; None on the in-memory store."""
    uow: UnitOfWorkFactory
    clock: Clock
    calendar: TradingCalendar
    broker: Broker
    driver: PassDriver
    auto_invest: Runner[AutoInvestRule]
    rules: AutoInvestRuleService
    orders: OrderService
    platform: PlatformService
    logs: ExecutionLogService
    rebalancing: Runner[DueRule]
    rebalancing_rules: RebalancingRuleService
    proposals: ProposalService
    triggers: TriggerEvaluator
    routing: PriceRouting
    """Who evaluates the prices this process stores: itself, or the live workers."""
    trigger_orders: TriggerOrderService
    passes: PassService
    keys: ApiKeyService
    sessions: SessionService
    operations: OperationsService
    limiter: RateLimiter
    audit: AuditTrail
    workers: WorkerService
    webhooks: WebhookService
    dispatcher: Dispatcher

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    broker: Broker | None = None,
    uow: UnitOfWorkFactory | None = None,
    sender: Sender | None = None,
) -> Services:
    """Wire the services for `settings`. The caller owns the result and calls `close()`.

    The store is the database at ``DATABASE_URL`` unless a unit of work is given (tests hand in
    :class:`~autopilot.storage.memory.InMemoryStore`); the broker is the paper broker on the
    same store unless another one is given (tests hand in ``InMemoryBroker``).
    """
    clock = clock or SystemClock()
    engine = None
    if uow is None:
        engine = make_engine(settings.database_url)
        uow = SqlUnitOfWorkFactory(engine)
    calendar = market_calendar(settings.automation_market_calendar)
    zone = settings.zone
    broker = broker if broker is not None else PaperBroker(uow=uow, clock=clock)
    driver = PassDriver(
        uow=uow,
        broker=broker,
        clock=clock,
        policy=DriverPolicy(
            batch_size=settings.automation_batch_size,
            max_attempts=settings.automation_max_attempts,
            lanes=1 if engine is None or is_sqlite(engine) else settings.automation_pass_lanes,
        ),
    )
    auto_invest = Runner(
        driver=driver,
        automation=AutoInvestExecution(
            clock=clock,
            policy=AutoInvestPolicy(
                calendar=calendar,
                catch_up=settings.automation_catch_up,
                min_order_amount=settings.automation_min_order_amount,
            ),
        ),
        heading="Processing auto-invest rules...",
    )
    rebalancing = Runner(
        driver=driver,
        automation=RebalancingExecution(
            uow=uow,
            clock=clock,
            policy=RebalancingPolicy(
                calendar=calendar,
                zone=zone,
                proposal_ttl=timedelta(hours=settings.automation_proposal_ttl_hours),
            ),
        ),
        heading="Processing rebalancing rules...",
    )
    triggers = TriggerEvaluator(
        uow=uow, driver=driver, clock=clock, policy=TriggerPolicy(zone=zone)
    )
    keys = ApiKeyService(uow=uow, clock=clock)
    lease = timedelta(seconds=settings.automation_worker_lease)
    routing = PriceRouting(
        uow=uow,
        evaluator=triggers,
        clock=clock,
        lease=lease,
        shared=engine is not None and engine.dialect.name == "postgresql",
    )
    return Services(
        settings=settings,
        engine=engine,
        uow=uow,
        clock=clock,
        calendar=calendar,
        broker=broker,
        driver=driver,
        auto_invest=auto_invest,
        rules=AutoInvestRuleService(uow=uow, clock=clock, calendar=calendar, zone=zone),
        orders=OrderService(uow=uow, broker=broker, clock=clock, zone=zone),
        platform=PlatformService(
            uow=uow,
            broker=broker,
            clock=clock,
            on_prices=routing,
        ),
        logs=ExecutionLogService(uow=uow),
        rebalancing=rebalancing,
        rebalancing_rules=RebalancingRuleService(
            uow=uow, clock=clock, calendar=calendar, zone=zone
        ),
        proposals=ProposalService(uow=uow, broker=broker, clock=clock),
        triggers=triggers,
        routing=routing,
        trigger_orders=TriggerOrderService(uow=uow, clock=clock, zone=zone, evaluator=triggers),
        passes=PassService(
            uow=uow,
            broker=broker,
            clock=clock,
            zone=zone,
            auto_invest=auto_invest,
            rebalancing=rebalancing,
            triggers=triggers,
        ),
        keys=keys,
        sessions=SessionService(uow=uow, clock=clock, keys=keys),
        operations=OperationsService(uow=uow, clock=clock),
        limiter=RateLimiter(uow=uow, clock=clock),
        audit=AuditTrail(uow=uow, clock=clock),
        webhooks=WebhookService(uow=uow, clock=clock),
        dispatcher=Dispatcher(uow=uow, clock=clock, sender=sender or UrllibSender()),
        workers=WorkerService(uow=uow, lease=lease),
    )


def price_wakeups(settings: Settings) -> PriceWakeups:
    """A worker's LISTEN connection for the API processes' price NOTIFYs (PostgreSQL)."""
    return PriceWakeups(settings.database_url)
