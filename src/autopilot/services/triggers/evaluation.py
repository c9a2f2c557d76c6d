"""Evaluating trigger orders: on every price update as it arrives, and on each scheduler pass.

The evaluator keeps a :class:`~autopilot.domain.trigger_index.TriggerIndex` of the Active
triggers, built from the database on first use and kept in step with the creates, updates,
pauses, resumes and cancels of this process. A price update asks the index which triggers fire;
each is then claimed in the database with a conditional update (``status = 'Active'``) in the
transaction that writes its order (cash held for a buy), cancels its OCO siblings (Active or
Paused) and writes its log row. Several processes each keep their own index: the claim is what
makes a trigger fire once, and a claim that finds the row no longer Active (fired elsewhere,
paused, cancelled, expired) is skipped. Orders go to the broker after the commit.

Prices with more than 4 decimal places are rounded half-even to 4 before evaluation: the index
works in ticks of 0.0001 (see :mod:`autopilot.domain.triggers.conditions`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from autopilot.domain.orders import Order, OrderStatus, Side
from autopilot.domain.outcomes import OutcomeStatus
from autopilot.domain.triggers.conditions import OPEN_STATUSES, TICK, TriggerStatus
from autopilot.domain.triggers.index import TriggerIndex
from autopilot.domain.triggers.order import order_at_fire
from autopilot.services.execution.results import PREFIX, PassResult, RuleResult, announce
from autopilot.services.ids import new_id
from autopilot.services.ports import Broker, Clock, UnitOfWorkFactory
from autopilot.services.records import LogEntry, NewOrder, TriggerOrderRecord
from autopilot.services.submission import submit_committed

if TYPE_CHECKING:
    from autopilot.services.ports import UnitOfWork

log = logging.getLogger("autopilot.scheduler")
AUTOMATION_TYPE = "TriggerOrder"
PriceUpdate = tuple[str, Decimal, datetime]  # symbol, price, as of


@dataclass(frozen=True, slots=True)
class _Fired:
    trigger_id: str
    price: Decimal
    at: datetime


@dataclass(slots=True)
class _Writes:
    orders: list[NewOrder] = field(default_factory=list)
    logs: list[LogEntry] = field(default_factory=list)
    closed: set[str] = field(default_factory=set)  # no longer Active: drop from the index


def tick_price(price: Decimal) -> Decimal:
    """``price`` in the index's ticks of 0.0001 (half-even beyond 4 decimal places)."""
    return price.quantize(TICK, rounding=ROUND_HALF_EVEN)


