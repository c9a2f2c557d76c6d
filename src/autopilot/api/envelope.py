"""The one envelope: {"success": true, "data": …} or {"success": false, "error": {…}}."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic.alias_generators import to_camel
from starlette.exceptions import HTTPException as StarletteHTTPException

from autopilot.api.schemas.responses import Envelope
from autopilot.api.security import RateLimited, Unauthorized, admit
from autopilot.domain.errors import AutopilotError, Conflict, Forbidden, InvalidInput, NotFound
from autopilot.services.access import Hidden
from autopilot.services.limits import Decision
from autopilot.services.ports import (
    DatabaseUnavailable,
    Refusal,
    RefusedByDatabase,
    StorageError,
)

log = logging.getLogger("autopilot.api")
T = TypeVar("T")

_STATUS = {InvalidInput: 422, NotFound: 404, Conflict: 409, Forbidden: 403, Hidden: 404}


def ok(data: T) -> Envelope[T]:
    """The success envelope around ``data`` (a public model); the route's response model
    validates and serializes it."""
    return Envelope[Any](data=data)


def error(status_code: int, code: str, message: str, details: Any = None) -> JSONResponse:
    body = {"success": False, "error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status_code)


def _field(loc: tuple[Any, ...]) -> str:
    # Union members and validators add loc parts like "constrained-int"; they are not fields.
    parts = [
        str(p)
        for p in loc
        if p not in ("body", "query", "path") and (isinstance(p, int) or str(p).isidentifier())
    ]
    text = ""
    for part in parts:
        name = part if part.isdigit() else to_camel(part)  # path parameters: account_id
        text += f"[{name}]" if part.isdigit() else (f".{name}" if text else name)
    return text or "body"


def refused_early(request: Request) -> JSONResponse | None:
    """The 401 (or 429) of a request without a valid key, for the handlers that answer before
    the route's check runs: a body that is not JSON, an unknown path or method, a NUL."""
    refused: Exception | None = getattr(request.state, "refused", None)
    return None if refused is None else refusal(request, refused)


def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    early = refused_early(request)
    if early is not None:
        return early
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        # FastAPI reads the body before the route's dependencies: the route's grant and the
        # key's rate limit are checked here, so a forbidden or spent key learns nothing more.
        caller = getattr(request.state, "caller", None)
        try:
            if caller is not None:
                admit(request, caller)
        except Forbidden as refused:
            return _autopilot(request, refused)
        except RateLimited as limited:
            return _rate_limited(request, limited)
        return error(400, "malformed_json", "the request body is not valid JSON")
    details: list[dict[str, str]] = []
    for e in errors:
        item = {"field": _field(tuple(e["loc"])), "message": e["msg"]}
        if not any(d["field"] == item["field"] for d in details):
            details.append(item)
    first = details[0]
    return error(422, "validation_error", f"{first['field']}: {first['message']}", details)


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def wire_name(field: str) -> str:
    """A field as the services name it (``allocations[0].symbol``, ``order.limit_price``) in
    the API's spelling (``order.limitPrice``)."""
    return _IDENTIFIER.sub(lambda m: to_camel(m.group()), field)


def _autopilot(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AutopilotError)
    status = _STATUS.get(type(exc), 400)
    if isinstance(exc, Hidden):
        # Another client's object: the same answer as a missing one (a Hidden is a NotFound,
        # its message the same), noted for the audit trail as refused by isolation, with the
        # client the object belongs to.
        request.state.hidden = exc
    if not isinstance(exc, InvalidInput):
        return error(status, exc.code, exc.message)
    # The same details as request validation's, so a client reads every 422 one way.
    field = wire_name(exc.field)
    details = [{"field": field, "message": exc.reason}]
    return error(status, exc.code, f"{field}: {exc.reason}", details)


