"""Scheduler endpoints from the operator's guide: execute, status, execution logs, start, stop."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from autopilot.api.deps import ClientIdQuery, PageDep, PageSizeDep, SchedulerDep, ServicesDep
from autopilot.api.envelope import ok
from autopilot.api.openapi import errors
from autopilot.api.presenters.common import page
from autopilot.api.presenters.logs import execution_log
from autopilot.api.presenters.results import execution, scheduler_status, worker
from autopilot.api.schemas.requests import ExecuteRequest
from autopilot.api.schemas.responses import (
    Envelope,
    ExecutionLogPublic,
    ExecutionPublic,
    Page,
    SchedulerStatusPublic,
    SchedulerTogglePublic,
    WorkerPublic,
)
from autopilot.api.security import CallerDep, authorize, grant, limit_executions
from autopilot.domain.errors import InvalidInput
from autopilot.domain.outcomes import AutomationType, OutcomeStatus
from autopilot.services.access import Role
from autopilot.services.audit import Named
from autopilot.services.execution.passes import ExecuteCommand, Kind
from autopilot.services.records import LogFilter

router = APIRouter(prefix="/api/automation", tags=["scheduler"], dependencies=[Depends(authorize)])

AutomationTypeName = Literal["AutoInvest", "Rebalancing", "TriggerOrder"]
LogStatus = Literal["Success", "Failed", "Skipped", "PendingApproval"]
Toggle = Envelope[SchedulerTogglePublic]


@router.post(
    "/scheduler/execute", response_model=Envelope[ExecutionPublic], responses=errors(404, 409)
)
@grant("scheduler.execute", Role.CLIENT)
def execute(
    request: Request,
    body: ExecuteRequest,
    services: ServicesDep,
    caller: CallerDep,
    _: Annotated[None, Depends(limit_executions)],
) -> Envelope[ExecutionPublic]:
    """Run due work now: one rule (`ruleId`) or every due rule of the type (what cron calls).
    A client key executes its own client's rules alone."""
    command = ExecuteCommand(
        kind=Kind(body.type), rule_id=body.rule_id, client_id=body.client_id, caller=caller
    )
    result = services.passes.execute(command)
    owner = result.only_client() or body.client_id or caller.client_id
    request.state.audit_subject = Named(body.rule_id, owner)  # the audit event's subject
    return ok(execution(body.type, result))


@router.get("/scheduler/status", response_model=Envelope[SchedulerStatusPublic])
@grant("scheduler.status", Role.OPERATOR)
def status(scheduler: SchedulerDep, services: ServicesDep) -> Envelope[SchedulerStatusPublic]:
    settings = services.settings
    return ok(
        scheduler_status(
            is_running=scheduler.is_running,
            check_interval_ms=scheduler.check_interval_ms,
            enabled=settings.automation_scheduler_enabled,
            timezone=settings.automation_timezone,
            last=scheduler.last_pass,
            next_at=scheduler.next_pass_at,
            workers=services.workers.list(),
        )
    )


@router.get("/workers", response_model=Envelope[Page[WorkerPublic]])
@grant("worker.list", Role.OPERATOR)
def workers(
    services: ServicesDep, page_number: PageDep = 1, page_size: PageSizeDep = 50
) -> Envelope[Page[WorkerPublic]]:
    """The dedicated workers (`autopilot worker`): alive, dead (no heartbeat within the lease,
    their work taken over by the others) and stopped, by start time."""
    found = services.workers.list().workers
    start = (page_number - 1) * page_size
    shown = [worker(w) for w in found[start : start + page_size]]
    return ok(page(shown, len(found), page_number, page_size))


@router.post("/scheduler/start", response_model=Toggle)
@grant("scheduler.start")
def start(scheduler: SchedulerDep) -> Toggle:
    started = scheduler.start()
    return ok(SchedulerTogglePublic(is_running=scheduler.is_running, changed=started))


@router.post("/scheduler/stop", response_model=Toggle)
@grant("scheduler.stop")
def stop(scheduler: SchedulerDep) -> Toggle:
    stopped = scheduler.stop()
    return ok(SchedulerTogglePublic(is_running=scheduler.is_running, changed=stopped))


@router.get("/execution-logs", response_model=Envelope[Page[ExecutionLogPublic]])
@grant("execution_log.list", Role.OPERATOR, Role.CLIENT)
def execution_logs(
    services: ServicesDep,
    caller: CallerDep,
    client_id: ClientIdQuery = None,
    automation_type: Annotated[AutomationTypeName | None, Query(alias="automationType")] = None,
    automation_id: Annotated[str | None, Query(alias="automationId")] = None,
    status: Annotated[LogStatus | None, Query()] = None,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    page_number: PageDep = 1,
    page_size: PageSizeDep = 50,
) -> Envelope[Page[ExecutionLogPublic]]:
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
    records, total = services.logs.search(
        where, page=page_number, page_size=page_size, caller=caller
    )
    return ok(page([execution_log(r) for r in records], total, page_number, page_size))
