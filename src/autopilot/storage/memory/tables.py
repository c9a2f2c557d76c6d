"""The in-memory tables: plain dicts of frozen records, copied whole at each transaction's start
(the records are immutable, so a shallow copy is a snapshot)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal

from autopilot.domain.rebalancing.rule import Proposal
from autopilot.services.ports import Refusal, RefusedByDatabase
from autopilot.services.records import (
    AccountRecord,
    ApiKeyRecord,
    AuditEvent,
    ClientRecord,
    FailedAttempts,
    LogRecord,
    OrderRecord,
    PositionRecord,
    RebalancingRuleRecord,
    RuleRecord,
    SecurityRecord,
    TriggerOrderRecord,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
    WorkerRecord,
)

CENTS = Decimal("0.01")
MICROS = Decimal("0.000001")  # prices and quantities: NUMERIC(20, 6) and NUMERIC(28, 6)
PERCENT = Decimal("0.0001")


def cash(value: Decimal) -> Decimal:
    """As a NUMERIC(20, 2) column gives it back."""
    return value.quantize(CENTS)


def micros(value: Decimal) -> Decimal:
    """As a NUMERIC(…, 6) column (prices, quantities) gives it back."""
    return value.quantize(MICROS)


def refused(message: str) -> RefusedByDatabase:
    return RefusedByDatabase(f"IntegrityError: {message}", Refusal.REFUSED)


@dataclass(slots=True)
class Tables:
    next_client: int = 1
    next_account: int = 1
    next_log: int = 1
    clients: dict[int, ClientRecord] = field(default_factory=dict)
    accounts: dict[int, AccountRecord] = field(default_factory=dict)
    positions: dict[tuple[int, str], PositionRecord] = field(default_factory=dict)
    securities: dict[str, SecurityRecord] = field(default_factory=dict)
    prices: list[tuple[str, Decimal, datetime]] = field(default_factory=list)
    orders: dict[str, OrderRecord] = field(default_factory=dict)
    auto_invest: dict[str, RuleRecord] = field(default_factory=dict)
    rebalancing: dict[str, RebalancingRuleRecord] = field(default_factory=dict)
    proposals: dict[str, Proposal] = field(default_factory=dict)
    logs: dict[int, LogRecord] = field(default_factory=dict)
    triggers: dict[str, TriggerOrderRecord] = field(default_factory=dict)
    trigger_changes: list[str] = field(default_factory=list)  # ids, in the order written
    attempts: dict[str, FailedAttempts] = field(default_factory=dict)
    next_key: int = 1
    keys: dict[int, ApiKeyRecord] = field(default_factory=dict)
    key_hashes: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, tuple[int, datetime, datetime | None]] = field(default_factory=dict)
    """token hash: (key id, expires at, ended at)"""
    audit: list[AuditEvent] = field(default_factory=list)
    hits: dict[tuple[str, int], int] = field(default_factory=dict)
    workers: dict[str, WorkerRecord] = field(default_factory=dict)
    webhooks: dict[int, WebhookSubscription] = field(default_factory=dict)
    deliveries: dict[str, WebhookDelivery] = field(default_factory=dict)
    webhook_attempts: list[WebhookAttempt] = field(default_factory=list)
    price_floors: dict[str, int] = field(default_factory=dict)  # symbol -> next unevaluated index

    def copy(self) -> Tables:
        """A snapshot: every table copied (its records are frozen and shared)."""
        snapshot = Tables()
        for f in fields(self):
            value = getattr(self, f.name)
            setattr(snapshot, f.name, value.copy() if isinstance(value, dict | list) else value)
        return snapshot
