"""Scheduler endpoints from the operator's guide: execute, status, execution logs, start, stop."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from autopilot.api.deps import ClientIdQuery, PageDep, PageSizeDep, SchedulerDep, ServicesDep
from autopilot.api.envelope import ok
from autopilot.api.presenters import common as presenters
from autopilot.api.presenters.results import counts, pass_result
from autopilot.api.schemas import ExecuteRequest
from autopilot.domain.errors import InvalidInput
from autopilot.domain.outcomes import AutomationType, OutcomeStatus
from autopilot.services.execution.passes import ExecuteCommand, Kind
from autopilot.services.records import LogFilter

router = APIRouter(prefix="/api/automation", tags=["scheduler"])

AutomationTypeName = Literal["AutoInvest", "Rebalancing", "TriggerOrder"]
LogStatus = Literal["Success", "Failed", "Skipped", "PendingApproval"]


@router.post("/scheduler/execute")
def execute(body: ExecuteRequest, services: ServicesDep) -> JSONResponse:
    """Run due work now: one rule (`ruleId`) or every due rule of the type (what cron calls)."""
    command = ExecuteCommand(
        kind=Kind(body.type), rule_id=body.rule_id, client_id=body.client_id, triggered_by="api"
    )
    result = services.passes.execute(command)
    return ok({"type": body.type, **pass_result(result)})


@router.get("/scheduler/status")
def status(scheduler: SchedulerDep, services: ServicesDep) -> JSONResponse:
    last = scheduler.last_pass
    last_run = None
    if last is not None:
        last_run = {
            "startedAt": presenters.moment(last.started_at),
            "finishedAt": presenters.moment(last.finished_at),
            "error": last.error,
            **(counts(last.result) if last.result else {}),
        }
    return ok(
        {
            "isRunning": scheduler.is_running,
            "checkInterval": str(scheduler.check_interval_ms),
            "enabled": services.settings.automation_scheduler_enabled,
            "timezone": services.settings.automation_timezone,
            "lastRunAt": presenters.moment(last.started_at) if last else None,
            "nextRunAt": presenters.moment(scheduler.next_pass_at),
            "lastRun": last_run,
        }
    )


@router.post("/scheduler/start")
def start(scheduler: SchedulerDep) -> JSONResponse:
    started = scheduler.start()
    return ok({"isRunning": scheduler.is_running, "changed": started})


@router.post("/scheduler/stop")
def stop(scheduler: SchedulerDep) -> JSONResponse:
    stopped = scheduler.stop()
    return ok({"isRunning": scheduler.is_running, "changed": stopped})


@router.get("/execution-logs")
def execution_logs(
    services: ServicesDep,
    client_id: ClientIdQuery = None,
    automation_type: Annotated[AutomationTypeName | None, Query(alias="automationType")] = None,
    automation_id: Annotated[str | None, Query(alias="automationId")] = None,
    status: Annotated[LogStatus | None, Query()] = None,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    page: PageDep = 1,
    page_size: PageSizeDep = 50,
) -> JSONResponse:
    if date_from and date_to and date_to < date_from:
        raise InvalidInput("to", "must not be before from")
    where = LogFilter(
        client_id=client_id,
        automation_type=None if automation_type is None else AutomationType(automation_type),
        automation_id=automation_id,
        status=None if status is None else OutcomeStatus(status),
        date_from=date_from,
        date_to=date_to,
    )
    records, total = services.logs.search(where, page=page, page_size=page_size)
    items = [presenters.execution_log(r) for r in records]
    return ok(presenters.page(items, total, page, page_size))
