"""Firing trigger orders on the pass driver (:mod:`autopilot.services.execution.driver`).

The evaluator's index says which triggers a price fires; :class:`FiredTriggers` pages through
them as the driver's work. Each fired trigger is claimed in the database with a conditional
update (``status = 'Active'``) in the transaction that writes its order (cash held for a buy),
cancels its OCO siblings (Active or Paused) and logs it. Several processes each keep their own
index: the claim is what makes a trigger fire once, and a claim that finds the row no longer
Active (fired elsewhere, paused, cancelled, expired) leaves it alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar
from zoneinfo import ZoneInfo

from autopilot.domain.orders import Order, OrderStatus, Side
from autopilot.domain.outcomes import AutomationType, OutcomeStatus
from autopilot.domain.triggers.conditions import TriggerStatus
from autopilot.domain.triggers.order import order_at_fire
from autopilot.services.execution.driver import Automation, Batch, Claim, Work
from autopilot.services.ids import new_id
from autopilot.services.ports import Clock, UnitOfWork
from autopilot.services.records import TriggerOrderRecord


@dataclass(frozen=True, slots=True)
class Fired:
    """A trigger the index fired, at the (tick) price and moment of the update that fired it."""

    trigger_id: str
    price: Decimal
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerPolicy:
    zone: ZoneInfo
    """The market's zone: a fire's log row is dated in it."""


@dataclass(slots=True)
class _Book:
    """What the fires of one batch share, read and locked once: the triggers with their OCO
    groups, the accounts' cash and holdings, and the latest prices."""

    locked: dict[str, TriggerOrderRecord]
    cash: dict[int, Decimal]
    held: dict[tuple[int, str], Decimal]
    latest: dict[str, Decimal] = field(default_factory=dict)


