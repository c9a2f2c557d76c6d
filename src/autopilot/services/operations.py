"""What an operator looks at first: what is waiting, and how the executions have gone lately.

The executions of the last :data:`HOURS` hours are counted by hour and status in the database
(one grouped query, whatever the log's size); the failure rate is failed attempts over all
executions in a window. A client's caller sees its own client's numbers alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from autopilot.domain.outcomes import OutcomeStatus
from autopilot.services.access import SYSTEM, Caller
from autopilot.services.ports import Clock, UnitOfWorkFactory
from autopilot.services.records import HourlyCount, OperationsCounts

HOURS = 48
STATUSES = (
    OutcomeStatus.SUCCESS,
    OutcomeStatus.FAILED,
    OutcomeStatus.SKIPPED,
    OutcomeStatus.PENDING_APPROVAL,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionHistory:
    """Executions per hour: ``hours[i]`` starts the hour whose counts are ``by_status[s][i]``."""

    hours: list[datetime]
    by_status: dict[OutcomeStatus, list[int]]

    def total(self, last_hours: int | None = None) -> int:
        start = 0 if last_hours is None else max(0, len(self.hours) - last_hours)
        return sum(sum(counts[start:]) for counts in self.by_status.values())

    def failure_rate(self, last_hours: int | None = None) -> Decimal | None:
        """Failed attempts over all executions in the last hours (all of them by default);
        None when there were none."""
        total = self.total(last_hours)
        if total == 0:
            return None
        start = 0 if last_hours is None else max(0, len(self.hours) - last_hours)
        failed = sum(self.by_status[OutcomeStatus.FAILED][start:])
        return Decimal(failed) / Decimal(total)


@dataclass(frozen=True, slots=True, kw_only=True)
class Overview:
    counts: OperationsCounts
    history: ExecutionHistory


def history_of(rows: list[HourlyCount], now: datetime, hours: int = HOURS) -> ExecutionHistory:
    """``rows`` laid out over the last ``hours`` hours up to the one ``now`` is in, each
    status with a count for every hour (0 where none)."""
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    starts = [current - timedelta(hours=hours - 1 - i) for i in range(hours)]
    slot = {hour: i for i, hour in enumerate(starts)}
    by_status = {status: [0] * hours for status in STATUSES}
    for row in rows:
        i = slot.get(row.hour)
        if i is not None and row.status in by_status:
            by_status[row.status][i] += row.count
    return ExecutionHistory(hours=starts, by_status=by_status)


class OperationsService:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def overview(self, today: date, *, caller: Caller = SYSTEM) -> Overview:
        now = self._clock.now()
        since = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(
            hours=HOURS - 1
        )
        client_id = caller.client_id if caller.is_client else None
        with self._uow(read_only=True) as uow:
            counts = uow.stats.counts(today, now=now, client_id=client_id)
            rows = uow.stats.executions_by_hour(since, client_id=client_id)
        return Overview(counts=counts, history=history_of(rows, now))
