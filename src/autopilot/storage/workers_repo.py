"""The `workers` table: registration, heartbeats and the list (DESIGN §4).

Every time here is the database's clock (``now()`` on PostgreSQL), so workers on hosts whose
clocks disagree still agree on who is alive.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from autopilot.services.records import WorkerRecord
from autopilot.storage.tables import workers as w

TERMINATE_WAIT_MS = 5_000  # a backend ends within milliseconds; past this, the next beat retries


def application_name(worker_id: str) -> str:
    """The name a worker's connections carry, so another worker can end them once it is dead."""
    return f"autopilot-worker {worker_id}"[:63]  # PostgreSQL keeps 63 bytes of it


class Workers:
    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._pg = connection.dialect.name == "postgresql"

    def now(self) -> datetime:
        """The database's clock."""
        if not self._pg:
            return datetime.now(UTC)
        moment: datetime = self._c.execute(text("SELECT now()")).scalar_one()
        return moment.astimezone(UTC)

    def register(self, worker_id: str, host: str, pid: int) -> datetime:
        """Start (or restart, under the same id) a worker's row; the database's time now."""
        now = self.now()
        values = {
            "id": worker_id,
            "host": host,
            "pid": pid,
            "started_at": now,
            "heartbeat_at": now,
            "stopped_at": None,
            "holds": None,
        }
        insert = pg_insert if self._pg else sqlite_insert
        stmt = insert(w).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[w.c.id], set_={k: v for k, v in values.items() if k != "id"}
        )
        self._c.execute(stmt)
        return now

    def beat(self, worker_id: str, holds: str | None) -> datetime:
        """A heartbeat, with what the worker holds; the database's time now."""
        now = self.now()
        self._c.execute(
            update(w)
            .where(w.c.id == worker_id, w.c.stopped_at.is_(None))
            .values(heartbeat_at=now, holds=holds)
        )
        return now

    def stop(self, worker_id: str) -> None:
        now = self.now()
        self._c.execute(
            update(w)
            .where(w.c.id == worker_id)
            .values(stopped_at=now, heartbeat_at=now, holds=None)
        )

    def all(self) -> list[WorkerRecord]:
        rows = self._c.execute(select(w).order_by(w.c.started_at, w.c.id))
        return [
            WorkerRecord(
                id=r.id,
                host=r.host,
                pid=r.pid,
                started_at=r.started_at,
                heartbeat_at=r.heartbeat_at,
                stopped_at=r.stopped_at,
                holds=r.holds,
            )
            for r in rows
        ]

    def end_connections_of(self, worker_id: str) -> tuple[int, int]:
        """End a dead worker's database sessions (a host cut off keeps them open until TCP gives
        up), so the rows they lock are free now: (sessions found, sessions ended).

        ``pg_terminate_backend`` only signals a backend; its locks go when it has exited. Each is
        waited for (up to ``TERMINATE_WAIT_MS``), so that a pass run right after this one claims
        the rows they held instead of skipping them as still locked."""
        if not self._pg:
            return 0, 0
        found, ended = self._c.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE pg_terminate_backend(pid, :wait_ms))"
                " FROM pg_stat_activity"
                " WHERE application_name = :name AND pid <> pg_backend_pid()"
            ),
            {"name": application_name(worker_id), "wait_ms": TERMINATE_WAIT_MS},
        ).one()
        return int(found), int(ended)
