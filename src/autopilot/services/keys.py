"""API keys: made, listed, revoked, and who a presented key is (DESIGN §6 "Security").

A key is ``ap_`` and 43 URL-safe characters (256 random bits from :mod:`secrets`), shown once
when it is made. Only its SHA-256 is stored: a key that random needs no slow hash (there is no
dictionary to try), and a hash lookup finds it in one indexed read. Authentication notes the
key's use at most once a minute, so a key's traffic is not a write per request.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from autopilot.domain.errors import Forbidden, InvalidInput, NotFound
from autopilot.services.access import CLI, Caller, Hidden, RequestInfo, Role
from autopilot.services.audit import audit
from autopilot.services.ports import Clock, UnitOfWork, UnitOfWorkFactory
from autopilot.services.records import ApiKeyRecord

PREFIX = "ap_"
SECRET_BYTES = 32
KEY_LENGTH = len(PREFIX) + 43  # token_urlsafe(32): 43 characters
TOUCH_EVERY = timedelta(minutes=1)
MAX_NAME = 200
MAX_EXPIRY_DAYS = 3650


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class NewKey:
    """A key just made: its record, and the key itself, shown this once."""

    record: ApiKeyRecord
    key: str


class ApiKeyService:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def create(
        self,
        *,
        name: str,
        role: Role,
        client_id: int | None = None,
        expires_in_days: int | None = None,
        caller: Caller = CLI,
    ) -> NewKey:
        """Make a key. An admin makes any; a client key makes client keys of its own client."""
        if caller.is_client:
            if role is not Role.CLIENT:
                raise Forbidden("a client key makes client keys only")
            client_id = caller.client_id if client_id is None else client_id
            if client_id is not None:
                caller.own(client_id, "client", client_id)
        elif caller.role is not Role.ADMIN:
            raise Forbidden(f"a {caller.role.value} key makes no keys")
        label = name.strip()
        if not label or len(label) > MAX_NAME:
            raise InvalidInput("name", f"must be 1 to {MAX_NAME} characters")
        if (role is Role.CLIENT) != (client_id is not None):
            raise InvalidInput("client_id", "a client key needs one, other roles take none")
        if expires_in_days is not None and not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
            raise InvalidInput("expires_in_days", f"must be 1 to {MAX_EXPIRY_DAYS}")
        now = self._clock.now()
        expires_at = None if expires_in_days is None else now + timedelta(days=expires_in_days)
        key = new_key()
        with self._uow() as uow:
            if client_id is not None and uow.clients.get(client_id) is None:
                raise NotFound("client", client_id)
            if caller.is_client:
                expires_at = _within(expires_at, uow.keys.get(caller.key_id or 0))
            record = uow.keys.add(
                name=label,
                role=role,
                client_id=client_id,
                key_hash=hash_key(key),
                expires_at=expires_at,
                now=now,
            )
            changes = {"name": label, "role": role.value, "clientId": client_id}
            audit(uow, caller, "api_key.create", record, now, changes)
        return NewKey(record=record, key=key)

    def search(
        self, *, caller: Caller = CLI, page: int = 1, page_size: int = 50
    ) -> tuple[list[ApiKeyRecord], int]:
        with self._uow() as uow:
            return uow.keys.search(
                client_id=caller.client_id if caller.is_client else None,
                offset=(page - 1) * page_size,
                limit=page_size,
            )

    def revoke(self, key_id: int, *, caller: Caller = CLI) -> ApiKeyRecord:
        now = self._clock.now()
        with self._uow() as uow:
            record = self._visible(uow, key_id, caller)
            if not uow.keys.revoke(key_id, now):
                return record  # revoked already: revoking again changes nothing
            changes = {"revokedAt": now.isoformat()}
            audit(uow, caller, "api_key.revoke", record, now, changes)
            revoked = uow.keys.get(key_id)
        assert revoked is not None
        return revoked

    def authenticate(self, presented: str | None, request: RequestInfo | None = None) -> Caller:
        """The caller a presented key is; :class:`Unauthenticated` for a missing, malformed,
        unknown, revoked or expired one (the same whatever was wrong with it)."""
        if presented is None or len(presented) != KEY_LENGTH or not presented.startswith(PREFIX):
            raise Unauthenticated()
        now = self._clock.now()
        with self._uow(read_only=True) as uow:  # waits for no writer: a read per request
            record = uow.keys.by_hash(hash_key(presented))
        if record is None or not record.valid_at(now):
            raise Unauthenticated()
        if record.last_used_at is None or record.last_used_at < now - TOUCH_EVERY:
            with self._uow() as uow:  # once a minute per key
                uow.keys.touch(record.id, now, unless_since=now - TOUCH_EVERY)
        return Caller(
            role=record.role,
            name=record.name,
            key_id=record.id,
            client_id=record.client_id,
            request=request,
        )

    def ensure_admin_key(self, path: Path) -> Path | None:
        """On a first start: when no valid admin key exists, make one and write it to ``path``
        (mode 0600, created that way so it is never readable by others); the path written, or
        None when an admin key exists already."""
        with self._uow() as uow:
            if uow.keys.valid_admin_exists(self._clock.now()):
                return None
        made = self.create(name="first admin", role=Role.ADMIN)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)  # a stale file of a revoked key is replaced
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(made.key + "\n")
        return path

    def _visible(self, uow: UnitOfWork, key_id: int, caller: Caller) -> ApiKeyRecord:
        record = uow.keys.get(key_id)
        if record is None:
            raise NotFound("api key", key_id)
        if caller.is_client:
            if record.client_id is None:  # a key of no client's (an admin's): hidden too
                raise Hidden("api key", key_id)
            caller.own(record.client_id, "api key", key_id)
        return record


def _within(expires_at: datetime | None, maker: ApiKeyRecord | None) -> datetime | None:
    """A key made by a client key expires when that key does, at the latest: a leaked key
    with a day to live cannot make one that lives for ever."""
    if maker is None or maker.expires_at is None:
        return expires_at
    return maker.expires_at if expires_at is None else min(expires_at, maker.expires_at)


class Unauthenticated(Exception):
    """No valid key: the same answer whatever was wrong with it."""
