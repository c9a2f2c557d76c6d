"""Evaluating trigger orders: on every price update as it arrives, and on each scheduler pass.

The evaluator keeps a :class:`~autopilot.domain.triggers.index.TriggerIndex` of the Active
triggers, built from the database on first use and kept in step with the creates, updates,
pauses, resumes and cancels of this process (:meth:`TriggerEvaluator.refresh`) and, before every
evaluation, with what any process committed since (the triggers' change feed, migration 0008), so
a price posted to any process is evaluated against every Active trigger of its symbol.

A dedicated worker evaluates only the symbols it owns (:meth:`TriggerEvaluator.scope_to`, see
:mod:`autopilot.services.triggers.sharing`): its index holds their triggers alone, and its
passes evaluate only them.

A price update asks the index which triggers fire; they are fired on the pass driver
(:mod:`autopilot.services.triggers.firing`), and afterwards the index is brought in step with
the committed rows of every trigger the update touched (a trigger whose fire failed an attempt
is Active still, and indexed again).

Prices with more than 4 decimal places are rounded half-even to 4 before evaluation: the index
works in ticks of 0.0001 (see :mod:`autopilot.domain.triggers.conditions`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from autopilot.domain.outcomes import AutomationType, OutcomeStatus
from autopilot.domain.triggers.conditions import OPEN_STATUSES, TICK, TriggerStatus
from autopilot.domain.triggers.index import TriggerIndex
from autopilot.services.execution.driver import PassDriver
from autopilot.services.execution.outcomes import Occurrence, Outcome, record_outcomes
from autopilot.services.execution.results import PREFIX, PassResult, RuleResult, announce
from autopilot.services.ports import Clock, UnitOfWork, UnitOfWorkFactory
from autopilot.services.triggers.firing import Fired, FiredTriggers, TriggerPolicy

log = logging.getLogger("autopilot.scheduler")
PriceUpdate = tuple[str, Decimal, datetime]  # symbol, price, as of
SUBJECT = FiredTriggers.subject


def tick_price(price: Decimal) -> Decimal:
    """``price`` in the index's ticks of 0.0001 (half-even beyond 4 decimal places)."""
    return price.quantize(TICK, rounding=ROUND_HALF_EVEN)


