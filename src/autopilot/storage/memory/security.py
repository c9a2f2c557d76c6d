"""API keys, the audit trail and rate-limit counters, in memory (the audit trail append-only)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from autopilot.services.access import Role
from autopilot.services.records import ApiKeyRecord, AuditEvent, AuditFilter, AuditRecord
from autopilot.storage.memory.tables import Tables, refused


class MemoryApiKeys:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

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
        if key_hash in self._t.key_hashes:
            raise refused("uq_api_keys_key_hash")
        record = ApiKeyRecord(
            id=self._t.next_key,
            name=name,
            role=role,
            client_id=client_id,
            created_at=now,
            expires_at=expires_at,
        )
        self._t.keys[record.id] = record
        self._t.key_hashes[key_hash] = record.id
        self._t.next_key += 1
        return record

    def by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        key_id = self._t.key_hashes.get(key_hash)
        return None if key_id is None else self._t.keys.get(key_id)

    def get(self, key_id: int) -> ApiKeyRecord | None:
        return self._t.keys.get(key_id)

    def search(
        self, *, client_id: int | None, offset: int, limit: int
    ) -> tuple[list[ApiKeyRecord], int]:
        found = [
            k
            for _, k in sorted(self._t.keys.items())
            if client_id is None or k.client_id == client_id
        ]
        return found[offset : offset + limit], len(found)

    def revoke(self, key_id: int, now: datetime) -> bool:
        key = self._t.keys.get(key_id)
        if key is None or key.revoked_at is not None:
            return False
        self._t.keys[key_id] = replace(key, revoked_at=now)
        return True

    def touch(self, key_id: int, now: datetime, *, unless_since: datetime) -> None:
        key = self._t.keys.get(key_id)
        if key is not None and (key.last_used_at is None or key.last_used_at < unless_since):
            self._t.keys[key_id] = replace(key, last_used_at=now)

    def valid_admin_exists(self, now: datetime) -> bool:
        return any(k.role is Role.ADMIN and k.valid_at(now) for k in self._t.keys.values())

    def open_session(
        self, token_hash: str, key_id: int, *, now: datetime, expires_at: datetime
    ) -> None:
        if token_hash in self._t.sessions:
            raise refused("pk_dashboard_sessions")
        self._t.sessions[token_hash] = (key_id, expires_at, None)

    def session_key(self, token_hash: str, now: datetime) -> ApiKeyRecord | None:
        found = self._t.sessions.get(token_hash)
        if found is None or found[2] is not None or found[1] <= now:
            return None
        return self._t.keys.get(found[0])

    def purge_sessions(self, before: datetime) -> int:
        old = [
            token
            for token, (_, expires_at, ended_at) in self._t.sessions.items()
            if expires_at < before or (ended_at is not None and ended_at < before)
        ]
        for token in old:
            del self._t.sessions[token]
        return len(old)

    def end_session(self, token_hash: str, now: datetime) -> None:
        found = self._t.sessions.get(token_hash)
        if found is not None and found[2] is None:
            self._t.sessions[token_hash] = (found[0], found[1], now)


class MemoryAuditEvents:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def add(self, event: AuditEvent) -> None:
        self._t.audit.append(event)

    def search(
        self, where: AuditFilter, *, offset: int, limit: int
    ) -> tuple[list[AuditRecord], int]:
        def matches(e: AuditEvent) -> bool:
            return (
                (where.actor_key_id is None or e.actor_key_id == where.actor_key_id)
                and (where.action is None or e.action == where.action)
                and (where.resource_id is None or e.resource_id == where.resource_id)
                and (where.client_id is None or e.client_id == where.client_id)
                and (where.since is None or e.at >= where.since)
                and (where.until is None or e.at <= where.until)
            )

        found = [AuditRecord(id=i + 1, event=e) for i, e in enumerate(self._t.audit) if matches(e)]
        found.reverse()  # newest first
        return found[offset : offset + limit], len(found)


class MemoryRateLimits:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def hit(self, bucket: str, window_start: int) -> int:
        key = (bucket, window_start)
        self._t.hits[key] = self._t.hits.get(key, 0) + 1
        return self._t.hits[key]

    def purge(self, before: int) -> None:
        for key in [k for k in self._t.hits if k[1] < before]:
            del self._t.hits[key]
