"""Who may call what (DESIGN §6 "Security"): bearer keys, role grants, rate limits.

Every route under ``/api/`` but ``GET /api/health`` runs :func:`authorize`, as a dependency of
its router: the key is checked (401 ``unauthorized`` with ``WWW-Authenticate: Bearer``, the same
answer whatever was wrong with it), then the route's grant (:func:`grant`; a route without one
is admin's alone, so a new route cannot forget its check: 403 ``forbidden``), then the key's
share of ``AUTOMATION_RATE_LIMIT_API`` (market-data keys post a feed and are exempt). Failed
authentications count per client address against ``AUTOMATION_RATE_LIMIT_AUTH_FAILURES``; past
it that address's unauthenticated calls get 429 while valid keys are still served.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from autopilot.bootstrap import Services
from autopilot.domain.errors import Forbidden
from autopilot.services.access import Caller, RequestInfo, Role
from autopilot.services.keys import Unauthenticated
from autopilot.services.limits import Decision

F = TypeVar("F", bound=Callable[..., Any])

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    bearerFormat="ap_…",
    description="An Autopilot API key (`autopilot keys create`), sent as `Bearer ap_…`.",
)


@dataclass(frozen=True, slots=True)
class Grant:
    """The roles besides admin that may call a route, and the audit trail's name for it."""

    action: str
    roles: frozenset[Role]


def grant(action: str, *roles: Role) -> Callable[[F], F]:
    """Let ``roles`` (and admin) call the decorated route; ``action`` names it in the audit
    trail (``auto_invest_rule.create``)."""

    def mark(endpoint: F) -> F:
        endpoint.__grant__ = Grant(action=action, roles=frozenset(roles))  # type: ignore[attr-defined]
        return endpoint

    return mark


def grant_of(endpoint: object) -> Grant | None:
    found = getattr(endpoint, "__grant__", None)
    return found if isinstance(found, Grant) else None


class Unauthorized(Exception):
    """401: no valid key."""


class RateLimited(Exception):
    """429: a limit is spent; ``decision`` says which and until when."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(f"rate limit {decision.limit} reached")
        self.decision = decision


def request_info(request: Request) -> RequestInfo:
    route = request.scope.get("route")
    status = getattr(route, "status_code", None) or 200
    client = request.client
    return RequestInfo(
        request_id=getattr(request.state, "request_id", ""),
        address=None if client is None else client.host,
        user_agent=request.headers.get("user-agent"),
        success_status=status,
    )


def authorize(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Caller:
    """The caller of this request, allowed by the route's grant and within its rate limit."""
    services: Services = request.app.state.services
    limits = services.settings.rate_limits
    info = request_info(request)
    try:
        caller = services.keys.authenticate(
            None if credentials is None else credentials.credentials, info
        )
    except Unauthenticated:
        decision = services.limiter.hit(limits.auth_failures, f"address:{info.address}")
        if not decision.allowed:
            raise RateLimited(decision) from None
        raise Unauthorized() from None
    request.state.caller = caller
    found = grant_of(request.scope.get("endpoint"))
    if caller.role is not Role.ADMIN and (found is None or caller.role not in found.roles):
        raise Forbidden(f"a {caller.role.value} key may not call {request.method} {_path(request)}")
    if caller.role is not Role.MARKET_DATA:
        decision = services.limiter.hit(limits.api, f"key:{caller.key_id}")
        request.state.rate_limit = decision
        if not decision.allowed:
            raise RateLimited(decision)
    return caller


def limit_executions(request: Request, caller: Annotated[Caller, Depends(authorize)]) -> None:
    """Manual executions per key: ``AUTOMATION_RATE_LIMIT_EXECUTE``."""
    services: Services = request.app.state.services
    decision = services.limiter.hit(services.settings.rate_limits.execute, f"key:{caller.key_id}")
    request.state.rate_limit = decision
    if not decision.allowed:
        raise RateLimited(decision)


def _path(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", request.url.path))


CallerDep = Annotated[Caller, Depends(authorize)]
