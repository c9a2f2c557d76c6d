"""The records services and their callers exchange with storage: plain, frozen data.

The storage adapters build them from rows; services, the broker and the API read them. They live
here, beside the ports, so that nothing above storage imports the storage layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from autopilot.domain.auto_invest.rule import AutoInvestRule
from autopilot.domain.orders import Order
from autopilot.domain.rebalancing.rule import RebalancingRule
from autopilot.domain.triggers.conditions import Trigger
from autopilot.domain.triggers.order import OrderTemplate


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleRecord:
    """A rule with the timestamps the API shows."""

    rule: AutoInvestRule
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class RebalancingRuleRecord:
    """A rebalancing rule with the timestamps the API shows."""

    rule: RebalancingRule
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class DueCursor:
    """Where a pass has got to in (next_execution_date, id) order; rules before it are done."""

    next_execution_date: date
    id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientRecord:
    id: int
    name: str
    email: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountRecord:
    id: int
    client_id: int
    currency: str
    cash: Decimal
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionRecord:
    symbol: str
    quantity: Decimal
    cost_basis: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityRecord:
    symbol: str
    tradable: bool
    fractionable: bool
    last_price: Decimal | None
    last_price_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRecord:
    """An order as stored, with its fill and its source."""

    order: Order
    client_id: int
    filled_quantity: Decimal | None
    filled_price: Decimal | None
    filled_amount: Decimal | None
    reject_reason: str | None
    automation_type: str | None
    automation_id: str | None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    filled_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewOrder:
    order: Order
    client_id: int
    automation_type: str | None = None
    automation_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEntry:
    automation_type: str
    automation_id: str
    client_id: int
    execution_date: date
    status: str
    message: str
    triggered_by: str
    attempt: int
    started_at: datetime
    finished_at: datetime | None = None  # None: the moment the row is written
    order_ids: tuple[str, ...] = ()
    error: str | None = None
    details: dict[str, Any] | None = field(default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class LogRecord:
    id: int
    entry: LogEntry
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class LogFilter:
    client_id: int | None = None
    automation_type: str | None = None
    automation_id: str | None = None
    status: str | None = None
    date_from: date | None = None
    date_to: date | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerOrderRecord:
    """A trigger order as stored: its evaluation state, the order it places, and its outcome.

    A trailing stop's mark travels inside ``trigger.condition``.
    """

    trigger: Trigger
    client_id: int
    order: OrderTemplate
    triggered_at: datetime | None = None
    trigger_price: Decimal | None = None
    order_id: str | None = None
    failure_reason: str | None = None
    created_at: datetime
    updated_at: datetime
