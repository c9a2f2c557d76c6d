"""Liveness, API keys and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from autopilot.api.deps import IdPath, PageDep, PageSizeDep, ServicesDep
from autopilot.api.envelope import ok
from autopilot.api.openapi import errors
from autopilot.api.presenters import access as shape
from autopilot.api.presenters.common import page
from autopilot.api.schemas.requests import ApiKeyCreate
from autopilot.api.schemas.responses import (
    ApiKeyPublic,
    AuditEventPublic,
    Envelope,
    Health,
    NewApiKeyPublic,
    Page,
)
from autopilot.api.security import CallerDep, authorize, grant
from autopilot.domain.errors import InvalidInput
from autopilot.services.access import Role
from autopilot.services.records import AuditFilter

health_router = APIRouter(prefix="/api", tags=["access"])
router = APIRouter(prefix="/api", tags=["access"], dependencies=[Depends(authorize)])

READERS = (Role.OPERATOR,)


@health_router.get("/health", response_model=Envelope[Health])
def health() -> Envelope[Health]:
    """Liveness: the process answers (no key needed)."""
    return ok(Health(status="ok"))


@router.post(
    "/api-keys", status_code=201, response_model=Envelope[NewApiKeyPublic], responses=errors(404)
)
@grant("api_key.create", Role.CLIENT)
def create_key(
    body: ApiKeyCreate, services: ServicesDep, caller: CallerDep
) -> Envelope[NewApiKeyPublic]:
    """A new key, shown this once (an admin makes any; a client key, client keys of its own)."""
    made = services.keys.create(
        name=body.name,
        role=Role(body.role),
        client_id=body.client_id,
        expires_in_days=body.expires_in_days,
        caller=caller,
    )
    return ok(shape.new_key(made))


@router.get("/api-keys", response_model=Envelope[Page[ApiKeyPublic]])
@grant("api_key.list", Role.OPERATOR, Role.CLIENT)
def list_keys(
    services: ServicesDep, caller: CallerDep, page_number: PageDep = 1, page_size: PageSizeDep = 50
) -> Envelope[Page[ApiKeyPublic]]:
    records, total = services.keys.search(caller=caller, page=page_number, page_size=page_size)
    return ok(page([shape.key(r) for r in records], total, page_number, page_size))


@router.post(
    "/api-keys/{key_id}/revoke", response_model=Envelope[ApiKeyPublic], responses=errors(404)
)
@grant("api_key.revoke", Role.CLIENT)
def revoke_key(key_id: IdPath, services: ServicesDep, caller: CallerDep) -> Envelope[ApiKeyPublic]:
    return ok(shape.key(services.keys.revoke(key_id, caller=caller)))


@router.get("/audit-events", response_model=Envelope[Page[AuditEventPublic]])
@grant("audit_event.list", *READERS)
def audit_events(
    services: ServicesDep,
    actor_key_id: Annotated[int | None, Query(alias="actorKeyId", ge=1, le=2**31 - 1)] = None,
    action: Annotated[str | None, Query(max_length=80)] = None,
    resource_id: Annotated[str | None, Query(alias="resourceId", max_length=80)] = None,
    client_id: Annotated[int | None, Query(alias="clientId", ge=1, le=2**31 - 1)] = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    page_number: PageDep = 1,
    page_size: PageSizeDep = 50,
) -> Envelope[Page[AuditEventPublic]]:
    for name, moment in (("from", since), ("to", until)):
        if moment is not None and moment.utcoffset() is None:
            raise InvalidInput(name, "must include a timezone offset")
    if since and until and until < since:
        raise InvalidInput("to", "must not be before from")
    where = AuditFilter(
        actor_key_id=actor_key_id,
        action=action,
        resource_id=resource_id,
        client_id=client_id,
        since=since,
        until=until,
    )
    records, total = services.audit.search(where, page=page_number, page_size=page_size)
    return ok(page([shape.audit_event(r) for r in records], total, page_number, page_size))
