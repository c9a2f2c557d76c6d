"""Shaping execution-log rows."""

from __future__ import annotations

from autopilot.api.presenters.common import at, on
from autopilot.api.schemas.responses import ExecutionLogPublic
from autopilot.services.records import LogRecord


def execution_log(record: LogRecord) -> ExecutionLogPublic:
    e = record.entry
    assert e.finished_at is not None  # set when the row is written
    return ExecutionLogPublic(
        id=record.id,
        automation_type=e.automation_type.value,
        automation_id=e.automation_id,
        client_id=e.client_id,
        execution_date=on(e.execution_date),
        status=e.status.value,
        order_ids=list(e.order_ids),
        message=e.message,
        error=e.error,
        details=e.details,
        triggered_by=e.triggered_by,
        attempt=e.attempt,
        started_at=at(e.started_at),
        finished_at=at(e.finished_at),
        created_at=at(record.created_at),
        no_op=e.no_op,
    )
