"""Dashboard sessions: a browser signs in with an API key and gets a session token.

The token (256 random bits) goes into an httpOnly, SameSite=Strict cookie; only its SHA-256 is
stored (``dashboard_sessions``), beside the key it was opened with, so every server process
behind a load balancer knows the session, and the key's revocation or expiry ends it at once.
A session lives :data:`SESSION_TTL` at most, and never past its key's own expiry.

The CSRF token of a session is derived from its token (an HMAC), so it needs no storage of its
own: a page carries it in its forms, and an action is taken only when the form's token is the
session's (a forged cross-site form has the cookie, never the token).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from autopilot.services.access import Caller, RequestInfo, Role
from autopilot.services.audit import Named, audit
from autopilot.services.keys import ApiKeyService, Unauthenticated, hash_key
from autopilot.services.ports import Clock, UnitOfWorkFactory

SESSION_TTL = timedelta(hours=12)
KEEP_ENDED = timedelta(days=1)  # an ended or expired session's row, before it is purged
SESSION_BYTES = 32
SIGNS_IN = frozenset({Role.ADMIN, Role.OPERATOR, Role.CLIENT})
"""A market-data key posts prices and reads nothing: it has no dashboard."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    token: str
    caller: Caller
    expires_at: datetime


class NoDashboard(Exception):
    """A valid key whose role has no dashboard (a market-data key)."""


def csrf_token(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"autopilot-dashboard-csrf", hashlib.sha256).hexdigest()


def csrf_matches(session_token: str, presented: str | None) -> bool:
    """Whether ``presented`` is the session's CSRF token (compared in constant time; anything
    that is not even ASCII is not it)."""
    if presented is None or not presented.isascii():
        return False
    return hmac.compare_digest(csrf_token(session_token).encode(), presented.encode())


class SessionService:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, keys: ApiKeyService) -> None:
        self._uow = uow
        self._clock = clock
        self._keys = keys

    def sign_in(self, presented_key: str | None, request: RequestInfo | None = None) -> Session:
        """Open a session for a valid key (:class:`Unauthenticated` otherwise, the same answer
        whatever was wrong with it; :class:`NoDashboard` for a market-data key)."""
        caller = self._keys.authenticate(presented_key, request)
        if caller.role not in SIGNS_IN or caller.key_id is None:
            raise NoDashboard(f"a {caller.role.value} key has no dashboard")
        now = self._clock.now()
        token = secrets.token_urlsafe(SESSION_BYTES)
        with self._uow() as uow:
            key = uow.keys.get(caller.key_id)
            assert key is not None  # authenticated a moment ago
            expires_at = now + SESSION_TTL
            if key.expires_at is not None:
                expires_at = min(expires_at, key.expires_at)
            uow.keys.purge_sessions(now - KEEP_ENDED)  # the table does not grow for ever
            uow.keys.open_session(hash_key(token), key.id, now=now, expires_at=expires_at)
            audit(uow, caller, "dashboard.sign_in", Named(key.id, key.client_id), now)
        return Session(token=token, caller=caller, expires_at=expires_at)

    def caller(self, token: str | None, request: RequestInfo | None = None) -> Caller:
        """Who holds this session token: :class:`Unauthenticated` when it is unknown, ended,
        expired, or its key is revoked or expired."""
        if not token or len(token) > 100:
            raise Unauthenticated()
        now = self._clock.now()
        with self._uow(read_only=True) as uow:
            key = uow.keys.session_key(hash_key(token), now)
        if key is None or not key.valid_at(now):
            raise Unauthenticated()
        return Caller(
            role=key.role, name=key.name, key_id=key.id, client_id=key.client_id, request=request
        )

    def sign_out(self, token: str | None) -> None:
        if token:
            with self._uow() as uow:
                uow.keys.end_session(hash_key(token), self._clock.now())
