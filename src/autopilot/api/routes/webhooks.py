"""Webhook subscriptions (admin), their delivery log (admin, operator)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from autopilot.api.deps import IdPath, PageDep, PageSizeDep, ServicesDep
from autopilot.api.envelope import ok
from autopilot.api.openapi import errors
from autopilot.api.presenters.common import at, moment, page
from autopilot.api.schemas.requests import WebhookCreate
from autopilot.api.schemas.responses import (
    DeletedPublic,
    Envelope,
    NewWebhookPublic,
    Page,
    WebhookAttemptPublic,
    WebhookPublic,
)
from autopilot.api.security import CallerDep, authorize, grant
from autopilot.services.access import Role
from autopilot.services.records import WebhookAttempt, WebhookSubscription

router = APIRouter(prefix="/api", tags=["webhooks"], dependencies=[Depends(authorize)])


def _shown(record: WebhookSubscription) -> WebhookPublic:
    return WebhookPublic(
        id=record.id,
        url=record.url,
        events=list(record.events),
        created_at=at(record.created_at),
        failing_since=moment(record.failing_since),
        disabled_at=moment(record.disabled_at),
    )


def _attempt(record: WebhookAttempt) -> WebhookAttemptPublic:
    return WebhookAttemptPublic(
        delivery_id=record.delivery_id,
        event=record.event,
        attempt=record.attempt,
        at=at(record.at),
        status_code=record.status_code,
        latency_ms=record.latency_ms,
        error=record.error,
    )


@router.post("/webhooks", status_code=201, response_model=Envelope[NewWebhookPublic])
@grant("webhook.create")
def create(
    body: WebhookCreate, services: ServicesDep, caller: CallerDep
) -> Envelope[NewWebhookPublic]:
    """Subscribe a URL to events; the signing secret is in this answer only."""
    made = services.webhooks.subscribe(body.url, body.events, caller=caller)
    shown = _shown(made.record)
    return ok(NewWebhookPublic(**shown.model_dump(), secret=made.secret))


@router.get("/webhooks", response_model=Envelope[Page[WebhookPublic]])
@grant("webhook.list", Role.OPERATOR)
def list_all(
    services: ServicesDep, page_number: PageDep = 1, page_size: PageSizeDep = 50
) -> Envelope[Page[WebhookPublic]]:
    found = services.webhooks.all()
    start = (page_number - 1) * page_size
    shown = [_shown(r) for r in found[start : start + page_size]]
    return ok(page(shown, len(found), page_number, page_size))


@router.get("/webhooks/{webhook_id}", response_model=Envelope[WebhookPublic], responses=errors(404))
@grant("webhook.get", Role.OPERATOR)
def get(webhook_id: IdPath, services: ServicesDep) -> Envelope[WebhookPublic]:
    return ok(_shown(services.webhooks.get(webhook_id)))


@router.delete(
    "/webhooks/{webhook_id}", response_model=Envelope[DeletedPublic], responses=errors(404)
)
@grant("webhook.delete")
def delete(webhook_id: IdPath, services: ServicesDep, caller: CallerDep) -> Envelope[DeletedPublic]:
    services.webhooks.delete(webhook_id, caller=caller)
    return ok(DeletedPublic(id=webhook_id, deleted=True))


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=Envelope[Page[WebhookAttemptPublic]],
    responses=errors(404),
)
@grant("webhook.deliveries", Role.OPERATOR)
def deliveries(
    webhook_id: IdPath, services: ServicesDep, page_number: PageDep = 1, page_size: PageSizeDep = 50
) -> Envelope[Page[WebhookAttemptPublic]]:
    """Every delivery attempt, newest first: its status code, latency and error."""
    found, total = services.webhooks.attempts(webhook_id, page=page_number, page_size=page_size)
    return ok(page([_attempt(a) for a in found], total, page_number, page_size))
