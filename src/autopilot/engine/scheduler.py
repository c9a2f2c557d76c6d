"""The scheduler loop: every check interval, a pass over the due work (DESIGN §1, §7).

A pass resubmits orders left Pending by a crash, then executes the due auto-invest rules, then
the due rebalancing rules, then evaluates every Active trigger order against the latest prices
(which also rebuilds this process's trigger index from the database). An error
in one rule is the executor's to log; an error of the pass itself (the database is down) is logged
here and the loop tries again after a short back-off, losing nothing. `stop()` lets the batch in
hand commit, then ends the loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from autopilot.bootstrap import Services
from autopilot.services import telemetry
from autopilot.services.execution.passes import ALL_KINDS, Kind
from autopilot.services.execution.results import PREFIX, PassResult
from autopilot.services.ports import DatabaseUnavailable

log = logging.getLogger("autopilot.scheduler")
MAX_BACKOFF_S = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PassReport:
    started_at: datetime
    finished_at: datetime
    result: PassResult | None
    error: str | None = None


class Scheduler:
    def __init__(self, services: Services, *, triggered_by: str = "scheduler") -> None:
        self._services = services
        self._triggered_by = triggered_by  # what the execution log names: a worker's id
        self._interval = services.settings.check_interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.last_pass: PassReport | None = None
        self.next_pass_at: datetime | None = None

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def check_interval_ms(self) -> int:
        return self._services.settings.automation_check_interval

    def start(self) -> bool:
        """Start the loop in a background thread; False if it was already running."""
        with self._lock:
            if self.is_running:
                return False
            log.info(
                "%s Starting scheduler (check interval: %dms)",
                PREFIX,
                self.check_interval_ms,
                extra={"action": "scheduler.started"},
            )
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
            self._thread.start()
            return True

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the loop to stop after the batch in hand and wait for it; False if not running."""
        with self._lock:
            thread = self._thread
            if thread is None or not thread.is_alive():
                return False
            log.info("%s Stopping scheduler", PREFIX, extra={"action": "scheduler.stopping"})
            self._stop.set()
            thread.join(timeout)
            self._thread = None
            self.next_pass_at = None
            log.info("%s Scheduler stopped", PREFIX, extra={"action": "scheduler.stopped"})
            return True

    def request_stop(self) -> None:
        """Ask a pass in progress to stop after the batch in hand (SIGTERM in `run-once`)."""
        self._stop.set()

    def run_pass(self, kinds: Collection[Kind] = ALL_KINDS) -> PassReport:
        """One pass over the due work as of now (market time zone): the `kinds` of automation
        given (all of them unless told), in the order auto-invest, rebalancing, triggers."""
        clock = self._services.clock
        started = clock.now()
        timer = time.perf_counter()
        log.info("%s Running scheduled checks...", PREFIX, extra={"action": "pass.started"})
        try:
            result = self._services.passes.run(
                kinds, triggered_by=self._triggered_by, should_stop=self._stop.is_set
            )
        except Exception as exc:  # the loop survives anything a pass throws
            if isinstance(exc, DatabaseUnavailable):  # expected in an outage: one line
                log.error(
                    "%s Scheduled checks failed: %s: %s",
                    PREFIX,
                    type(exc).__name__,
                    exc,
                    extra={"action": "pass.failed"},
                )
            else:  # a bug: its traceback, once
                log.exception(
                    "%s Scheduled checks failed: %s: %s",
                    PREFIX,
                    type(exc).__name__,
                    str(exc).splitlines()[0] if str(exc) else "",
                    extra={"action": "pass.failed"},
                )
            report = PassReport(
                started_at=started, finished_at=clock.now(), result=None, error=str(exc)
            )
            self._tell_webhooks(str(exc))
        else:
            log.info("%s Scheduled checks completed", PREFIX, extra={"action": "pass.completed"})
            report = PassReport(started_at=started, finished_at=clock.now(), result=result)
        telemetry.sink().pass_finished(
            outcome="failed" if report.error else "ok",
            seconds=time.perf_counter() - timer,
            finished_at=report.finished_at,
        )
        self.last_pass = report
        return report

    def _tell_webhooks(self, error: str) -> None:
        """``scheduler.pass_failed``, when the database takes it (it may be what failed)."""
        try:
            self._services.webhooks.pass_failed(error.splitlines()[0] if error else "")
        except Exception as exc:
            log.warning("%s the pass_failed webhook event was not stored: %s", PREFIX, exc)

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            report = self.run_pass()
            failures = failures + 1 if report.error else 0
            wait = self._interval
            if failures:
                wait = min(self._interval, MAX_BACKOFF_S, 2.0 ** min(failures, 6))
            self.next_pass_at = self._services.clock.now() + timedelta(seconds=wait)
            self._stop.wait(wait)