class TriggerEvaluator:
    def __init__(
        self, *, uow: UnitOfWorkFactory, broker: Broker, clock: Clock, zone: ZoneInfo
    ) -> None:
        self._uow = uow
        self._broker = broker
        self._clock = clock
        self._zone = zone
        self._lock = threading.RLock()
        self._index: TriggerIndex | None = None
        self._next_expiry: datetime | None = None
        self._fired = 0

    # --- keeping the index in step ------------------------------------------------------

    def refresh(self, trigger_ids: Sequence[str]) -> None:
        """Bring the index in step with the committed rows of triggers this process created,
        edited, paused, resumed or cancelled: Active ones (re)indexed, the others dropped.

        The rows are read after the caller's commit and under the index's lock, so when two
        requests change one trigger at once the index ends as the last commit left the row,
        whichever request gets here first.
        """
        with self._lock:
            if self._index is None:
                return  # built from the database on first use, these included
            with self._uow() as uow:
                current = uow.triggers.many(trigger_ids)
            for trigger_id in trigger_ids:
                self._index.remove(trigger_id)
                record = current.get(trigger_id)
                if record is None or record.trigger.status not in OPEN_STATUSES:
                    continue
                self._note_expiry(record.trigger.expires_at)  # a Paused one expires too
                if record.trigger.status is TriggerStatus.ACTIVE:
                    self._index.add(record.trigger)

    def mark_of(self, trigger_id: str) -> Decimal | None:
        """The trailing mark this process holds for an indexed trigger (newer than the stored
        one until the next flush), or ``None``."""
        with self._lock:
            if self._index is None or trigger_id not in self._index:
                return None
            return self._index.mark_of(trigger_id)

    @property
    def fired(self) -> int:
        """How many triggers this evaluator has fired (Triggered or Failed) since it was built."""
        return self._fired

    # --- evaluation ---------------------------------------------------------------------

    def on_prices(self, updates: Sequence[PriceUpdate], *, triggered_by: str) -> PassResult:
        """Evaluate price updates in the order given: fire, claim, place, persist marks."""
        with self._lock:
            index = self._built()
            writes = self._expire(triggered_by)
            fired = [
                _Fired(trigger_id, price, at)
                for symbol, raw, at in updates
                for price in (tick_price(raw),)
                for trigger_id in index.on_price(symbol, price)
            ]
            self._commit(index, fired, triggered_by, writes)
        return self._finish(writes)

    def run_all(self, *, client_id: int | None, triggered_by: str) -> PassResult:
        """Evaluate every Active trigger (of one client) against the latest prices.

        The scheduler's pass (all clients) also rebuilds this process's index from the
        database, which brings in the triggers other processes created meanwhile.
        """
        log.info("%s Processing trigger orders...", PREFIX)
        with self._lock:
            writes = self._expire(triggered_by)
            with self._uow() as uow:
                records = uow.triggers.active(client_id=client_id)
                quotes = uow.market.quotes({r.trigger.symbol for r in records})
                next_expiry = uow.triggers.next_expiry()
            index = TriggerIndex(r.trigger for r in records)
            now = self._clock.now()
            fired = [
                _Fired(trigger_id, tick_price(q.price), now)
                for symbol, q in sorted(quotes.items())
                if q.price is not None
                for trigger_id in index.on_price(symbol, tick_price(q.price))
            ]
            self._commit(index, fired, triggered_by, writes)
            if client_id is None:
                self._index = index
                self._next_expiry = next_expiry
            elif self._index is not None:
                for trigger_id in writes.closed | {f.trigger_id for f in fired}:
                    self._index.remove(trigger_id)
        return self._finish(writes)

    # --- internals ----------------------------------------------------------------------

    def _built(self) -> TriggerIndex:
        if self._index is None:
            with self._uow() as uow:
                records = uow.triggers.active()
                # Paused triggers are not indexed, but they expire too.
                self._next_expiry = uow.triggers.next_expiry()
            self._index = TriggerIndex(r.trigger for r in records)
        return self._index

    def _note_expiry(self, at: datetime | None) -> None:
        if at is not None and (self._next_expiry is None or at < self._next_expiry):
            self._next_expiry = at

    def _expire(self, triggered_by: str) -> _Writes:
        """Active and Paused triggers past their expiry become Expired, each logged."""
        writes = _Writes()
        now = self._clock.now()
        if self._index is not None and (self._next_expiry is None or now < self._next_expiry):
            return writes
        with self._uow() as uow:
            due = uow.triggers.expiring(now)
            expired = set(
                uow.triggers.close_open([r.trigger.id for r in due], TriggerStatus.EXPIRED, now)
            )
            for r in due:
                if r.trigger.id in expired:
                    message = f"expired at {r.trigger.expires_at}"
                    writes.logs.append(
                        self._entry(
                            r, OutcomeStatus.SKIPPED, message, now, triggered_by=triggered_by
                        )
                    )
            uow.logs.add_many(writes.logs, now)
            self._next_expiry = uow.triggers.next_expiry()
        writes.closed |= expired
        if self._index is not None:
            for trigger_id in expired:
                self._index.remove(trigger_id)
        return writes

    def _commit(
        self, index: TriggerIndex, fired: list[_Fired], triggered_by: str, writes: _Writes
    ) -> None:
        marks = [(i, c.mark) for c in index.marks_changed_since_last_flush() for i in c.trigger_ids]
        if not fired and not marks:
            return
        try:
            with self._uow() as uow:
                uow.triggers.save_marks(marks, self._clock.now())
                self._claim(uow, fired, triggered_by, writes)
        except Exception:
            # Rolled back: nothing fired. Rebuild from the database on the next update.
            self._index = None
            raise
        for trigger_id in writes.closed:
            index.remove(trigger_id)

    def _claim(
        self, uow: UnitOfWork, fired: list[_Fired], triggered_by: str, writes: _Writes
    ) -> None:
        if not fired:
            return
        # writes.logs may already hold the expiry rows of this update, written by _expire.
        first_new = len(writes.logs)
        ids = [f.trigger_id for f in fired]
        known = uow.triggers.many(ids)
        groups = {(r.client_id, r.trigger.oco_group) for r in known.values() if r.trigger.oco_group}
        locked = uow.triggers.lock_for_fire(ids, [(c, g) for c, g in groups if g is not None])
        cash = uow.accounts.lock_cash(r.trigger.account_id for r in locked.values())
        opening = dict(cash)
        held = {
            k: p.quantity
            for k, p in uow.accounts.holdings(
                (r.trigger.account_id, r.trigger.symbol) for r in locked.values()
            ).items()
        }
        # The broker fills at the latest stored price, which a later tick of the same update
        # may have moved past the firing price: a buy holds cash for the higher of the two.
        latest = uow.market.quotes(r.trigger.symbol for r in locked.values())
        now = self._clock.now()
        for item in fired:
            record = locked.get(item.trigger_id)
            if record is None or not uow.triggers.claim(item.trigger_id, item.price, now):
                continue  # claimed elsewhere, paused, cancelled or expired: no fire here
            log.info("%s Executing trigger order: %s", PREFIX, item.trigger_id)
            quote = latest.get(record.trigger.symbol)
            hold_at = max(item.price, quote.price) if quote and quote.price else item.price
            self._fire(uow, record, item, hold_at, locked, cash, held, triggered_by, writes)
        uow.orders.add_many(writes.orders, now)
        uow.accounts.set_cash({a: c for a, c in cash.items() if c != opening[a]}, now)
        # Each row started when its trigger did (in _fire), so it finishes after all of them.
        uow.logs.add_many(writes.logs[first_new:], self._clock.now())

    def _fire(
        self,
        uow: UnitOfWork,
        record: TriggerOrderRecord,
        item: _Fired,
        hold_at: Decimal,
        locked: dict[str, TriggerOrderRecord],
        cash: dict[int, Decimal],
        held: dict[tuple[int, str], Decimal],
        triggered_by: str,
        writes: _Writes,
    ) -> None:
        trigger = record.trigger
        now = self._clock.now()
        writes.closed.add(trigger.id)
        siblings = [
            r.trigger.id
            for r in locked.values()
            if trigger.oco_group is not None
            and r.client_id == record.client_id
            and r.trigger.oco_group == trigger.oco_group
            and r.trigger.id != trigger.id
        ]
        cancelled = uow.triggers.close_open(siblings, TriggerStatus.CANCELLED, now)
        writes.closed.update(cancelled)
        key = (trigger.account_id, trigger.symbol)
        outcome = order_at_fire(
            record.order,
            held=held.get(key, Decimal(0)),
            cash=cash.get(trigger.account_id, Decimal(0)),
            price=hold_at,
        )
        day = self._day(item.at)
        details: dict[str, object] = {"price": str(item.price), "cancelled": cancelled}
        if isinstance(outcome, str):
            uow.triggers.set_outcome(trigger.id, now, order_id=None, failure=outcome)
            writes.logs.append(
                self._entry(
                    record,
                    OutcomeStatus.FAILED,
                    "trigger failed",
                    now,
                    triggered_by=triggered_by,
                    day=day,
                    error=outcome,
                    details=details,
                )
            )
            return
        order = Order(
            id=new_id("ORD", day),
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
        cash[trigger.account_id] = cash.get(trigger.account_id, Decimal(0)) - outcome.reserve
        if order.side is Side.SELL and outcome.quantity is not None:
            held[key] = held.get(key, Decimal(0)) - outcome.quantity
        writes.orders.append(
            NewOrder(
                order=order,
                client_id=record.client_id,
                automation_type=AUTOMATION_TYPE,
                automation_id=trigger.id,
            )
        )
        uow.triggers.set_outcome(trigger.id, now, order_id=order.id, failure=None)
        message = f"fired at {item.price}; order {order.id} placed"
        writes.logs.append(
            self._entry(
                record,
                OutcomeStatus.SUCCESS,
                message,
                now,
                triggered_by=triggered_by,
                day=day,
                order_ids=(order.id,),
                details=details,
            )
        )

    def _entry(
        self,
        record: TriggerOrderRecord,
        status: OutcomeStatus,
        message: str,
        now: datetime,
        *,
        triggered_by: str,
        day: date | None = None,
        error: str | None = None,
        order_ids: tuple[str, ...] = (),
        details: dict[str, object] | None = None,
    ) -> LogEntry:
        return LogEntry(
            automation_type=AUTOMATION_TYPE,
            automation_id=record.trigger.id,
            client_id=record.client_id,
            execution_date=day or self._day(now),
            status=status.value,
            message=message,
            triggered_by=triggered_by,
            attempt=1,
            started_at=now,
            order_ids=order_ids,
            error=error,
            details=details,
        )

    def _day(self, at: datetime) -> date:
        return at.astimezone(self._zone).date()

    def _finish(self, writes: _Writes) -> PassResult:
        results = [RuleResult.of(e) for e in writes.logs]
        result = PassResult()
        result.add(results)
        with self._lock:
            self._fired += sum(1 for e in writes.logs if e.status != OutcomeStatus.SKIPPED.value)
        announce("Trigger order", results)
        submit_committed(self._broker, [n.order for n in writes.orders])
        return result
