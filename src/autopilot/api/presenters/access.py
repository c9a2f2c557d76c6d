"""Shaping API keys (never the secret but at creation) and audit events."""

from __future__ import annotations

from autopilot.api.presenters.common import at, moment
from autopilot.api.schemas.responses import ApiKeyPublic, AuditEventPublic, NewApiKeyPublic
from autopilot.services.keys import NewKey
from autopilot.services.records import ApiKeyRecord, AuditRecord


def key(record: ApiKeyRecord) -> ApiKeyPublic:
    return ApiKeyPublic(
        id=record.id,
        name=record.name,
        role=record.role.value,
        client_id=record.client_id,
        created_at=at(record.created_at),
        expires_at=moment(record.expires_at),
        revoked_at=moment(record.revoked_at),
        last_used_at=moment(record.last_used_at),
    )


def new_key(made: NewKey) -> NewApiKeyPublic:
    return NewApiKeyPublic(**dict(key(made.record)), key=made.key)


def audit_event(record: AuditRecord) -> AuditEventPublic:
    e = record.event
    return AuditEventPublic(
        id=record.id,
        at=at(e.at),
        actor_key_id=e.actor_key_id,
        actor_name=e.actor_name,
        actor_role=e.actor_role,
        actor_client_id=e.actor_client_id,
        action=e.action,
        resource_type=e.resource_type,
        resource_id=e.resource_id,
        client_id=e.client_id,
        outcome=e.outcome,
        status_code=e.status_code,
        request_id=e.request_id,
        address=e.address,
        user_agent=e.user_agent,
        changes=e.changes,
    )
