"""A worker's trigger lane: rounds over the prices of its symbols, in a thread of its own.

The lane is apart from the worker's passes, so a long pass (a million auto-invest rules) never
delays a stop-loss: it waits on the worker's LISTEN connection for a NOTIFY from the API
processes, at most ``POLL_S`` (the poll behind the hint), and then runs a round
(:class:`~autopilot.services.triggers.sharing.TriggerShare`). A round that fails (the database
is down) is logged in one line and the next one reads from where the last good one stopped.
On stop the round in hand finishes and the floors are written, so the symbols' next owner
re-reads as little as possible.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from autopilot.services.execution.results import PREFIX
from autopilot.services.ports import DatabaseUnavailable
from autopilot.services.triggers.sharing import TriggerShare

log = logging.getLogger("autopilot.worker")
POLL_S = 1.0


class Wakeups(Protocol):
    """The hint that prices were stored (``storage.wakeups.PriceWakeups``: LISTEN)."""

    def wait(self, timeout_s: float) -> bool: ...
    def close(self) -> None: ...


class TriggerLane:
    def __init__(self, share: TriggerShare, wakeups: Wakeups, stop: threading.Event) -> None:
        self._share = share
        self._wakeups = wakeups
        self._stop = stop
        self._thread = threading.Thread(target=self._run, name="triggers", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._round()
                if not self._stop.is_set():
                    self._wakeups.wait(POLL_S)
            try:
                self._share.write_floors()
            except Exception as exc:  # the next owner re-reads a little more
                log.warning("%s Writing the trigger floors at stop failed: %s", PREFIX, exc)
        finally:
            self._wakeups.close()

    def _round(self) -> None:
        try:
            self._share.run_round()
        except DatabaseUnavailable as exc:  # expected in an outage: one line a round
            log.error(
                "%s Trigger round failed: %s", PREFIX, exc, extra={"action": "triggers.failed"}
            )
        except Exception as exc:  # a bug: its traceback; the next round tries again
            log.exception(
                "%s Trigger round failed: %s: %s",
                PREFIX,
                type(exc).__name__,
                str(exc).splitlines()[0] if str(exc) else "",
                extra={"action": "triggers.failed"},
            )
