"""The execution log: one row per outcome of a rule's occurrence, plus failed attempts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Select, func, select

from autopilot.services.records import LogEntry, LogFilter, LogRecord
from autopilot.storage.bulk import insert_rows
from autopilot.storage.tables import automation_execution_logs as t


def _row(entry: LogEntry, now: datetime) -> dict[str, Any]:
    return {
        "automation_type": entry.automation_type,
        "automation_id": entry.automation_id,
        "client_id": entry.client_id,
        "execution_date": entry.execution_date,
        "status": entry.status,
        "order_ids": list(entry.order_ids),
        "message": entry.message,
        "error": entry.error,
        "details": entry.details,
        "triggered_by": entry.triggered_by,
        "attempt": entry.attempt,
        "started_at": entry.started_at,
        "finished_at": entry.finished_at or now,
        "created_at": now,
    }


class ExecutionLogs:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add_many(self, entries: Sequence[LogEntry], now: datetime) -> None:
        if entries:
            insert_rows(self._c, t, [_row(e, now) for e in entries])

    def last_occurrence(self, automation_id: str) -> date | None:
        """The latest occurrence of a rule that has an outcome (executed or skipped)."""
        return self._c.execute(
            select(func.max(t.c.execution_date)).where(
                t.c.automation_id == automation_id, t.c.status != "Failed"
            )
        ).scalar_one_or_none()

    def failed_attempts(self, automation_id: str, execution_date: date) -> int:
        """How many attempts at this occurrence of the rule have failed so far."""
        return int(
            self._c.execute(
                select(func.count()).where(
                    t.c.automation_id == automation_id,
                    t.c.execution_date == execution_date,
                    t.c.status == "Failed",
                )
            ).scalar_one()
        )

    def with_outcome(self, automation_ids: Sequence[str], execution_date: date) -> set[str]:
        """Which of the rules already have an outcome (not a failed attempt) for the date."""
        if not automation_ids:
            return set()
        rows = self._c.execute(
            select(t.c.automation_id).where(
                t.c.automation_id.in_(sorted(set(automation_ids))),
                t.c.execution_date == execution_date,
                t.c.status != "Failed",
            )
        )
        return {r.automation_id for r in rows}

    def resolve(self, entry: LogEntry, now: datetime) -> None:
        """Log the outcome of an occurrence that waited for approval (approved, rejected or
        expired) as a row of its own; the PendingApproval row before it stays as history."""
        self.add_many([entry], now)

    def search(self, where: LogFilter, *, offset: int, limit: int) -> tuple[list[LogRecord], int]:
        stmt: Select[Any] = select(t)
        for column, value in (
            (t.c.client_id, where.client_id),
            (t.c.automation_type, where.automation_type),
            (t.c.automation_id, where.automation_id),
            (t.c.status, where.status),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if where.date_from is not None:
            stmt = stmt.where(t.c.execution_date >= where.date_from)
        if where.date_to is not None:
            stmt = stmt.where(t.c.execution_date <= where.date_to)
        total = self._c.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        rows = self._c.execute(stmt.order_by(t.c.id.desc()).offset(offset).limit(limit))
        return [_record(r) for r in rows], total


def _record(row: Any) -> LogRecord:
    entry = LogEntry(
        automation_type=row.automation_type,
        automation_id=row.automation_id,
        client_id=row.client_id,
        execution_date=row.execution_date,
        status=row.status,
        message=row.message,
        triggered_by=row.triggered_by,
        attempt=row.attempt,
        started_at=row.started_at,
        finished_at=row.finished_at,
        order_ids=tuple(row.order_ids or ()),
        error=row.error,
        details=row.details,
    )
    return LogRecord(id=row.id, entry=entry, created_at=row.created_at)
