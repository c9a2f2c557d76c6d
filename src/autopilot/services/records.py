"""The records services and their callers exchange with storage: plain, frozen data.

The storage adapters build them from rows; services, the broker and the API read them. They live
here, beside the ports, so that nothing above storage imports the storage layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from autopilot.domain.auto_invest.rule import AutoInvestRule
from autopilot.domain.orders import Order, OrderStatus
from autopilot.domain.outcomes import AutomationType, OutcomeStatus
from autopilot.domain.rebalancing.rule import RebalancingRule
from autopilot.domain.triggers.conditions import Trigger
from autopilot.domain.triggers.order import OrderTemplate
from autopilot.services.access import Role


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
    """An account's cash, and the part of it held by its open buy orders (DESIGN §4)."""

    id: int
    client_id: int
    currency: str
    cash: Decimal
    created_at: datetime
    updated_at: datetime
    held: Decimal = Decimal("0.00")

    @property
    def available(self) -> Decimal:
        """What a new order may spend: cash less the holds of the orders in flight."""
        return self.cash - self.held


@dataclass(frozen=True, slots=True)
class Balance:
    """An account's cash and holds, as the broker changes them."""

    cash: Decimal
    held: Decimal

    @property
    def available(self) -> Decimal:
        return self.cash - self.held


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
    automation_type: AutomationType | None
    automation_id: str | None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    filled_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewOrder:
    order: Order
    client_id: int
    automation_type: AutomationType | None = None
    automation_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderChange:
    """A new status for an order, with its fill (Filled) or the broker's reason (Rejected)."""

    id: str
    status: OrderStatus
    filled_quantity: Decimal | None = None
    filled_price: Decimal | None = None
    filled_amount: Decimal | None = None
    reject_reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEntry:
    """One execution-log row (DESIGN §4).

    ``no_op`` marks a check that placed nothing and leaves its occurrence open (a rebalancing
    check that found nothing to trade): the outcome key does not count it, and a later check of
    the same day overwrites it instead of adding a row.
    """

    automation_type: AutomationType
    automation_id: str
    client_id: int
    execution_date: date
    status: OutcomeStatus
    message: str
    triggered_by: str
    attempt: int
    started_at: datetime
    finished_at: datetime | None = None  # None: the moment the row is written
    order_ids: tuple[str, ...] = ()
    error: str | None = None
    details: dict[str, Any] | None = field(default=None)
    no_op: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class LogRecord:
    id: int
    entry: LogEntry
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class LogFilter:
    client_id: int | None = None
    automation_type: AutomationType | None = None
    automation_id: str | None = None
    status: OutcomeStatus | None = None
    date_from: date | None = None
    date_to: date | None = None
    failures: bool = False
    """Only what went wrong: failed attempts, and the occurrences given up after them."""


GAVE_UP = "gave up after"
"""How the log message of an occurrence given up after its failed attempts starts."""


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

    @property
    def id(self) -> str:
        return self.trigger.id


@dataclass(frozen=True, slots=True, kw_only=True)
class FailedAttempts:
    """The failed attempts so far at one occurrence of an automation that has no outcome yet.

    Kept until the occurrence has an outcome (executed, skipped, given up): an attempt at a later
    occurrence starts again from zero.
    """

    automation_type: AutomationType
    automation_id: str
    client_id: int
    occurrence: date
    count: int
    last_error: str

    def before(self, occurrence: date) -> int:
        """How many attempts at ``occurrence`` have failed (0 if these were at another)."""
        return self.count if occurrence == self.occurrence else 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKeyRecord:
    """An API key as stored: everything but the key, of which only a hash is kept."""

    id: int
    name: str
    role: Role
    client_id: int | None
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def valid_at(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent:
    """One row of the audit trail: who did (or was refused) what, to what, and what changed."""

    at: datetime
    actor_key_id: int | None
    actor_name: str
    actor_role: str
    actor_client_id: int | None
    action: str
    resource_type: str | None
    resource_id: str | None
    client_id: int | None
    outcome: str  # "success", "refused" (401/403/404 by isolation/429) or "failed"
    status_code: int
    request_id: str | None = None
    address: str | None = None
    user_agent: str | None = None
    changes: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    id: int
    event: AuditEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditFilter:
    actor_key_id: int | None = None
    action: str | None = None
    resource_id: str | None = None
    client_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


class WorkerState(StrEnum):
    ALIVE = "alive"
    DEAD = "dead"  # no heartbeat within the lease: its work is taken over
    STOPPED = "stopped"  # shut down cleanly


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerRecord:
    id: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    holds: str | None

    def state(self, now: datetime, lease: timedelta) -> WorkerState:
        if self.stopped_at is not None:
            return WorkerState.STOPPED
        return WorkerState.DEAD if self.heartbeat_at < now - lease else WorkerState.ALIVE


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredPrice:
    """A price as the feed gives it back: its row id (the order it was stored in), symbol,
    price and as-of."""

    id: int
    symbol: str
    price: Decimal
    as_of: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class OperationsCounts:
    """What is waiting, read at scrape time: the due backlog, approvals, active triggers."""

    due_auto_invest: int
    due_rebalancing: int  # due by schedule (drift is known only once a check measures it)
    pending_approvals: int
    active_triggers: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HourlyCount:
    """Execution-log rows of one status written in the hour starting at ``hour`` (UTC)."""

    hour: datetime
    status: OutcomeStatus
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookSubscription:
    id: int
    url: str
    events: tuple[str, ...]
    secret: str  # whsec_…: signs every delivery; shown once, at creation
    created_at: datetime
    failing_since: datetime | None = None
    disabled_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookDelivery:
    """One event for one subscription: the outbox row, and its state."""

    id: str  # msg_…, the webhook-id header (the receiver's idempotency key)
    subscription_id: int
    event: str
    payload: str  # the body, exactly as signed
    status: str  # Pending | Delivered | Failed
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookAttempt:
    delivery_id: str
    subscription_id: int
    event: str
    attempt: int
    at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None
