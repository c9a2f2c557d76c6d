"""The dedicated workers, as the operator sees them (GET /api/automation/workers, status)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from autopilot.services.ports import UnitOfWorkFactory
from autopilot.services.records import WorkerRecord, WorkerState


@dataclass(frozen=True, slots=True)
class WorkerView:
    record: WorkerRecord
    state: WorkerState


@dataclass(frozen=True, slots=True)
class Workers:
    """Every worker that ever registered, as of the database's ``now``."""

    now: datetime
    workers: list[WorkerView]

    def count(self, state: WorkerState) -> int:
        return sum(1 for w in self.workers if w.state is state)


class WorkerService:
    def __init__(self, *, uow: UnitOfWorkFactory, lease: timedelta) -> None:
        self._uow = uow
        self._lease = lease

    def list(self) -> Workers:
        """Alive, dead (no heartbeat within the lease) and stopped, by start time; the state
        is read against the database's clock, as the workers themselves read it."""
        with self._uow(read_only=True) as uow:
            now = uow.workers.now()
            records = uow.workers.all()
        return Workers(now, [WorkerView(r, r.state(now, self._lease)) for r in records])
