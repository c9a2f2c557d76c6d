"""What every answer gets: its request id, its rate-limit fields, and its audit event.

``X-Request-ID`` is the caller's when it sent a sane one (letters, digits, ``.``, ``_``, ``-``,
at most 64), or a new one. A successful change writes its audit event in its own transaction
(the services do); every other mutating call, and every refused one (401, 403, 404 by isolation,
429), is recorded here, once, in a transaction of its own.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from anyio import to_thread
from fastapi import FastAPI, Request, Response

from autopilot.api.envelope import rate_limit_headers
from autopilot.api.security import grant_of, request_info
from autopilot.bootstrap import Services
from autopilot.services.access import Caller, Role
from autopilot.services.audit import event, resource_of
from autopilot.services.ports import StorageError

log = logging.getLogger("autopilot.api")
SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REFUSED = frozenset({401, 403, 429})
UNKNOWN = Caller(role=Role.CLIENT, name="anonymous")  # who a call without a valid key is

Next = Callable[[Request], Awaitable[Response]]


async def request_context(request: Request, call_next: Next) -> Response:
    given = request.headers.get("x-request-id", "")
    request.state.request_id = given if SANE_ID.match(given) else uuid.uuid4().hex
    response = await call_next(request)
    response.headers["X-Request-ID"] = request.state.request_id
    decision = getattr(request.state, "rate_limit", None)
    if decision is not None and "RateLimit" not in response.headers:
        response.headers.update(rate_limit_headers(decision))
    if _audited(request, response.status_code):
        await to_thread.run_sync(_record, request, response.status_code)
    return response


def _audited(request: Request, status: int) -> bool:
    path = request.url.path
    if not path.startswith("/api/") or path == "/api/health":
        return False
    caller: Caller | None = getattr(request.state, "caller", None)
    if caller is not None and caller.note.recorded:
        return False  # written with the change
    refused = status in REFUSED or getattr(request.state, "hidden", False)
    return refused or (request.method in MUTATING and request.scope.get("route") is not None)


def _record(request: Request, status: int) -> None:
    services: Services = request.app.state.services
    caller: Caller = getattr(request.state, "caller", None) or UNKNOWN
    if caller is UNKNOWN:
        caller = Caller(role=Role.CLIENT, name="anonymous", request=request_info(request))
    refused = status in REFUSED or getattr(request.state, "hidden", False)
    found = grant_of(request.scope.get("endpoint"))
    params: dict[str, Any] = request.scope.get("path_params") or {}
    resource_id = next(iter(params.values()), None)
    try:
        services.audit.record(
            event(
                caller,
                action=found.action if found else f"{request.method.lower()} {request.url.path}",
                resource_type=resource_of(found.action) if found else None,
                resource_id=resource_id,
                client_id=caller.client_id,
                outcome="refused" if refused else ("failed" if status >= 400 else "success"),
                status_code=status,
                at=services.clock.now(),
            )
        )
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


def install(app: FastAPI) -> None:
    app.middleware("http")(request_context)
