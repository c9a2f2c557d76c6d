"""Outcomes of occurrences, and the one step that writes them (DESIGN §4, §5).

An :class:`Outcome` is one execution-log row and the orders it placed. :func:`record_outcomes`
is the only writer of execution-log rows: every automation's pass, a proposal's approval,
rejection or expiry, a trigger's expiry. What must reach every execution (the audit trail,
metrics, the webhook outbox) hooks in there, once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from autopilot.domain.money import ZERO
from autopilot.domain.orders import Order, OrderStatus
from autopilot.domain.outcomes import AutomationType, OutcomeStatus
from autopilot.services import telemetry
from autopilot.services.ports import UnitOfWork
from autopilot.services.records import LogEntry, NewOrder
from autopilot.services.webhooks import enqueue_executions


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """One execution-log row (``entry``) and the orders it placed, in the order placed."""

    entry: LogEntry
    orders: tuple[Order, ...] = ()

    @property
    def automation_id(self) -> str:
        return self.entry.automation_id

    @property
    def status(self) -> OutcomeStatus:
        return self.entry.status


@dataclass(frozen=True, slots=True, kw_only=True)
class Occurrence:
    """One occurrence of one automation and who executes it: what its log rows share."""

    automation_type: AutomationType
    automation_id: str
    client_id: int
    day: date
    triggered_by: str
    started_at: datetime

    def on(self, day: date) -> Occurrence:
        """The same automation's occurrence of another day (auto-invest's catch-up)."""
        return Occurrence(
            automation_type=self.automation_type,
            automation_id=self.automation_id,
            client_id=self.client_id,
            day=day,
            triggered_by=self.triggered_by,
            started_at=self.started_at,
        )

    def outcome(
        self,
        status: OutcomeStatus,
        message: str,
        *,
        orders: Sequence[Order] = (),
        details: dict[str, Any] | None = None,
        error: str | None = None,
        attempt: int = 1,
        no_op: bool = False,
        finished_at: datetime | None = None,
    ) -> Outcome:
        entry = LogEntry(
            automation_type=self.automation_type,
            automation_id=self.automation_id,
            client_id=self.client_id,
            execution_date=self.day,
            status=status,
            message=message,
            triggered_by=self.triggered_by,
            attempt=attempt,
            started_at=self.started_at,
            finished_at=finished_at,
            order_ids=tuple(o.id for o in orders),
            error=error,
            details=details,
            no_op=no_op,
        )
        return Outcome(entry=entry, orders=tuple(orders))


def record_outcomes(uow: UnitOfWork, outcomes: Sequence[Outcome], now: datetime) -> None:
    """Write the outcomes in the caller's transaction: each one's orders ``Pending`` with the
    cash their buys need held on the account, then its log row.

    The log's outcome key refuses a second outcome of an occurrence, which rolls the whole
    transaction back (:class:`~autopilot.services.ports.RefusedByDatabase`): exactly once.
    """
    if not outcomes:
        return
    orders = [
        NewOrder(
            order=order,
            client_id=o.entry.client_id,
            automation_type=o.entry.automation_type,
            automation_id=o.entry.automation_id,
        )
        for o in outcomes
        for order in o.orders
    ]
    uow.orders.add_many(orders, now)
    uow.accounts.hold(holds(n.order for n in orders), now)
    entries = [o.entry for o in outcomes]
    uow.logs.add_many(entries, now)
    enqueue_executions(uow, entries, now)  # the webhooks' outbox, in the same transaction
    uow.after_commit(lambda: telemetry.sink().executions(entries, now))
    written = [OrderStatus.PENDING] * len(orders)
    uow.after_commit(lambda: telemetry.sink().orders(written))


def holds(orders: Iterable[Order]) -> dict[int, Decimal]:
    """The cash the orders hold, by account."""
    held: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for order in orders:
        if order.reserved_amount:
            held[order.account_id] += order.reserved_amount
    return dict(held)


def placed(outcomes: Iterable[Outcome]) -> list[Order]:
    """Every order the outcomes placed, in order: what the after-commit stage submits."""
    return [order for o in outcomes for order in o.orders]
