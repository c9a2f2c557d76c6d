"""What every dashboard page shares: who is signed in, CSRF, role rules, rendering.

A browser signs in with an API key and holds a session cookie (httpOnly, SameSite=Strict, path
/dashboard; Secure over https). Each page reads the caller from it, or sends the browser to the
sign-in page. Every action is a POST whose form carries the session's CSRF token. The roles are
the API's: the grant of the API route that does the same (``execution_log.list``,
``auto_invest_rule.pause``, ...) decides, read from the app's own routes, so the dashboard can
never grant more than the API does.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from autopilot.api.security import Grant, grant_of, request_info
from autopilot.bootstrap import Services
from autopilot.domain.errors import Conflict, InvalidInput, NotFound
from autopilot.services.access import Caller, Hidden, RequestInfo, Role
from autopilot.services.audit import event
from autopilot.services.keys import Unauthenticated
from autopilot.services.ports import StorageError
from autopilot.services.sessions import csrf_matches, csrf_token

PREFIX = "/dashboard"
SESSION_COOKIE = "autopilot_session"
SIGN_IN_COOKIE = "autopilot_sign_in"  # the sign-in form's own CSRF token (double submit)
NOTICE_COOKIE = "autopilot_notice"  # what the last action did, shown once
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent.parent / "templates" / "dashboard")
# Own origin only, no inline script; the chart library sets canvas sizes through the CSSOM.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
POLL_MS = 5000


class SignInNeeded(Exception):
    """No valid session: the browser goes to the sign-in page."""


class Refused(Exception):
    """403: the caller's role may not do this (the API's grant says so)."""

    def __init__(self, action: str) -> None:
        super().__init__(action)
        self.action = action


class BadInput(Exception):
    """400: a filter or form field that is not what it must be, named."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Visitor:
    """The signed-in caller of a dashboard request, and its session's CSRF token."""

    caller: Caller
    csrf: str
    grants: Mapping[str, Grant]

    def may(self, action: str) -> bool:
        """Whether the API grants ``action`` to this caller's role."""
        if self.caller.role is Role.ADMIN:
            return True
        found = self.grants.get(action)
        return found is not None and self.caller.role in found.roles


def failed(request: Request, exc: Exception) -> Response:
    """The page for what went wrong: 400 for a bad field (named), 403 for a role the API would
    refuse, 404 for a missing object or another client's (audited as a refusal, as the API
    does), 409 for an action that does not fit the object's state, 503 when the database is
    down."""
    if isinstance(exc, Refused):
        status, said = 403, f"Your key's role may not do this ({exc.action})."
    elif isinstance(exc, BadInput):
        status, said = 400, f"{exc.field}: {exc.message}"
    elif isinstance(exc, InvalidInput):
        status, said = 400, f"{exc.field}: {exc.reason}"
    elif isinstance(exc, Hidden | NotFound):
        status, said = 404, str(exc)
        if isinstance(exc, Hidden):
            v = getattr(request.state, "visitor", None)
            if v is not None:
                action = getattr(request.state, "dashboard_action", "dashboard.read")
                audit_refusal(request, v.caller, action, 404, owner=exc.owner)
    elif isinstance(exc, Conflict):
        status, said = 409, str(exc)
    else:
        status, said = 503, "The database is unavailable; try again shortly."
    return render(request, "error.html", {"title": "Not done", "error": said}, status_code=status)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def grants_of(app: FastAPI) -> dict[str, Grant]:
    """The API's grants by action, from its routes (and those of the routers it includes)."""
    found: dict[str, Grant] = {}
    pending: list[Any] = list(app.routes)
    while pending:
        route = pending.pop()
        given = grant_of(getattr(route, "endpoint", None))
        if given is not None:
            found[given.action] = given
        included = getattr(route, "original_router", None)  # an included APIRouter
        pending.extend(getattr(included, "routes", ()))
    return found


def visitor(request: Request) -> Visitor:
    """The signed-in caller, or :class:`SignInNeeded`."""
    token = request.cookies.get(SESSION_COOKIE)
    try:
        caller = services_of(request).sessions.caller(token, request_info(request))
    except Unauthenticated:
        raise SignInNeeded() from None
    assert token is not None
    grants: dict[str, Grant] | None = getattr(request.app.state, "dashboard_grants", None)
    if grants is None:  # read once, from the app's routes, all of them in by now
        grants = request.app.state.dashboard_grants = grants_of(request.app)
    found = Visitor(caller=caller, csrf=csrf_token(token), grants=grants)
    request.state.visitor = found
    return found


def require(v: Visitor, action: str, request: Request) -> None:
    """Refuse (and audit the refusal) unless the API grants ``action`` to the caller; a later
    refusal by isolation (another client's object) is audited under the same action."""
    request.state.dashboard_action = action
    if not v.may(action):
        audit_refusal(request, v.caller, action, 403)
        raise Refused(action)


def check_csrf(request: Request, form: Mapping[str, Any]) -> None:
    token = request.cookies.get(SESSION_COOKIE) or ""
    presented = form.get("csrf")
    if not csrf_matches(token, presented if isinstance(presented, str) else None):
        raise BadInput("csrf", "the form is stale or was not sent by this dashboard; reload")


def anonymous(info: RequestInfo) -> Caller:
    """Who a refused sign-in is in the audit trail: nobody yet, from an address."""
    return Caller(role=Role.CLIENT, name="anonymous", request=info)


def audit_refusal(
    request: Request,
    caller: Caller,
    action: str,
    status: int,
    *,
    owner: int | None = None,
    item: object = None,
) -> None:
    services = services_of(request)
    entry = event(
        caller,
        action=action,
        resource_type=action.split(".", 1)[0],
        resource_id=item if item is not None else request.path_params.get("item_id"),
        client_id=caller.client_id if owner is None else owner,
        outcome="refused",
        status_code=status,
        at=services.clock.now(),
    )
    if caller.key_id is None:  # an anonymous sign-in, as the API records a 401
        entry = replace(entry, actor_role="anonymous")
    with suppress(StorageError):  # the page says the database is unavailable anyway
        services.audit.record(entry)


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    notice = request.cookies.get(NOTICE_COOKIE)
    page = TEMPLATES.TemplateResponse(
        request,
        template,
        {"notice": notice, "poll_ms": POLL_MS, "prefix": PREFIX, **context},
        status_code=status_code,
    )
    if notice is not None:
        page.delete_cookie(NOTICE_COOKIE, path=PREFIX)
    protect(page)
    return page


def protect(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def back_to(request: Request, target: str, notice: str) -> Response:
    """After an action: 303 back to the page it came from, with what it did shown once."""
    response = RedirectResponse(safe_next(target), status_code=303)
    response.set_cookie(
        NOTICE_COOKIE,
        notice[:300],
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=60,
    )
    return protect(response)


def safe_next(target: str | None) -> str:
    """A place to go back to inside the dashboard, never elsewhere."""
    if not target or not target.startswith(PREFIX) or target.startswith("//") or "\\" in target:
        return PREFIX
    return target


def query(request: Request, **changes: Any) -> str:
    """This page's query with ``changes`` (None drops a parameter)."""
    params = {k: v for k, v in request.query_params.items() if k != "fragment"}
    for name, value in changes.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = str(value)
    return "?" + urlencode(params) if params else ""


def when(value: datetime | str | None) -> str:
    """A moment as the pages show it: UTC, to the second."""
    if value is None:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def day(value: date | str | None) -> str:
    return "—" if value is None else str(value)


TEMPLATES.env.filters["when"] = when
TEMPLATES.env.filters["day"] = day
