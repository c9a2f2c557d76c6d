"""FastAPI dependencies: the wired services and the scheduler, from app.state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from autopilot.bootstrap import Services
from autopilot.engine.scheduler import Scheduler
from autopilot.services.validation import SYMBOL_AS_GIVEN


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _scheduler(request: Request) -> Scheduler:
    scheduler: Scheduler = request.app.state.scheduler
    return scheduler


ServicesDep = Annotated[Services, Depends(_services)]
SchedulerDep = Annotated[Scheduler, Depends(_scheduler)]
# Ids are INTEGER columns (32-bit on PostgreSQL): a larger number is no id, not a server error.
MAX_ID = 2**31 - 1
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
ClientIdQuery = Annotated[int | None, Query(alias="clientId", ge=1, le=MAX_ID)]
AccountIdQuery = Annotated[int | None, Query(alias="accountId", ge=1, le=MAX_ID)]
# Documented as the services check it (they name the field when they refuse).
SymbolPath = Annotated[
    str,
    Path(
        max_length=16,
        description="A ticker symbol: a letter, then letters, digits, '.' or '-' (not CASH).",
        json_schema_extra={"pattern": SYMBOL_AS_GIVEN},
    ),
]
PageDep = Annotated[int, Query(alias="page", ge=1, le=1_000_000)]
PageSizeDep = Annotated[int, Query(alias="pageSize", ge=1, le=500)]
