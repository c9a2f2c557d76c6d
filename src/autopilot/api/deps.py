"""FastAPI dependencies: the wired services and the scheduler, from app.state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from autopilot.bootstrap import Services
from autopilot.engine.scheduler import Scheduler


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _scheduler(request: Request) -> Scheduler:
    scheduler: Scheduler = request.app.state.scheduler
    return scheduler


ServicesDep = Annotated[Services, Depends(_services)]
SchedulerDep = Annotated[Scheduler, Depends(_scheduler)]
PageDep = Annotated[int, Query(ge=1, le=1_000_000)]
PageSizeDep = Annotated[int, Query(alias="pageSize", ge=1, le=500)]
