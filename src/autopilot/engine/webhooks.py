"""The webhook dispatcher's thread, in `serve` and in each worker: outside every pass, so a
receiver that is down, slow or failing never slows one."""

from __future__ import annotations

import logging
import threading

from autopilot.services.webhooks import Dispatcher

log = logging.getLogger("autopilot.webhooks")
POLL_S = 1.0


class WebhookLoop:
    def __init__(self, dispatcher: Dispatcher, *, poll_s: float = POLL_S) -> None:
        self._dispatcher = dispatcher
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                while self._dispatcher.deliver_due() and not self._stop.is_set():
                    pass  # a full batch: there may be more due
            except Exception as exc:  # the database is down: the next poll tries again
                log.warning("webhook delivery failed: %s: %s", type(exc).__name__, exc)
            self._stop.wait(self._poll_s)