def _unauthorized(request: Request, exc: Exception) -> JSONResponse:
    response = error(401, "unauthorized", "a valid API key is needed: Authorization: Bearer ap_…")
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    """The IETF draft's RateLimit-Policy and RateLimit fields for a decision."""
    limit = decision.limit
    return {
        "RateLimit-Policy": f'"{limit.name}";q={limit.count};w={limit.period_s}',
        "RateLimit": f'"{limit.name}";r={decision.remaining};t={decision.reset_s}',
    }


def _rate_limited(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RateLimited)
    decision = exc.decision
    response = error(
        429,
        "rate_limited",
        f"rate limit {decision.limit} reached; try again in {decision.reset_s}s",
        {"limit": decision.limit.name, "retryAfter": decision.reset_s},
    )
    response.headers["Retry-After"] = str(decision.reset_s)
    response.headers.update(rate_limit_headers(decision))
    return response


def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    early = refused_early(request)
    if early is not None:
        return early
    codes = {404: "not_found", 405: "method_not_allowed"}
    message = "no such endpoint" if exc.status_code == 404 else str(exc.detail)
    response = error(exc.status_code, codes.get(exc.status_code, "http_error"), message)
    response.headers.update(exc.headers or {})  # a 405 says which methods are allowed
    return response


def _storage(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StorageError)
    if isinstance(exc, DatabaseUnavailable) or (
        isinstance(exc, RefusedByDatabase) and exc.refusal is Refusal.BUSY
    ):
        # The database cannot be reached (an outage, a restart) or gave up on a lock: the
        # caller can try again. One line in the log, not a traceback per request.
        log.warning(
            "database unavailable on %s %s: %s",
            request.method,
            request.url.path,
            exc,
            extra={"action": "api.database_unavailable"},
        )
        response = error(
            503, "database_unavailable", "the database is unavailable; try again shortly"
        )
        response.headers["Retry-After"] = "5"
        return response
    if isinstance(exc, RefusedByDatabase) and exc.refusal is Refusal.OUT_OF_RANGE:
        # A value the request led to (an amount of 10^24, say) does not fit its column: the
        # transaction rolled back, so nothing was written. The client's input, not our bug.
        log.warning(
            "value out of range on %s %s: %s",
            request.method,
            request.url.path,
            exc,
            extra={"action": "api.out_of_range"},
        )
        return error(
            422, "out_of_range", "a value is beyond what the service can hold; nothing was changed"
        )
    # Anything else the database refused (a missing table: a migration not run) is a bug.
    return _unexpected(request, exc)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Outside the request-id middleware (Starlette answers it last): the id is added here.
    log.exception(
        "unexpected error on %s %s",
        request.method,
        request.url.path,
        extra={"action": "api.unexpected_error"},
    )
    response = error(500, "internal_error", "an unexpected error occurred; it has been logged")
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        response.headers["X-Request-ID"] = request_id
    return response


async def _refuse_nul(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    # A NUL in a path or query value would reach a PostgreSQL text comparison and fail there.
    # (Without a valid key the answer is the 401 all the same.)
    if "\x00" in request.url.path:
        return refused_early(request) or error(
            400, "bad_request", "the path contains a NUL character"
        )
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            field = name.replace("\x00", "") or "query"
            reason = "must not contain a NUL character"
            details = [{"field": field, "message": reason}]
            return refused_early(request) or error(
                422, "validation_error", f"{field}: {reason}", details
            )
    return await call_next(request)


def refusal(request: Request, exc: Exception) -> JSONResponse:
    """The answer to a refusal raised outside a route (the request middleware's key check)."""
    if isinstance(exc, Unauthorized):
        return _unauthorized(request, exc)
    if isinstance(exc, RateLimited):
        return _rate_limited(request, exc)
    if isinstance(exc, StorageError):
        return _storage(request, exc)
    return _unexpected(request, exc)


def install(app: FastAPI) -> None:
    app.middleware("http")(_refuse_nul)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(AutopilotError, _autopilot)
    app.add_exception_handler(Unauthorized, _unauthorized)
    app.add_exception_handler(RateLimited, _rate_limited)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(StorageError, _storage)
    app.add_exception_handler(Exception, _unexpected)
