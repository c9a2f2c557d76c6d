"""`autopilot worker`: the scheduler's work in a process of its own, on PostgreSQL (DESIGN §1).

N workers on any hosts share the work through the database: each pass claims its batches with
``FOR UPDATE SKIP LOCKED``, so two workers never hold the same rule, and the unique keys make an
occurrence execute once whatever happens. Each worker has a row in ``workers`` and beats every
few seconds. One whose heartbeat is older than ``AUTOMATION_WORKER_LEASE`` is dead: the first
live worker to see it ends the dead one's database sessions (a host cut off from the network
keeps them, and their locks, until TCP gives up) and runs a pass at once instead of waiting for
its interval, so the dead one's work is taken over within the lease.

Times are the database's: each heartbeat reads ``now()`` and the worker's clock is its own clock
plus the offset measured then, so a worker on a host whose clock is off still reads today's
schedules as the database does.

Trigger orders: a worker evaluates the prices of the symbols it owns, in a lane of its own
(:mod:`autopilot.engine.trigger_lane`, :mod:`autopilot.services.triggers.sharing`): the symbols
are divided among the live workers by rendezvous hashing, woken by the API processes' NOTIFY
and polled about every second; a dead worker's symbols move to the survivors once its lease
has run out, and they evaluate every price stored meanwhile.

Shutdown (SIGTERM): stop claiming, let the batch in hand commit, mark the row stopped, exit 0.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from autopilot.bootstrap import Services, price_wakeups
from autopilot.engine.scheduler import Scheduler
from autopilot.engine.trigger_lane import TriggerLane
from autopilot.services.execution.results import PREFIX
from autopilot.services.ports import UnitOfWorkFactory
from autopilot.services.records import WorkerState
from autopilot.services.triggers.sharing import SharePolicy, TriggerShare

log = logging.getLogger("autopilot.worker")
MAX_BEAT_S = 5.0


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class DatabaseClock:
    """Now by the database's clock: this host's clock plus the offset the last heartbeat saw."""

    def __init__(self) -> None:
        self._offset = timedelta(0)

    def align(self, database_now: datetime) -> None:
        self._offset = database_now - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerPolicy:
    lease: timedelta
    interval_s: float

    @property
    def beat_every_s(self) -> float:
        """A few beats per lease, so one late beat does not make a live worker look dead."""
        return min(MAX_BEAT_S, self.lease.total_seconds() / 3)


class Worker:
    def __init__(
        self,
        services: Services,
        *,
        worker_id: str,
        policy: WorkerPolicy,
        clock: DatabaseClock | None = None,
    ) -> None:
        self._services = services
        self._uow: UnitOfWorkFactory = services.uow
        self.id = worker_id
        self._policy = policy
        self._clock = clock
        self._scheduler = Scheduler(services, triggered_by=worker_id)
        self._stop = threading.Event()
        self._holds: str | None = None
        self._taken_over: set[tuple[str, datetime]] = set()
        self.triggers = TriggerShare(
            uow=services.uow,
            evaluator=services.triggers,
            clock=services.clock,
            worker_id=worker_id,
            policy=SharePolicy(lease=policy.lease),
        )

    def request_stop(self, timeout_s: float | None = None) -> None:
        """Stop claiming: the batch in hand commits, then :meth:`run` returns."""
        within = (
            "" if timeout_s is None else f" (at once past {timeout_s:g}s, or on a second signal)"
        )
        log.info(
            "%s Stopping worker %s after the batch in hand%s",
            PREFIX,
            self.id,
            within,
            extra={"action": "worker.stopping", "worker": self.id},
        )
        self._stop.set()
        self._scheduler.request_stop()

    def run(self) -> None:
        with self._uow() as uow:
            self._align(uow.workers.register(self.id, socket.gethostname(), os.getpid()))
        log.info(
            "%s Worker %s started (lease %ss)",
            PREFIX,
            self.id,
            f"{self._policy.lease.total_seconds():g}",
            extra={"action": "worker.started", "worker": self.id},
        )
        beating = threading.Thread(target=self._beat_loop, name="heartbeat", daemon=True)
        beating.start()
        try:  # scoped before the first pass, so that it evaluates this worker's symbols only
            self.triggers.refresh_view()
        except Exception as exc:  # the lane's first round tries again
            log.warning("%s Reading the live workers failed: %s", PREFIX, exc)
        lane = TriggerLane(self.triggers, price_wakeups(self._services.settings), self._stop)
        lane.start()
        try:
            while not self._stop.is_set():
                self._holds = "pass"
                self._scheduler.run_pass()
                self._holds = None
                self._wait_for_next_pass()
        finally:
            self._stop.set()
            beating.join(self._policy.beat_every_s + 1)
            lane.join(self._policy.beat_every_s + 1)
            with self._uow() as uow:
                uow.workers.stop(self.id)
            log.info(
                "%s Worker %s stopped",
                PREFIX,
                self.id,
                extra={"action": "worker.stopped", "worker": self.id},
            )

    # --- internals ----------------------------------------------------------------------

    def _wait_for_next_pass(self) -> None:
        """Sleep until the interval is up, looking for dead workers at every beat: a dead one's
        work is taken over now, not at the next interval."""
        waited = 0.0
        while waited < self._policy.interval_s and not self._stop.is_set():
            step = min(self._policy.beat_every_s, self._policy.interval_s - waited)
            if self._stop.wait(step):
                return
            waited += step
            if self._take_over_the_dead():
                return

    def _take_over_the_dead(self) -> bool:
        try:
            with self._uow() as uow:
                now = uow.workers.now()
                dead = [
                    w
                    for w in uow.workers.all()
                    if w.id != self.id
                    and w.state(now, self._policy.lease) is WorkerState.DEAD
                    and (w.id, w.started_at) not in self._taken_over
                ]
                ended = {w.id: uow.workers.end_connections_of(w.id) for w in dead}
        except Exception as exc:  # the database is down: the next beat looks again
            log.warning("%s Looking for dead workers failed: %s", PREFIX, exc)
            return False
        for w in dead:
            found, gone = ended[w.id]
            if gone < found:  # a session outlived the wait: its locks may still hold rows
                log.warning(
                    "%s Worker %s is dead; %d of its %d session(s) did not end yet, trying again",
                    PREFIX,
                    w.id,
                    found - gone,
                    found,
                    extra={"action": "worker.take_over_retry", "worker": self.id, "dead": w.id},
                )
                continue
            self._taken_over.add((w.id, w.started_at))
            log.warning(
                "%s Worker %s is dead (last heartbeat %s); taking its work over"
                " (%d session(s) ended)",
                PREFIX,
                w.id,
                w.heartbeat_at.isoformat(),
                gone,
                extra={"action": "worker.taken_over", "worker": self.id, "dead": w.id},
            )
        return bool(dead)

    def _beat_loop(self) -> None:
        while not self._stop.wait(self._policy.beat_every_s):
            try:
                with self._uow() as uow:
                    self._align(uow.workers.beat(self.id, self._holds))
            except Exception as exc:  # one missed beat; the lease allows a few
                log.warning("%s Heartbeat of %s failed: %s", PREFIX, self.id, exc)

    def _align(self, database_now: datetime) -> None:
        if self._clock is not None:
            self._clock.align(database_now)
