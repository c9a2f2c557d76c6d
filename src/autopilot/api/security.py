"""Who may call what (DESIGN §6 "Security"): bearer keys, role grants, rate limits.

Every request under ``/api/`` but ``GET /api/health`` is authenticated before anything else
reads it (:func:`authenticate`, from the request middleware, so that not even a malformed body
or an unknown path answers before the key is checked): 401 ``unauthorized`` with
``WWW-Authenticate: Bearer``, the same answer whatever was wrong with the key. Failed
authentications count per client address against ``AUTOMATION_RATE_LIMIT_AUTH_FAILURES``; past
it that address's unauthenticated calls get 429 while valid keys are still served. Then each
route's router runs :func:`authorize`: the route's grant (:func:`grant`; a route without one is
admin's alone, so a new route cannot forget its check: 403 ``forbidden``) and the key's share of
``AUTOMATION_RATE_LIMIT_API`` (market-data keys post a feed and are exempt).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from autopilot.bootstrap import Services
from autopilot.domain.errors import Forbidden
from autopilot.services.access import Caller, RequestInfo, Role
from autopilot.services.keys import Unauthenticated
from autopilot.services.limits import Decision

F = TypeVar("F", bound=Callable[..., Any])
OPEN = frozenset({"/api/health"})
"""The paths under /api/ that need no key."""


def needs_key(path: str) -> bool:
    return path.startswith("/api/") and path not in OPEN


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
    client = request.client
    return RequestInfo(
        request_id=getattr(request.state, "request_id", ""),
        address=None if client is None else client.host,
        user_agent=request.headers.get("user-agent"),
        success_status=_route_status(request),
    )


def _route_status(request: Request) -> int:
    """The status the request's route answers on success (201 for a create), once routed."""
    route = request.scope.get("route")
    status: int = getattr(route, "status_code", None) or 200
    return status


def authenticate(request: Request) -> Caller:
    """The caller of this request, by its ``Authorization: Bearer`` key; :class:`Unauthorized`
    for no valid key, :class:`RateLimited` past the address's failed authentications."""
    services: Services = request.app.state.services
    info = request_info(request)
    scheme, key = get_authorization_scheme_param(request.headers.get("authorization"))
    try:
        return services.keys.authenticate(key if scheme.lower() == "bearer" else None, info)
    except Unauthenticated:
        limit = services.settings.rate_limits.auth_failures
        decision = services.limiter.hit(limit, f"address:{info.address}")
        if not decision.allowed:
            raise RateLimited(decision) from None
        raise Unauthorized() from None


def admit(request: Request, caller: Caller) -> None:
    """Let ``caller`` through to the route: its grant, then the key's share of the API limit
    (:class:`Forbidden`, :class:`RateLimited`)."""
    services: Services = request.app.state.services
    found = grant_of(request.scope.get("endpoint"))
    if caller.role is not Role.ADMIN and (found is None or caller.role not in found.roles):
        raise Forbidden(f"a {caller.role.value} key may not call {request.method} {_path(request)}")
    if caller.role is not Role.MARKET_DATA:
        decision = services.limiter.hit(services.settings.rate_limits.api, f"key:{caller.key_id}")
        request.state.rate_limit = decision
        if not decision.allowed:
            raise RateLimited(decision)


def authorize(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Caller:
    """The route's check (its router's dependency): the caller the middleware authenticated,
    admitted by the route's grant and within its rate limit. The bearer parameter documents the
    scheme on every operation of the OpenAPI document."""
    refused: Exception | None = getattr(request.state, "refused", None)
    if refused is not None:  # no valid key (the middleware found out)
        raise refused
    caller: Caller | None = getattr(request.state, "caller", None)
    if caller is None:  # the middleware authenticates every /api/ request; never reached
        raise Unauthorized()
    admit(request, caller)
    if caller.request is not None:  # the route is known now, and so its success status
        routed = replace(caller.request, success_status=_route_status(request))
        caller = replace(caller, request=routed)
        request.state.caller = caller  # the same audit note: the change's event is seen
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
