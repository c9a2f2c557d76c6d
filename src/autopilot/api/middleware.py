"""What every request goes through first, and what every answer gets.

Each request gets its id: ``X-Request-ID`` is the caller's when it sent a sane one (letters,
digits, ``.``, ``_``, ``-``, at most 64), or a new one. A request under ``/api/`` (but the
health check) is then authenticated, before routing, so that nothing answers an unknown caller
but a 401 (or a 429 past the address's failed authentications). Each answer gets its rate-limit
fields and, once, its audit event: a successful change writes its own in the change's
transaction (the services do); every other mutating call, and every refused one (401, 403, 404
by isolation, 429), is recorded here in a transaction of its own.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from anyio import to_thread
from fastapi import FastAPI, Request, Response

from autopilot.api.envelope import rate_limit_headers, refusal
from autopilot.api.security import (
    RateLimited,
    Unauthorized,
    authenticate,
    grant_of,
    needs_key,
    request_info,
)
from autopilot.bootstrap import Services
from autopilot.metrics import Metrics
from autopilot.services.access import Caller, Hidden, Role
from autopilot.services.audit import event, resource_of
from autopilot.services.ports import StorageError

log = logging.getLogger("autopilot.api")
SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REFUSED = frozenset({401, 403, 429})
ANONYMOUS = "anonymous"  # the actor of a call without a valid key

Next = Callable[[Request], Awaitable[Response]]


async def request_context(request: Request, call_next: Next) -> Response:
    started = time.perf_counter()
    given = request.headers.get("x-request-id", "")
    request.state.request_id = given if SANE_ID.match(given) else uuid.uuid4().hex
    response = await _authenticated(request, call_next)
    metrics: Metrics | None = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.request(
            request.method,
            route_template(request),
            response.status_code,
            time.perf_counter() - started,
        )
    response.headers["X-Request-ID"] = request.state.request_id
    decision = getattr(request.state, "rate_limit", None)
    if decision is not None and "RateLimit" not in response.headers:
        response.headers.update(rate_limit_headers(decision))
    if _audited(request, response.status_code):
        await to_thread.run_sync(_record, request, response.status_code)
    return response


async def _authenticated(request: Request, call_next: Next) -> Response:
    """Authenticate before the app reads anything of the request. A refusal is kept for the
    first place that answers (the route's check, a malformed body, an unknown path: see
    :func:`autopilot.api.envelope.refused_early`), so the call is still routed and its audit
    event names its action."""
    if needs_key(request.url.path):
        try:
            request.state.caller = await to_thread.run_sync(authenticate, request)
        except (Unauthorized, RateLimited) as refused:
            request.state.refused = refused
        except StorageError as exc:
            return refusal(request, exc)
    return await call_next(request)


def _audited(request: Request, status: int) -> bool:
    if not needs_key(request.url.path):
        return False
    caller: Caller | None = getattr(request.state, "caller", None)
    if caller is not None and caller.note.recorded:
        return False  # written with the change
    return _refused(request, status) or request.method in MUTATING


def _refused(request: Request, status: int) -> bool:
    return status in REFUSED or getattr(request.state, "hidden", None) is not None


def _record(request: Request, status: int) -> None:
    services: Services = request.app.state.services
    caller: Caller | None = getattr(request.state, "caller", None)
    who = caller or Caller(role=Role.CLIENT, name=ANONYMOUS, request=request_info(request))
    action, resource_id = _action(request)
    hidden: Hidden | None = getattr(request.state, "hidden", None)
    subject = getattr(request.state, "audit_subject", None)
    if subject is not None:  # a route that knows better (an execution: its rule, its client)
        resource_id = subject.id
    client_id = who.client_id
    if hidden is not None:
        client_id = hidden.owner  # the client whose object was refused
    elif subject is not None and subject.client_id is not None:
        client_id = subject.client_id
    entry = event(
        who,
        action=action,
        resource_type=resource_of(action) if "." in action else None,
        resource_id=resource_id,
        client_id=client_id,
        outcome="refused"
        if _refused(request, status)
        else ("failed" if status >= 400 else "success"),
        status_code=status,
        at=services.clock.now(),
    )
    if caller is None:
        entry = replace(entry, actor_role=ANONYMOUS)
    try:
        services.audit.record(entry)
    except StorageError as exc:  # the database is down: one line, as every request's 503 has
        log.warning(
            "could not record the audit event of %s %s: %s",
            request.method,
            request.url.path,
            exc,
            extra={"action": "audit.failed"},
        )
    except Exception:  # the answer is sent; a lost audit row is logged, never raised at it
        log.exception(
            "could not record the audit event of %s %s",
            request.method,
            request.url.path,
            extra={"action": "audit.failed"},
        )


def _action(request: Request) -> tuple[str, Any]:
    """The audit trail's name for the call (its route's grant, when the route was reached with
    its own method) and the id in its path."""
    route = request.scope.get("route")
    found = grant_of(request.scope.get("endpoint"))
    if found is not None and request.method in getattr(route, "methods", ()):
        params: dict[str, Any] = request.scope.get("path_params") or {}
        return found.action, next(iter(params.values()), None)
    return f"{request.method.lower()} {request.url.path}", None


def route_template(request: Request) -> str:
    """The route's path template (``/api/orders/{order_id}``), never the ids in the path; a
    path no route matched is ``unmatched``, so a scan of random paths adds no series."""
    route = request.scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def install(app: FastAPI) -> None:
    app.middleware("http")(request_context)
