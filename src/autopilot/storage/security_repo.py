"""API keys, the audit trail and the rate-limit counters in the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, delete, func, select, text, update

from autopilot.services.access import Role
from autopilot.services.records import ApiKeyRecord, AuditEvent, AuditFilter, AuditRecord
from autopilot.storage.tables import api_keys as k
from autopilot.storage.tables import audit_events as a
from autopilot.storage.tables import dashboard_sessions as s
from autopilot.storage.tables import rate_limit_counters as r

_KEY_FIELDS = ("name", "client_id", "created_at", "expires_at", "revoked_at", "last_used_at")


def _key(row: Any) -> ApiKeyRecord:
    return ApiKeyRecord(id=row.id, role=Role(row.role), **{f: getattr(row, f) for f in _KEY_FIELDS})


class ApiKeys:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(
        self,
        *,
        name: str,
        role: Role,
        client_id: int | None,
        key_hash: str,
        expires_at: datetime | None,
        now: datetime,
    ) -> ApiKeyRecord:
        values = {
            "name": name,
            "role": role.value,
            "client_id": client_id,
            "key_hash": key_hash,
            "created_at": now,
            "expires_at": expires_at,
        }
        key_id = self._c.execute(k.insert().values(**values).returning(k.c.id)).scalar_one()
        return ApiKeyRecord(
            id=key_id,
            name=name,
            role=role,
            client_id=client_id,
            created_at=now,
            expires_at=expires_at,
        )

    def by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        row = self._c.execute(select(k).where(k.c.key_hash == key_hash)).first()
        return None if row is None else _key(row)

    def get(self, key_id: int) -> ApiKeyRecord | None:
        row = self._c.execute(select(k).where(k.c.id == key_id)).first()
        return None if row is None else _key(row)

    def search(
        self, *, client_id: int | None, offset: int, limit: int
    ) -> tuple[list[ApiKeyRecord], int]:
        stmt: Select[Any] = select(k)
        if client_id is not None:
            stmt = stmt.where(k.c.client_id == client_id)
        total = self._c.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        rows = self._c.execute(stmt.order_by(k.c.id).offset(offset).limit(limit))
        return [_key(row) for row in rows], total

    def revoke(self, key_id: int, now: datetime) -> bool:
        done = self._c.execute(
            update(k).where(k.c.id == key_id, k.c.revoked_at.is_(None)).values(revoked_at=now)
        )
        return done.rowcount == 1

    def touch(self, key_id: int, now: datetime, *, unless_since: datetime) -> None:
        self._c.execute(
            update(k)
            .where(k.c.id == key_id)
            .where(k.c.last_used_at.is_(None) | (k.c.last_used_at < unless_since))
            .values(last_used_at=now)
        )

    def valid_admin_exists(self, now: datetime) -> bool:
        stmt = select(func.count()).where(
            k.c.role == Role.ADMIN.value,
            k.c.revoked_at.is_(None),
            k.c.expires_at.is_(None) | (k.c.expires_at > now),
        )
        return bool(self._c.execute(stmt).scalar_one())

    def open_session(
        self, token_hash: str, key_id: int, *, now: datetime, expires_at: datetime
    ) -> None:
        self._c.execute(
            s.insert().values(
                token_hash=token_hash, api_key_id=key_id, created_at=now, expires_at=expires_at
            )
        )

    def session_key(self, token_hash: str, now: datetime) -> ApiKeyRecord | None:
        stmt = (
            select(k)
            .join(s, s.c.api_key_id == k.c.id)
            .where(s.c.token_hash == token_hash, s.c.ended_at.is_(None), s.c.expires_at > now)
        )
        row = self._c.execute(stmt).first()
        return None if row is None else _key(row)

    def purge_sessions(self, before: datetime) -> int:
        gone = self._c.execute(delete(s).where((s.c.expires_at < before) | (s.c.ended_at < before)))
        return int(gone.rowcount)

    def end_session(self, token_hash: str, now: datetime) -> None:
        self._c.execute(
            update(s)
            .where(s.c.token_hash == token_hash, s.c.ended_at.is_(None))
            .values(ended_at=now)
        )


_EVENT_FIELDS = tuple(c.name for c in a.columns if c.name != "id")


class AuditEvents:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, event: AuditEvent) -> None:
        self._c.execute(a.insert().values(**{f: getattr(event, f) for f in _EVENT_FIELDS}))

    def search(
        self, where: AuditFilter, *, offset: int, limit: int
    ) -> tuple[list[AuditRecord], int]:
        stmt: Select[Any] = select(a)
        for column, value in (
            (a.c.actor_key_id, where.actor_key_id),
            (a.c.action, where.action),
            (a.c.resource_id, where.resource_id),
            (a.c.client_id, where.client_id),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if where.since is not None:
            stmt = stmt.where(a.c.at >= where.since)
        if where.until is not None:
            stmt = stmt.where(a.c.at <= where.until)
        total = self._c.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        rows = self._c.execute(stmt.order_by(a.c.id.desc()).offset(offset).limit(limit))
        return [_event(row) for row in rows], total


def _event(row: Any) -> AuditRecord:
    return AuditRecord(id=row.id, event=AuditEvent(**{f: getattr(row, f) for f in _EVENT_FIELDS}))


_HIT = text(
    "INSERT INTO rate_limit_counters (bucket, window_start, hits) VALUES (:bucket, :window, 1) "
    "ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limit_counters.hits + 1 "
    "RETURNING hits"
)


class RateLimits:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def hit(self, bucket: str, window_start: int) -> int:
        return int(self._c.execute(_HIT, {"bucket": bucket, "window": window_start}).scalar_one())

    def purge(self, before: int) -> None:
        self._c.execute(delete(r).where(r.c.window_start < before))
