"""The OpenAPI document, with every answer an operation can give (DESIGN §6).

A client generated from ``/openapi.json`` must know each refusal as well as each success. The
refusals that follow from an operation's shape are added here, to every operation alike: a key
is needed (401, 403, 429) everywhere but ``GET /api/health``, the database can be away (503)
wherever it is read, input can be malformed (400) or invalid (422) wherever there is input.
What depends on the operation's meaning (404 for an object, 409 for a state) its route declares
with :func:`errors`. Every refusal is the one envelope, :class:`ErrorEnvelope`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from autopilot.api.schemas.responses import ErrorEnvelope

REFUSALS = {
    400: "Malformed: the body is not JSON (`malformed_json`), or the path holds a NUL.",
    401: "No valid API key (`unauthorized`), whatever was wrong with it.",
    403: "The key's role may not call this operation (`forbidden`).",
    404: "No such object, or another client's (`not_found`): the two answer alike.",
    409: "The object's state does not allow it (`conflict`).",
    422: "Invalid input (`validation_error`): `details` names each field.",
    429: "A rate limit is spent (`rate_limited`): see `Retry-After` and `RateLimit`.",
    503: "The database is unavailable (`database_unavailable`); try again shortly.",
}
ENVELOPE = "ErrorEnvelope"
_REF = {"$ref": f"#/components/schemas/{ENVELOPE}"}
_OPEN = frozenset({("get", "/api/health")})
_METHODS = frozenset({"get", "put", "post", "delete", "patch"})


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's own refusals, for its decorator's ``responses=`` (``errors(404, 409)``)."""
    return {
        status: {"model": ErrorEnvelope, "description": REFUSALS[status]} for status in statuses
    }


def install(app: FastAPI) -> None:
    """Serve the document with the refusals that follow from each operation's shape."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = with_refusals(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def with_refusals(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    envelope = ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(envelope.pop("$defs", {}))
    schemas[ENVELOPE] = envelope
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method in _METHODS:
                _add_refusals(operation, opened=(method, path) in _OPEN)
    # FastAPI's own 422 shape is replaced by the envelope everywhere: drop its schemas.
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


def _add_refusals(operation: dict[str, Any], *, opened: bool) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    statuses: set[int] = set()
    if not opened:
        statuses |= {401, 403, 429, 503}
    if operation.get("parameters") or "requestBody" in operation:
        statuses |= {400, 422}
    for added in sorted(statuses):
        responses[str(added)] = _refusal(added)
    for code, answer in responses.items():
        if code.isdigit() and int(code) >= 400:
            # A route's own (errors()) and FastAPI's default 422 alike: the envelope.
            answer["content"] = {"application/json": {"schema": _REF}}
            answer.setdefault("description", REFUSALS.get(int(code), "Refused."))
    operation["responses"] = dict(sorted(responses.items()))


_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    429: {
        "Retry-After": {
            "description": "Seconds until the limit renews.",
            "schema": {"type": "integer"},
        },
        "RateLimit-Policy": {
            "description": "The limit (IETF draft).",
            "schema": {"type": "string"},
        },
        "RateLimit": {
            "description": "What is left of it (IETF draft).",
            "schema": {"type": "string"},
        },
    },
    503: {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}},
}


def _refusal(status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": REFUSALS[status],
        "content": {"application/json": {"schema": _REF}},
    }
    if status in _HEADERS:
        answer["headers"] = _HEADERS[status]
    return answer
