"""Failed attempts in the database: one row per automation whose occurrence has none yet."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, select

from autopilot.domain.outcomes import AutomationType
from autopilot.services.records import FailedAttempts
from autopilot.storage.bulk import insert_rows, key_in
from autopilot.storage.tables import automation_attempts as t


class Attempts:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def of(self, automation_ids: Iterable[str]) -> dict[str, FailedAttempts]:
        ids = sorted(set(automation_ids))
        if not ids:
            return {}
        rows = self._c.execute(select(t).where(key_in(self._c, t.c.automation_id, ids)))
        return {
            r.automation_id: FailedAttempts(
                automation_type=AutomationType(r.automation_type),
                automation_id=r.automation_id,
                client_id=r.client_id,
                occurrence=r.occurrence,
                count=r.failed_attempts,
                last_error=r.last_error,
            )
            for r in rows
        }

    def save(self, attempts: Sequence[FailedAttempts], now: datetime) -> None:
        rows = [
            {
                "automation_id": a.automation_id,
                "automation_type": a.automation_type.value,
                "client_id": a.client_id,
                "occurrence": a.occurrence,
                "failed_attempts": a.count,
                "last_error": a.last_error,
                "updated_at": now,
            }
            for a in attempts
        ]
        insert_rows(self._c, t, rows, upsert_on=("automation_id",))

    def clear(self, automation_ids: Iterable[str]) -> None:
        ids = sorted(set(automation_ids))
        if ids:
            self._c.execute(delete(t).where(key_in(self._c, t.c.automation_id, ids)))
