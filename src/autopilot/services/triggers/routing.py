"""Who evaluates the prices a process has just stored: this process, or the workers.

Every shape stores a price the same way (``PlatformService.record_prices``: the history row, the
latest price, the audit row, one transaction). What happens after the commit depends on whether
dedicated workers are alive on the database (DESIGN §1):

- **No live worker** (the embedded default on SQLite, ``serve`` processes behind a load balancer,
  cron): the process evaluates its prices at once, against every Active trigger of their
  symbols. On SQLite (where no worker can run) these are the prices it was given, as always. On
  PostgreSQL they are every price of those symbols above the symbols' floors
  (``trigger_price_floors``): its own, and any that the workers had not evaluated when the last
  of them died; then it raises the floors, so that workers started later do not evaluate the
  same prices again, and nothing stored while the shape changed is lost.
- **Live workers** (the workers shape: ``serve`` with the scheduler off, plus ``autopilot
  worker``): the process does not evaluate; it sends one ``NOTIFY`` (per call, not per price,
  in a transaction of its own after the price's commit: a notifying commit takes a lock global
  to the database, so it stays out of the price's transaction), and the worker that owns each
  symbol evaluates it (:mod:`autopilot.services.triggers.sharing`). The NOTIFY is only a
  wake-up: a worker also polls the stored prices about every second, so a lost one delays a
  fire by that much and loses nothing.

Whether workers are alive is read from the ``workers`` table (heartbeats within the lease) at
most once a second. Around a change (the first worker starting, the last one dying) this process
and a worker may both evaluate a price for a moment; a trigger still fires once, since its fire
is a conditional update of its row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

from autopilot.services.ports import Clock, UnitOfWorkFactory
from autopilot.services.records import WorkerState
from autopilot.services.triggers.evaluation import PriceUpdate, TriggerEvaluator

TRIGGERED_BY = "prices"  # what the execution log names for a fire on a price posted here
CHECK_EVERY_S = 1.0


class PriceRouting:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        evaluator: TriggerEvaluator,
        clock: Clock,
        lease: timedelta,
        shared: bool,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``shared``: the database can have workers (PostgreSQL). ``monotonic`` times the
        cached answer to "are workers alive?" (the injected clock may be fixed: ``--as-of``)."""
        self._uow = uow
        self._evaluator = evaluator
        self._clock = clock
        self._lease = lease
        self._shared = shared
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._checked_at: float | None = None
        self._alive = False

    def __call__(self, updates: Sequence[PriceUpdate]) -> None:
        if self._shared and self.workers_evaluate():
            with self._uow() as uow:
                uow.price_feed.signal()
            return
        if not self._shared:
            self._evaluator.on_prices(updates, triggered_by=TRIGGERED_BY)
            return
        symbols = {symbol for symbol, _, _ in updates}
        with self._uow() as uow:
            cursor = uow.price_feed.cursor()  # before the read: what it saw is all read
            stored = uow.price_feed.from_floors(symbols)
        self._evaluator.on_prices(
            [(p.symbol, p.price, p.as_of) for p in stored], triggered_by=TRIGGERED_BY
        )
        with self._uow() as uow:
            uow.price_feed.advance_floors(symbols, cursor, TRIGGERED_BY, self._clock.now())

    def workers_evaluate(self) -> bool:
        """Whether live workers evaluate the prices stored here (read at most once a second)."""
        with self._lock:
            now = self._monotonic()
            if self._checked_at is not None and now - self._checked_at < CHECK_EVERY_S:
                return self._alive
        with self._uow() as uow:
            at = uow.workers.now()
            alive = any(w.state(at, self._lease) is WorkerState.ALIVE for w in uow.workers.all())
        with self._lock:
            self._checked_at, self._alive = now, alive
        return alive
