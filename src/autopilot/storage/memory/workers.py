"""Workers, in memory (one process: its clock is the store's)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from autopilot.services.records import WorkerRecord
from autopilot.storage.memory.tables import Tables


class MemoryWorkers:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def now(self) -> datetime:
        return datetime.now(UTC)

    def register(self, worker_id: str, host: str, pid: int) -> datetime:
        now = self.now()
        self._t.workers[worker_id] = WorkerRecord(
            id=worker_id,
            host=host,
            pid=pid,
            started_at=now,
            heartbeat_at=now,
            stopped_at=None,
            holds=None,
        )
        return now

    def beat(self, worker_id: str, holds: str | None) -> datetime:
        now = self.now()
        current = self._t.workers.get(worker_id)
        if current is not None and current.stopped_at is None:
            self._t.workers[worker_id] = replace(current, heartbeat_at=now, holds=holds)
        return now

    def stop(self, worker_id: str) -> None:
        now = self.now()
        current = self._t.workers.get(worker_id)
        if current is not None:
            self._t.workers[worker_id] = replace(
                current, stopped_at=now, heartbeat_at=now, holds=None
            )

    def all(self) -> list[WorkerRecord]:
        return sorted(self._t.workers.values(), key=lambda r: (r.started_at, r.id))

    def end_connections_of(self, worker_id: str) -> tuple[int, int]:
        return 0, 0
