"""The execution log: one row per outcome of a rule's occurrence, plus failed attempts, rows
awaiting approval and no-op checks (see :data:`autopilot.storage.tables.OUTCOME_ROWS`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Select, func, select

from autopilot.domain.outcomes import AutomationType, OutcomeStatus
from autopilot.services.records import GAVE_UP, LogEntry, LogFilter, LogRecord
from autopilot.storage.bulk import insert_rows, key_in
from autopilot.storage.tables import NO_OP_ROWS, automation_attempts
from autopilot.storage.tables import automation_execution_logs as t

FAILED = OutcomeStatus.FAILED.value
# Not an outcome of its occurrence: a failed attempt, a row awaiting approval, a no-op check.
_OUTCOME = (t.c.status.notin_([FAILED, OutcomeStatus.PENDING_APPROVAL.value])) & ~t.c.no_op


def _row(entry: LogEntry, now: datetime) -> dict[str, Any]:
    return {
        "automation_type": entry.automation_type._value_,  # `.value` without its descriptor
        "automation_id": entry.automation_id,
        "client_id": entry.client_id,
        "execution_date": entry.execution_date,
        "status": entry.status._value_,
        "order_ids": list(entry.order_ids),
        "message": entry.message,
        "error": entry.error,
        "details": entry.details,
        "triggered_by": entry.triggered_by,
        "attempt": entry.attempt,
        "started_at": entry.started_at,
        "finished_at": entry.finished_at or now,
        "created_at": now,
        "no_op": entry.no_op,
    }


class ExecutionLogs:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add_many(self, entries: Sequence[LogEntry], now: datetime) -> None:
        rows = [_row(e, now) for e in entries if not e.no_op]
        checks = [_row(e, now) for e in entries if e.no_op]
        insert_rows(self._c, t, rows)
        # A later no-op check of the same day overwrites the earlier one's row (its first
        # created_at stays), so an hourly pass over an untradeable drift adds no row an hour.
        insert_rows(
            self._c,
            t,
            checks,
            upsert_on=("automation_id", "execution_date"),
            upsert_where=NO_OP_ROWS,
            keep=("created_at",),
        )

    def last_occurrence(self, automation_id: str) -> date | None:
        return self._c.execute(
            select(func.max(t.c.execution_date)).where(t.c.automation_id == automation_id, _OUTCOME)
        ).scalar_one_or_none()

    def with_outcome(self, automation_ids: Sequence[str], execution_date: date) -> set[str]:
        if not automation_ids:
            return set()
        rows = self._c.execute(
            select(t.c.automation_id).where(
                key_in(self._c, t.c.automation_id, sorted(set(automation_ids))),
                t.c.execution_date == execution_date,
                _OUTCOME,
            )
        )
        return {r.automation_id for r in rows}

    def search(self, where: LogFilter, *, offset: int, limit: int) -> tuple[list[LogRecord], int]:
        stmt = _filtered(select(t), where)
        total = self._c.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        rows = self._c.execute(stmt.order_by(t.c.id.desc()).offset(offset).limit(limit))
        return [_record(r) for r in rows], total

    def still_failing(self, where: LogFilter, *, limit: int) -> list[tuple[AutomationType, str]]:
        a = automation_attempts.c
        stmt = (
            _filtered(select(t.c.automation_type, t.c.automation_id), where)
            .join(automation_attempts, a.automation_id == t.c.automation_id)
            .distinct()
            .order_by(t.c.automation_id)
            .limit(limit)
        )
        return [(AutomationType(r.automation_type), r.automation_id) for r in self._c.execute(stmt)]


def _filtered(stmt: Select[Any], where: LogFilter) -> Select[Any]:
    for column, value in (
        (t.c.client_id, where.client_id),
        (t.c.automation_type, where.automation_type and where.automation_type.value),
        (t.c.automation_id, where.automation_id),
        (t.c.status, where.status and where.status.value),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if where.date_from is not None:
        stmt = stmt.where(t.c.execution_date >= where.date_from)
    if where.date_to is not None:
        stmt = stmt.where(t.c.execution_date <= where.date_to)
    if where.failures:
        gave_up = (t.c.status == OutcomeStatus.SKIPPED.value) & t.c.message.startswith(
            GAVE_UP, autoescape=True
        )
        stmt = stmt.where((t.c.status == FAILED) | gave_up)
    return stmt


def _record(row: Any) -> LogRecord:
    entry = LogEntry(
        automation_type=AutomationType(row.automation_type),
        automation_id=row.automation_id,
        client_id=row.client_id,
        execution_date=row.execution_date,
        status=OutcomeStatus(row.status),
        message=row.message,
        triggered_by=row.triggered_by,
        attempt=row.attempt,
        started_at=row.started_at,
        finished_at=row.finished_at,
        order_ids=tuple(row.order_ids or ()),
        error=row.error,
        details=row.details,
        no_op=row.no_op,
    )
    return LogRecord(id=row.id, entry=entry, created_at=row.created_at)