class FiredTriggers(Automation[Fired]):
    """One evaluation's fired triggers; ``fired`` counts those that fired here (Triggered or
    Failed), ``closed`` every trigger this evaluation took out of Active."""

    automation_type: ClassVar[AutomationType] = AutomationType.TRIGGER_ORDER
    subject: ClassVar[str] = "Trigger order"

    def __init__(self, fired: Sequence[Fired], *, clock: Clock, policy: TriggerPolicy) -> None:
        self._fired = list(fired)
        self._first = {f.trigger_id: f for f in reversed(self._fired)}
        self._clock = clock
        self._zone = policy.zone
        self.fired = 0
        self.closed: set[str] = set()
        self._closing: set[str] = set()  # closed by the batch in hand, once it commits

    @property
    def trigger_ids(self) -> list[str]:
        return [f.trigger_id for f in self._fired]

    def claim(
        self,
        uow: UnitOfWork,
        today: date,
        page: object | None,
        limit: int,
        client_id: int | None = None,
    ) -> Claim[Fired]:
        self._closing = set()  # every batch's transaction starts with its claim
        start = page if isinstance(page, int) else 0
        chunk = self._fired[start : start + limit]
        more = start + limit < len(self._fired)
        return Claim(self._work(uow, chunk), start + limit if more else None)

    def claim_one(
        self, uow: UnitOfWork, automation_id: str, today: date, *, forced: bool
    ) -> list[Work[Fired]]:
        self._closing = set()
        first = self._first.get(automation_id)
        return [] if first is None else self._work(uow, [first])

    def decide(
        self, uow: UnitOfWork, work: Sequence[Work[Fired]], today: date, batch: Batch
    ) -> None:
        book = self._book(uow, work)
        now = self._clock.now()
        for item in work:
            fired = item.item
            record = book.locked.get(fired.trigger_id)
            if record is None or not uow.triggers.claim(fired.trigger_id, fired.price, now):
                continue  # claimed elsewhere, paused, cancelled or expired: no fire here
            batch.executing(item)
            self._fire(uow, item, record, book, batch)

    def committed(self, batch: Batch) -> None:
        # Counted once committed: a batch the database refused is executed again one by one.
        self.closed |= self._closing
        self.fired += sum(
            1
            for o in batch.outcomes
            if o.status is OutcomeStatus.SUCCESS
            or (
                o.status is OutcomeStatus.FAILED
                and (o.automation_id, o.entry.execution_date) not in batch.errors
            )
        )

    def give_up(self, uow: UnitOfWork, work: Work[Fired], today: date) -> None:
        now = self._clock.now()
        trigger_id = work.automation_id
        if uow.triggers.claim(trigger_id, work.item.price, now):
            uow.triggers.set_outcome(
                trigger_id, now, order_id=None, failure="gave up: its writes were refused"
            )
            self._closing.add(trigger_id)

    def _work(self, uow: UnitOfWork, fired: Sequence[Fired]) -> list[Work[Fired]]:
        known = uow.triggers.many(f.trigger_id for f in fired)
        return [
            Work(
                item=f,
                automation_id=f.trigger_id,
                client_id=known[f.trigger_id].client_id,
                occurrence=f.at.astimezone(self._zone).date(),
            )
            for f in fired
            if f.trigger_id in known
        ]

    def _book(self, uow: UnitOfWork, work: Sequence[Work[Fired]]) -> _Book:
        ids = [w.automation_id for w in work]
        known = uow.triggers.many(ids)
        groups = {(r.client_id, r.trigger.oco_group) for r in known.values() if r.trigger.oco_group}
        locked = uow.triggers.lock_for_fire(ids, [(c, g) for c, g in groups if g is not None])
        fired = [r for r in locked.values() if r.trigger.id in known]
        holdings = uow.accounts.holdings((r.trigger.account_id, r.trigger.symbol) for r in fired)
        quotes = uow.market.quotes(r.trigger.symbol for r in fired)
        return _Book(
            locked=locked,
            cash=uow.accounts.lock_available(r.trigger.account_id for r in fired),
            held={k: p.quantity for k, p in holdings.items()},
            latest={s: q.price for s, q in quotes.items() if q.price is not None},
        )

    def _fire(
        self,
        uow: UnitOfWork,
        item: Work[Fired],
        record: TriggerOrderRecord,
        book: _Book,
        batch: Batch,
    ) -> None:
        trigger = record.trigger
        now = self._clock.now()
        self._closing.add(trigger.id)
        siblings = [
            r.trigger.id
            for r in book.locked.values()
            if trigger.oco_group is not None
            and r.client_id == record.client_id
            and r.trigger.oco_group == trigger.oco_group
            and r.trigger.id != trigger.id
        ]
        cancelled = uow.triggers.close_open(siblings, TriggerStatus.CANCELLED, now)
        self._closing.update(cancelled)
        key = (trigger.account_id, trigger.symbol)
        # The broker fills at the latest stored price, which a later tick of the same update
        # may have moved past the firing price: a buy holds cash for the higher of the two.
        price = max(item.item.price, book.latest.get(trigger.symbol, item.item.price))
        outcome = order_at_fire(
            record.order,
            held=book.held.get(key, Decimal(0)),
            cash=book.cash.get(trigger.account_id, Decimal(0)),
            price=price,
        )
        details: dict[str, object] = {"price": str(item.item.price), "cancelled": cancelled}
        occurrence = batch.occurrence(item)
        if isinstance(outcome, str):
            uow.triggers.set_outcome(trigger.id, now, order_id=None, failure=outcome)
            batch.add(
                occurrence.outcome(
                    OutcomeStatus.FAILED, "trigger failed", error=outcome, details=details
                )
            )
            return
        order = Order(
            id=new_id("ORD", item.occurrence),
            account_id=trigger.account_id,
            symbol=trigger.symbol,
            side=record.order.side,
            order_type=record.order.order_type,
            quantity=outcome.quantity,
            notional=outcome.notional,
            limit_price=record.order.limit_price,
            reserved_amount=outcome.reserve,
            status=OrderStatus.PENDING,
        )
        book.cash[trigger.account_id] = (
            book.cash.get(trigger.account_id, Decimal(0)) - outcome.reserve
        )
        if order.side is Side.SELL and outcome.quantity is not None:
            book.held[key] = book.held.get(key, Decimal(0)) - outcome.quantity
        uow.triggers.set_outcome(trigger.id, now, order_id=order.id, failure=None)
        message = f"fired at {item.item.price}; order {order.id} placed"
        batch.add(
            occurrence.outcome(OutcomeStatus.SUCCESS, message, orders=[order], details=details)
        )
