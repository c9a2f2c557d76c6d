"""Shaping what a pass or a manual execution did, and the scheduler's status."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from autopilot.api.presenters.common import at, moment, on
from autopilot.api.schemas.responses import (
    Counts,
    ExecutionPublic,
    LastRunPublic,
    PassSummaryPublic,
    RuleResultPublic,
    SchedulerStatusPublic,
    WorkerPublic,
)
from autopilot.domain.outcomes import OutcomeStatus
from autopilot.engine.scheduler import PassReport
from autopilot.services.execution.results import PassResult, RuleResult
from autopilot.services.records import WorkerState
from autopilot.services.workers import Workers, WorkerView


def rule_result(result: RuleResult) -> RuleResultPublic:
    return RuleResultPublic(
        rule_id=result.rule_id,
        client_id=result.client_id,
        execution_date=on(result.occurrence),
        status=result.status.value,
        order_ids=list(result.order_ids),
        message=result.message,
        error=result.error,
    )


def counts(result: PassResult) -> Counts:
    return Counts(
        executed=result.counts[OutcomeStatus.SUCCESS],
        skipped=result.counts[OutcomeStatus.SKIPPED],
        failed=result.counts[OutcomeStatus.FAILED],
        pending_approval=result.counts[OutcomeStatus.PENDING_APPROVAL],
    )


def summary(result: PassResult) -> PassSummaryPublic:
    def listed(status: OutcomeStatus) -> list[RuleResultPublic]:
        return [rule_result(r) for r in result.of(status)]

    return PassSummaryPublic(
        executed=listed(OutcomeStatus.SUCCESS),
        skipped=listed(OutcomeStatus.SKIPPED),
        failed=listed(OutcomeStatus.FAILED),
        pending_approval=listed(OutcomeStatus.PENDING_APPROVAL),
        counts=counts(result),
        truncated=result.truncated,
    )


def execution(
    kind: Literal["auto-invest", "rebalancing", "triggers"], result: PassResult
) -> ExecutionPublic:
    return ExecutionPublic(type=kind, **dict(summary(result)))


def last_run(report: PassReport | None) -> LastRunPublic | None:
    if report is None:
        return None
    shown = counts(report.result).model_dump() if report.result else {}
    return LastRunPublic(
        started_at=at(report.started_at),
        finished_at=at(report.finished_at),
        error=report.error,
        **shown,
    )


def scheduler_status(
    *,
    is_running: bool,
    check_interval_ms: int,
    enabled: bool,
    timezone: str,
    last: PassReport | None,
    next_at: datetime | None,
    workers: Workers,
) -> SchedulerStatusPublic:
    return SchedulerStatusPublic(
        is_running=is_running,
        check_interval=str(check_interval_ms),
        enabled=enabled,
        timezone=timezone,
        last_run_at=None if last is None else at(last.started_at),
        next_run_at=moment(next_at),
        last_run=last_run(last),
        workers=[worker(w) for w in workers.workers if w.state is not WorkerState.STOPPED],
    )


def worker(view: WorkerView) -> WorkerPublic:
    record = view.record
    return WorkerPublic(
        id=record.id,
        host=record.host,
        pid=record.pid,
        status=view.state.value,
        started_at=at(record.started_at),
        heartbeat_at=at(record.heartbeat_at),
        stopped_at=moment(record.stopped_at),
        holds=record.holds,
    )
