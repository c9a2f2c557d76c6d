"""A dedicated worker's share of trigger evaluation: the symbols it owns (DESIGN §1, §5, §8).

In the workers shape the API processes store prices and signal; the workers evaluate them,
each symbol by exactly one live worker. Nothing but the database coordinates them:

- **Ownership** is rendezvous hashing of the symbol over the live workers
  (:mod:`autopilot.domain.triggers.ownership`), the live workers read from the ``workers`` table
  (heartbeats within the lease) at every refresh, about once a second. A worker's evaluator is
  scoped to its symbols: its index holds their Active triggers only, and its passes evaluate
  only them. When a worker dies its symbols move at the survivors' first refresh after its
  lease has run out; when one joins, it takes its share at its first round and the others give
  theirs up at their next refresh.
- **The feed.** Each round reads the prices stored since the round before (the prices' change
  feed, migration 0012: a snapshot cursor, so a price committed after a later one is still
  read) and evaluates those of owned symbols, in the order stored. A round runs when the
  worker's LISTEN connection hears a NOTIFY, and at the latest a poll interval after the last.
- **Floors, so no price is lost in a handover.** Every few seconds the worker raises the floor
  of each owned symbol (``trigger_price_floors``) to the snapshot its rounds have evaluated up
  to. A worker that gains symbols (a death, a stop, a join, or its own start) first evaluates
  every price of them from their floors on: the ones posted while the dead owner's lease ran
  out, and the ones the previous owner had not yet written a floor for. A floor only ever
  rises (``GREATEST``), and a worker writes one only for prices it evaluated itself, so two
  workers that both think they own a symbol for a moment write true floors both.
- **Exactly once.** Re-evaluating a price, or two workers evaluating one, costs work, never a
  second fire: a trigger is fired by a conditional update of its row (``status = 'Active'``)
  in the transaction that writes its order and cancels its OCO siblings
  (:mod:`autopilot.services.triggers.firing`); the second finds it Triggered and skips it. (A
  trigger created in the seconds a handover re-reads is evaluated against those prices too,
  as a pass evaluates a new trigger against the latest price.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from autopilot.domain.triggers.ownership import Assignment
from autopilot.services.execution.results import PREFIX
from autopilot.services.ports import Clock, UnitOfWorkFactory
from autopilot.services.records import StoredPrice, WorkerState
from autopilot.services.triggers.evaluation import TriggerEvaluator

log = logging.getLogger("autopilot.worker")


@dataclass(frozen=True, slots=True, kw_only=True)
class SharePolicy:
    lease: timedelta
    """A worker whose heartbeat is older is dead: its symbols move."""
    view_every_s: float = 1.0
    """How often the live workers (and the known symbols) are read again."""
    floors_every_s: float = 2.0
    """How often the owned symbols' floors are written."""


class TriggerShare:
    """One worker's rounds over the prices of the symbols it owns (one thread calls it)."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        evaluator: TriggerEvaluator,
        clock: Clock,
        worker_id: str,
        policy: SharePolicy,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._uow = uow
        self._evaluator = evaluator
        self._clock = clock
        self._id = worker_id
        self._policy = policy
        self._monotonic = monotonic
        self._scoped: Assignment | None = None  # what the evaluator is scoped to
        self._settled: Assignment | None = None  # the view of the last round that completed
        self._owned: frozenset[str] = frozenset()  # its known symbols, as of that round
        self._symbols: list[str] = []
        self._cursor: object | None = None
        self._last_ids: set[int] = set()
        self._view_at: float | None = None
        self._floors_at: float | None = None
        self.evaluated = 0  # prices evaluated by this share since it was made

    @property
    def workers(self) -> tuple[str, ...]:
        """The live workers of the current view (itself among them)."""
        return () if self._scoped is None else self._scoped.workers

    @property
    def owned(self) -> frozenset[str]:
        """The known symbols this worker owned at its last completed round."""
        return self._owned

    def refresh_view(self) -> Assignment:
        """Read the live workers and the known symbols; scope the evaluator to this worker's
        symbols when the live workers changed."""
        with self._uow() as uow:
            now = uow.workers.now()
            records = uow.workers.all()
            self._symbols = uow.price_feed.symbols()
        live = {r.id for r in records if r.state(now, self._policy.lease) is WorkerState.ALIVE}
        self._view_at = self._monotonic()
        if self._scoped is None or self._scoped.workers != tuple(sorted(live | {self._id})):
            self._scoped = Assignment(self._id, live)
            self._evaluator.scope_to(self._scoped.owns)
            owned = self._scoped.among(self._symbols)
            log.info(
                "%s Worker %s evaluates the triggers of %d of %d symbol(s) (live workers: %s)",
                PREFIX,
                self._id,
                len(owned),
                len(self._symbols),
                ", ".join(self._scoped.workers),
                extra={
                    "action": "triggers.assigned",
                    "worker": self._id,
                    "workers": list(self._scoped.workers),
                    "symbols": len(owned),
                },
            )
        return self._scoped

    def run_round(self) -> int:
        """Refresh the view when due, then evaluate the prices stored since the last round for
        the owned symbols (from their floors for symbols gained); how many were evaluated."""
        if self._view_at is None or self._monotonic() - self._view_at >= self._policy.view_every_s:
            self.refresh_view()
        view = self._scoped
        assert view is not None
        owned = view.among(self._symbols)
        changed = self._settled is None or self._settled.workers != view.workers
        gained = owned - self._owned if changed else frozenset()
        with self._uow() as uow:
            cursor = uow.price_feed.cursor()  # before the reads: what it saw is all read
            fresh = [] if self._cursor is None else uow.price_feed.since(self._cursor)
            backlog = uow.price_feed.from_floors(gained) if gained else []
        prices = self._to_evaluate(view, fresh, backlog)
        self._evaluator.on_prices(
            [(p.symbol, p.price, p.as_of) for p in prices], triggered_by=self._id
        )
        self._cursor, self._last_ids = cursor, {p.id for p in (*fresh, *backlog)}
        self._settled, self._owned = view, owned | (self._owned if not changed else frozenset())
        self.evaluated += len(prices)
        if gained:
            log.info(
                "%s Worker %s took %d symbol(s) over and evaluated %d price(s) stored from their"
                " floors on",
                PREFIX,
                self._id,
                len(gained),
                sum(1 for p in backlog if view.owns(p.symbol)),
                extra={"action": "triggers.gained", "worker": self._id, "symbols": len(gained)},
            )
        now = self._monotonic()
        if self._floors_at is None or now - self._floors_at >= self._policy.floors_every_s:
            self.write_floors()
        return len(prices)

    def write_floors(self) -> None:
        """Raise the owned symbols' floors to what the last completed round evaluated."""
        if self._cursor is None or not self._owned:
            return
        with self._uow() as uow:
            uow.price_feed.advance_floors(self._owned, self._cursor, self._id, self._clock.now())
        self._floors_at = self._monotonic()

    def _to_evaluate(
        self, view: Assignment, fresh: list[StoredPrice], backlog: list[StoredPrice]
    ) -> list[StoredPrice]:
        """The owned symbols' prices, once each, in the order stored; a price the last round
        read already (it committed between that round's cursor and its read) is skipped."""
        seen = set(self._last_ids)
        chosen: dict[int, StoredPrice] = {}
        for price in (*backlog, *fresh):
            if price.id not in seen and view.owns(price.symbol):
                chosen[price.id] = price
        if backlog:  # a gained symbol's prices are evaluated whatever the last round read
            chosen.update((p.id, p) for p in backlog if view.owns(p.symbol))
        return [chosen[i] for i in sorted(chosen)]
