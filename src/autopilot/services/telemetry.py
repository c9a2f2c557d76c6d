"""What the services tell the operator's metrics (a port; the Prometheus adapter is
:mod:`autopilot.metrics`).

Events are told once their transaction has committed (``uow.after_commit``), so a rolled-back
batch is never counted. The sink is per process, as Prometheus counters are: each process is
scraped on its own and the series add up across them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from autopilot.domain.orders import OrderStatus
from autopilot.services.records import LogEntry


class Telemetry(Protocol):
    def executions(self, entries: Sequence[LogEntry], committed_at: datetime) -> None:
        """Execution-log rows just committed."""
        ...

    def orders(self, statuses: Sequence[OrderStatus]) -> None:
        """Orders that just reached these statuses (written Pending, filled, rejected, ...)."""
        ...

    def price_updates(self, count: int) -> None: ...

    def pass_finished(self, *, outcome: str, seconds: float, finished_at: datetime) -> None:
        """A scheduler pass ended: ``ok`` or ``failed``."""
        ...

    def webhook_attempt(self, outcome: str) -> None:
        """A delivery attempt: ``delivered``, ``retrying`` or ``given_up``."""
        ...


class Silent:
    """No metrics (the default until a process installs its own)."""

    def executions(self, entries: Sequence[LogEntry], committed_at: datetime) -> None:
        return None

    def orders(self, statuses: Sequence[OrderStatus]) -> None:
        return None

    def price_updates(self, count: int) -> None:
        return None

    def pass_finished(self, *, outcome: str, seconds: float, finished_at: datetime) -> None:
        return None

    def webhook_attempt(self, outcome: str) -> None:
        return None


_sink: Telemetry = Silent()


def sink() -> Telemetry:
    return _sink


def install(telemetry: Telemetry) -> None:
    """This process's metrics from now on (serve and worker install the Prometheus one)."""
    global _sink
    _sink = telemetry
