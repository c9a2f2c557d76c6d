"""The execution log and the failed attempts, in memory, with the log's outcome key."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime

from autopilot.domain.outcomes import AutomationType, OutcomeStatus
from autopilot.services.records import GAVE_UP, FailedAttempts, LogEntry, LogFilter, LogRecord
from autopilot.storage.memory.tables import Tables, refused

_NOT_OUTCOMES = (OutcomeStatus.FAILED, OutcomeStatus.PENDING_APPROVAL)


def is_outcome(entry: LogEntry) -> bool:
    """Whether the row counts under the outcome key (one per rule and occurrence)."""
    return entry.status not in _NOT_OUTCOMES and not entry.no_op


class MemoryExecutionLogs:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def add_many(self, entries: Sequence[LogEntry], now: datetime) -> None:
        outcomes = {
            (r.entry.automation_id, r.entry.execution_date)
            for r in self._t.logs.values()
            if is_outcome(r.entry)
        }
        for entry in entries:
            entry = replace(entry, finished_at=entry.finished_at or now)
            key = (entry.automation_id, entry.execution_date)
            if entry.no_op:
                self._check(entry, now)
                continue
            if is_outcome(entry):
                if key in outcomes:
                    raise refused(f"uq_automation_execution_logs_outcome: {key}")
                outcomes.add(key)
            self._append(entry, now)

    def _check(self, entry: LogEntry, now: datetime) -> None:
        """A no-op check overwrites the day's earlier one (its id and created_at stay)."""
        for row_id, row in self._t.logs.items():
            earlier = row.entry
            if earlier.no_op and (earlier.automation_id, earlier.execution_date) == (
                entry.automation_id,
                entry.execution_date,
            ):
                self._t.logs[row_id] = replace(row, entry=entry)
                return
        self._append(entry, now)

    def _append(self, entry: LogEntry, now: datetime) -> None:
        row_id = self._t.next_log
        self._t.logs[row_id] = LogRecord(id=row_id, entry=entry, created_at=now)
        self._t.next_log += 1

    def last_occurrence(self, automation_id: str) -> date | None:
        days = [
            r.entry.execution_date
            for r in self._t.logs.values()
            if r.entry.automation_id == automation_id and is_outcome(r.entry)
        ]
        return max(days, default=None)

    def with_outcome(self, automation_ids: Sequence[str], execution_date: date) -> set[str]:
        wanted = set(automation_ids)
        return {
            r.entry.automation_id
            for r in self._t.logs.values()
            if r.entry.automation_id in wanted
            and r.entry.execution_date == execution_date
            and is_outcome(r.entry)
        }

    def search(self, where: LogFilter, *, offset: int, limit: int) -> tuple[list[LogRecord], int]:
        def matches(e: LogEntry) -> bool:
            return (
                (where.client_id is None or e.client_id == where.client_id)
                and (where.automation_type is None or e.automation_type == where.automation_type)
                and (where.automation_id is None or e.automation_id == where.automation_id)
                and (where.status is None or e.status == where.status)
                and (where.date_from is None or e.execution_date >= where.date_from)
                and (where.date_to is None or e.execution_date <= where.date_to)
                and (not where.failures or _went_wrong(e))
            )

        found = sorted((r for r in self._t.logs.values() if matches(r.entry)), key=lambda r: -r.id)
        return found[offset : offset + limit], len(found)

    def still_failing(self, where: LogFilter, *, limit: int) -> list[tuple[AutomationType, str]]:
        found, _ = self.search(where, offset=0, limit=len(self._t.logs))
        rules = {
            (r.entry.automation_id, r.entry.automation_type)
            for r in found
            if r.entry.automation_id in self._t.attempts
        }
        return [(kind, rule_id) for rule_id, kind in sorted(rules)][:limit]


class MemoryAttempts:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def of(self, automation_ids: Iterable[str]) -> dict[str, FailedAttempts]:
        return {i: self._t.attempts[i] for i in set(automation_ids) if i in self._t.attempts}

    def save(self, attempts: Sequence[FailedAttempts], now: datetime) -> None:
        for attempt in attempts:
            self._t.attempts[attempt.automation_id] = attempt

    def clear(self, automation_ids: Iterable[str]) -> None:
        for automation_id in set(automation_ids):
            self._t.attempts.pop(automation_id, None)


def _went_wrong(e: LogEntry) -> bool:
    """A failed attempt, or an occurrence given up after its failed attempts."""
    return e.status is OutcomeStatus.FAILED or (
        e.status is OutcomeStatus.SKIPPED and e.message.startswith(GAVE_UP)
    )