class TriggerEvaluator:
    def __init__(
        self, *, uow: UnitOfWorkFactory, driver: PassDriver, clock: Clock, policy: TriggerPolicy
    ) -> None:
        self._uow = uow
        self._driver = driver
        self._clock = clock
        self._policy = policy
        self._zone = policy.zone
        self._lock = threading.RLock()
        self._index: TriggerIndex | None = None
        self._next_expiry: datetime | None = None
        self._cursor: object = None  # where this index stands in the triggers' change feed
        self._fired = 0
        self._scope: Callable[[str], bool] | None = None  # None: every symbol

    def scope_to(self, owns: Callable[[str], bool] | None) -> None:
        """Evaluate only the symbols ``owns`` says yes to (``None``: all); the index is rebuilt
        for them on its next use."""
        with self._lock:
            self._scope = owns
            self._index = None

    # --- keeping the index in step ------------------------------------------------------

    def refresh(self, trigger_ids: Sequence[str]) -> None:
        """Bring the index in step with the committed rows of these triggers: Active ones
        (re)indexed, the others dropped.

        The rows are read after the caller's commit and under the index's lock, so when two
        requests change one trigger at once the index ends as the last commit left the row,
        whichever request gets here first.
        """
        with self._lock:
            if self._index is None or not trigger_ids:
                return  # built from the database on first use, these included
            with self._uow() as uow:
                current = uow.triggers.many(trigger_ids)
            for trigger_id in trigger_ids:
                self._index.remove(trigger_id)
                record = current.get(trigger_id)
                if record is None or record.trigger.status not in OPEN_STATUSES:
                    continue
                self._note_expiry(record.trigger.expires_at)  # a Paused one expires too
                if record.trigger.status is TriggerStatus.ACTIVE and self._in_scope(
                    record.trigger.symbol
                ):
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
            self._catch_up()
            result = self._expire(triggered_by)
            fired = [
                Fired(trigger_id, price, at)
                for symbol, raw, at in updates
                if self._in_scope(symbol)
                for price in (tick_price(raw),)
                for trigger_id in index.on_price(symbol, price)
            ]
            result.merge(self._fire(index, fired, triggered_by))
        return result

    def run_all(self, *, client_id: int | None, triggered_by: str) -> PassResult:
        """Evaluate every Active trigger (of one client) against the latest prices.

        The scheduler's pass (all clients) also rebuilds this process's index from the
        database, which brings in the triggers other processes created meanwhile.
        """
        log.info("%s Processing trigger orders...", PREFIX, extra={"action": "pass.automation"})
        with self._lock:
            result = self._expire(triggered_by)
            with self._uow() as uow:
                cursor = uow.triggers.change_cursor()
                records = uow.triggers.active(client_id=client_id, symbols=self._owned(uow))
                quotes = uow.market.quotes({r.trigger.symbol for r in records})
                next_expiry = uow.triggers.next_expiry()
            index = TriggerIndex(r.trigger for r in records)
            now = self._clock.now()
            fired = [
                Fired(trigger_id, tick_price(q.price), now)
                for symbol, q in sorted(quotes.items())
                if q.price is not None
                for trigger_id in index.on_price(symbol, tick_price(q.price))
            ]
            if client_id is None:
                self._index = index
                self._next_expiry = next_expiry
                self._cursor = cursor
            result.merge(self._fire(index, fired, triggered_by))
        return result

    # --- internals ----------------------------------------------------------------------

    def _built(self) -> TriggerIndex:
        if self._index is None:
            with self._uow() as uow:
                self._cursor = uow.triggers.change_cursor()
                records = uow.triggers.active(symbols=self._owned(uow))
                # Paused triggers are not indexed, but they expire too.
                self._next_expiry = uow.triggers.next_expiry()
            self._index = TriggerIndex(r.trigger for r in records)
        return self._index

    def _in_scope(self, symbol: str) -> bool:
        return self._scope is None or self._scope(symbol)

    def _owned(self, uow: UnitOfWork) -> list[str] | None:
        """The known symbols in scope, or None for all."""
        scope = self._scope
        return None if scope is None else [s for s in uow.price_feed.symbols() if scope(s)]

    def _catch_up(self) -> None:
        """Bring in what other processes (or this one) committed since the index last looked:
        the triggers created, edited, paused, resumed, cancelled, fired or expired anywhere are
        in force here before a price is evaluated. One indexed read when nothing changed, in a
        read-only unit (it waits for no writer)."""
        with self._uow(read_only=True) as uow:
            cursor = uow.triggers.change_cursor()
            changed = uow.triggers.changed_since(self._cursor)
        self._cursor = cursor
        self.refresh(changed)

    def _note_expiry(self, at: datetime | None) -> None:
        if at is not None and (self._next_expiry is None or at < self._next_expiry):
            self._next_expiry = at

    def _fire(self, index: TriggerIndex, fired: list[Fired], triggered_by: str) -> PassResult:
        """Persist the index's moved trailing marks, then fire what fired on the driver."""
        marks = [(i, c.mark) for c in index.marks_changed_since_last_flush() for i in c.trigger_ids]
        firing = FiredTriggers(fired, clock=self._clock, policy=self._policy)
        try:
            if marks:
                with self._uow() as uow:
                    uow.triggers.save_marks(marks, self._clock.now())
            if not fired:
                return PassResult()
            result = self._driver.run_due(firing, self._day(), triggered_by=triggered_by)
        except Exception:
            # Not all of it committed: rebuild from the database on the next update.
            self._index = None
            raise
        self._fired += firing.fired
        # What this evaluation took out of Active leaves the index; a fired trigger it did not
        # close (claimed elsewhere, or its attempt failed and it is Active still) is read back.
        current = self._index
        if current is not None:
            for trigger_id in firing.closed:
                current.remove(trigger_id)
        self.refresh(sorted(set(firing.trigger_ids) - firing.closed))
        return result

    def _expire(self, triggered_by: str) -> PassResult:
        """Active and Paused triggers past their expiry become Expired, each logged."""
        result = PassResult()
        now = self._clock.now()
        if self._index is not None and (self._next_expiry is None or now < self._next_expiry):
            return result
        with self._uow() as uow:
            due = uow.triggers.expiring(now)
            expired = set(
                uow.triggers.close_open([r.trigger.id for r in due], TriggerStatus.EXPIRED, now)
            )
            outcomes = [
                self._expiry(r.trigger.id, r.client_id, r.trigger.expires_at, triggered_by, now)
                for r in due
                if r.trigger.id in expired
            ]
            record_outcomes(uow, outcomes, now)
            self._next_expiry = uow.triggers.next_expiry()
        if self._index is not None:
            for trigger_id in expired:
                self._index.remove(trigger_id)
        results = [RuleResult.of(o.entry) for o in outcomes]
        announce(SUBJECT, results)
        result.add(results)
        return result

    def _expiry(
        self,
        trigger_id: str,
        client_id: int,
        expires_at: datetime | None,
        triggered_by: str,
        now: datetime,
    ) -> Outcome:
        occurrence = Occurrence(
            automation_type=AutomationType.TRIGGER_ORDER,
            automation_id=trigger_id,
            client_id=client_id,
            day=now.astimezone(self._zone).date(),
            triggered_by=triggered_by,
            started_at=now,
        )
        return occurrence.outcome(OutcomeStatus.SKIPPED, f"expired at {expires_at}")

    def _day(self) -> date:
        return self._clock.now().astimezone(self._zone).date()
