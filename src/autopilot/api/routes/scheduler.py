"""Scheduler endpoints from the operator's guide: execute, status, execution logs, start, stop."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from autopilot.api import presenters
from autopilot.api.deps import ClientIdQuery, PageDep, PageSizeDep, SchedulerDep, ServicesDep
from autopilot.api.envelope import ok
from autopilot.api.schemas import ExecuteRequest
from autopilot.domain.errors import InvalidInput
from autopilot.services.ports import market_today
from autopilot.services.records import LogFilter
from autopilot.services.submission import resubmit_pending

router = APIRouter(prefix="/api/automation", tags=["scheduler"])

AutomationType = Literal["AutoInvest", "Rebalancing", "TriggerOrder"]
LogStatus = Literal["Success", "Failed", "Skipped", "PendingApproval"]


@router.post("/scheduler/execute")
def execute(body: ExecuteRequest, services: ServicesDep) -> JSONResponse:
    """Run due work now: one rule (`ruleId`) or every due rule of the type (what cron calls)."""
    if body.type == "triggers" and body.rule_id is not None:
        raise InvalidInput("ruleId", "triggers execute by client: give clientId or nothing")
    if body.type != "triggers" and body.client_id is not None:  # ignored, it would run all
        raise InvalidInput(
            "clientId", f"{body.type} executes by ruleId, or every due rule without one"
        )
    if body.rule_id is None:
        # What a cron job calls: a pass of this type, so it first hands the broker what an
        # earlier crash or broker outage left Pending, as the scheduler's own pass does.
        resubmit_pending(services.uow, services.broker)
    if body.type == "triggers":
        result = services.triggers.run_all(client_id=body.client_id, triggered_by="api")
        return ok({"type": body.type, **result.as_dict()})
    today = market_today(services.clock, services.settings.zone)
    executor = services.auto_invest if body.type == "auto-invest" else services.rebalancing
    if body.rule_id is not None:
        result = executor.run_one(body.rule_id, today, triggered_by="api")
    else:
        result = executor.run_due(today, triggered_by="api")
    return ok({"type": body.type, **result.as_dict()})


@router.get("/scheduler/status")
def status(scheduler: SchedulerDep, services: ServicesDep) -> JSONResponse:
    last = scheduler.last_pass
    return ok(
        {
            "isRunning": scheduler.is_running,
            "checkInterval": str(scheduler.check_interval_ms),
            "enabled": services.settings.automation_scheduler_enabled,
            "timezone": services.settings.automation_timezone,
            "lastRunAt": presenters.moment(last.started_at) if last else None,
            "nextRunAt": presenters.moment(scheduler.next_pass_at),
            "lastRun": last.as_dict() if last else None,
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
    automation_type: Annotated[AutomationType | None, Query(alias="automationType")] = None,
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
        automation_type=automation_type,
        automation_id=automation_id,
        status=status,
        date_from=date_from,
        date_to=date_to,
    )
    records, total = services.logs.search(where, page=page, page_size=page_size)
    items = [presenters.execution_log(r) for r in records]
    return ok(presenters.page(items, total, page, page_size))
