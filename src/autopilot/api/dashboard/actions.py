"""The dashboard's actions (POST, each with the session's CSRF token in its form): sign in and
out, pause, resume and execute a rule now, execute the failures matching a filter, approve or
reject a proposal. Each one calls the service the API route calls, with the signed-in caller,
so it is audited, isolated and refused exactly as the API call would be; then the browser goes
back to the page it came from (303), which shows once what the action did.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from autopilot.api.dashboard.pages import KIND_OF_TYPE, KINDS, log_filter
from autopilot.api.dashboard.web import (
    NOTICE_COOKIE,
    PREFIX,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    BadInput,
    Refused,
    Visitor,
    anonymous,
    audit_refusal,
    back_to,
    check_csrf,
    failed,
    protect,
    render,
    require,
    services_of,
    visitor,
)
from autopilot.api.security import request_info
from autopilot.domain.errors import Conflict, InvalidInput, NotFound
from autopilot.services.audit import event
from autopilot.services.execution.passes import ExecuteCommand, Kind
from autopilot.services.execution.results import PassResult
from autopilot.services.keys import Unauthenticated
from autopilot.services.ports import StorageError, market_today
from autopilot.services.sessions import NoDashboard

router = APIRouter(include_in_schema=False)
MAX_BULK = 200
""""Execute all matching" runs at most this many rules at once; the notice says when more."""


@router.get("/dashboard/sign-in")
def sign_in_page(request: Request) -> Response:
    return _sign_in_form(request)


def _sign_in_form(request: Request, error: str | None = None, status_code: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    page = render(
        request,
        "sign_in.html",
        {"title": "Sign in", "sign_in_token": token, "error": error},
        status_code=status_code,
    )
    page.set_cookie(
        SIGN_IN_COOKIE,
        token,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=3600,
    )
    return page


@router.post("/dashboard/sign-in")
async def sign_in(request: Request) -> Response:
    form = await request.form()
    expected = request.cookies.get(SIGN_IN_COOKIE)
    presented = form.get("csrf")
    if (
        not expected
        or not isinstance(presented, str)
        or not presented.isascii()
        or not secrets.compare_digest(expected.encode(), presented.encode())
    ):
        return _sign_in_form(request, "The form was stale; sign in again.", 400)
    key = form.get("key")
    services = services_of(request)
    info = request_info(request)
    try:
        session = services.sessions.sign_in(key.strip() if isinstance(key, str) else None, info)
    except Unauthenticated:
        decision = services.limiter.hit(
            services.settings.rate_limits.auth_failures, f"address:{info.address}"
        )
        if not decision.allowed:
            audit_refusal(request, anonymous(info), "dashboard.sign_in", 429)
            return _sign_in_form(request, "Too many failed sign-ins; wait a minute.", 429)
        audit_refusal(request, anonymous(info), "dashboard.sign_in", 401)
        return _sign_in_form(request, "That key was not accepted.", 401)
    except NoDashboard as refused:
        audit_refusal(request, anonymous(info), "dashboard.sign_in", 403)
        return _sign_in_form(request, f"{refused}.", 403)
    response = RedirectResponse(PREFIX, status_code=303)
    seconds = int((session.expires_at - services.clock.now()).total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=max(seconds, 1),
    )
    response.delete_cookie(SIGN_IN_COOKIE, path=PREFIX)
    return protect(response)


@router.post("/dashboard/sign-out")
async def sign_out(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, form)
    services_of(request).sessions.sign_out(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(PREFIX + "/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    response.delete_cookie(NOTICE_COOKIE, path=PREFIX)
    return protect(response)


# --- rules ------------------------------------------------------------------------------

VERBS = ("pause", "resume")


@router.post("/dashboard/rules/{kind}/{item_id}/{verb}")
async def rule_action(request: Request, kind: str, item_id: str, verb: str) -> Response:
    form = await request.form()
    if kind not in KINDS or verb not in (*VERBS, "execute"):
        raise BadInput("path", f"no such action: {kind} {verb}")

    def act(v: Visitor) -> str:
        services = services_of(request)
        if verb == "execute":
            return _execute(request, v, kind, item_id)
        if kind == "auto-invest":
            require(v, f"auto_invest_rule.{verb}", request)
            getattr(services.rules, verb)(item_id, caller=v.caller)
        elif kind == "rebalancing":
            require(v, f"rebalancing_rule.{verb}", request)
            getattr(services.rebalancing_rules, verb)(item_id, caller=v.caller)
        else:
            require(v, f"trigger_order.{verb}", request)
            getattr(services.trigger_orders, verb)(item_id, caller=v.caller)
        return f"{'Paused' if verb == 'pause' else 'Resumed'} {item_id}."

    return await _action(request, form, act)


class RateLimitedNow(Exception):
    """The key's manual executions are spent for now (AUTOMATION_RATE_LIMIT_EXECUTE)."""


def _execute(request: Request, v: Visitor, kind: str, item_id: str) -> str:
    """Execute a rule now (a trigger order: its client's triggers against the latest prices),
    within the key's manual-execution rate limit, audited as the API's ``scheduler.execute``."""
    require(v, "scheduler.execute", request)
    services = services_of(request)
    decision = services.limiter.hit(services.settings.rate_limits.execute, f"key:{v.caller.key_id}")
    if not decision.allowed:
        audit_refusal(request, v.caller, "scheduler.execute", 429, item=item_id)
        raise RateLimitedNow()
    if kind == "triggers":
        record = services.trigger_orders.get(item_id, caller=v.caller)
        result = services.passes.execute(
            ExecuteCommand(kind=Kind.TRIGGERS, client_id=record.client_id, caller=v.caller)
        )
        owner: int | None = record.client_id
        said = f"Evaluated client {record.client_id}'s trigger orders: {_told(result)}"
    else:
        result = services.passes.execute(
            ExecuteCommand(kind=Kind(kind), rule_id=item_id, caller=v.caller)
        )
        owner = result.only_client() or v.caller.client_id
        said = f"Executed {item_id}: {_told(result)}"
    services.audit.record(
        event(
            v.caller,
            action="scheduler.execute",
            resource_type="scheduler",
            resource_id=item_id,
            client_id=owner,
            outcome="success",
            status_code=200,
            at=services.clock.now(),
        )
    )
    return said


def _told(result: PassResult) -> str:
    counted = ", ".join(f"{n} {s.value}" for s, n in result.counts.items() if n)
    first = result.results[0] if result.results else None
    said = f" ({first.message})" if first is not None and first.message else ""
    return (counted or "nothing to do") + said


@router.post("/dashboard/failures/execute")
async def execute_failures(request: Request) -> Response:
    """Execute now one failed rule (``kind`` and ``rule`` in the form), or every rule with a
    failure matching the filter fields of the form (``all=1``)."""
    form = await request.form()

    def act(v: Visitor) -> str:
        require(v, "scheduler.execute", request)
        if form.get("all") != "1":
            kind, rule_id = str(form.get("kind", "")), str(form.get("rule", ""))
            if kind not in KINDS or not rule_id:
                raise BadInput("rule", "which rule to execute is missing")
            return _execute(request, v, kind, rule_id)
        where = log_filter(_FormQuery(form), v, failures=True)
        services = services_of(request)
        failing = services.logs.still_failing(where, limit=MAX_BULK + 1, caller=v.caller)
        executed, refused = 0, []
        for automation, rule_id in failing[:MAX_BULK]:
            try:
                _execute(request, v, KIND_OF_TYPE[automation.value], rule_id)
                executed += 1
            except RateLimitedNow:
                break  # every later one would be refused too
            except (Conflict, NotFound, InvalidInput) as exc:
                refused.append(f"{rule_id}: {exc}")
        left = min(len(failing), MAX_BULK) - executed - len(refused)
        said = f"Executed {executed} of the {len(failing[:MAX_BULK])} rule(s) still failing."
        if left:
            said += f" {left} not run: manual executions are rate limited; run again shortly."
        if len(failing) > MAX_BULK:
            said += f" More than {MAX_BULK} match: run again for the rest."
        if refused:
            said += " Not run: " + "; ".join(refused[:5])
        return said

    return await _action(request, form, act)


class _FormQuery:
    """A form read as the page's query (the filter fields it carries), for :func:`log_filter`."""

    def __init__(self, form: Any) -> None:
        self.query_params = {k: v for k, v in form.items() if isinstance(v, str)}


def _plain(form: Any) -> None:
    """Refuse a form field holding a NUL (no id or filter holds one) or a file."""
    for name, value in form.multi_items():
        if not isinstance(value, str):
            raise BadInput(name, "must be text, not a file")
        if "\x00" in value:
            raise BadInput(name, "must not contain a NUL character")


# --- proposals ------------------------------------------------------------------------


@router.post("/dashboard/proposals/{item_id}/{verb}")
async def proposal_action(request: Request, item_id: str, verb: str) -> Response:
    form = await request.form()
    if verb not in ("approve", "reject"):
        raise BadInput("path", f"no such action: {verb}")

    def act(v: Visitor) -> str:
        services = services_of(request)
        require(v, f"rebalancing_proposal.{verb}", request)
        if verb == "approve":
            today = market_today(services.clock, services.settings.zone)
            done = services.proposals.approve(item_id, today, caller=v.caller)
            return f"Approved {item_id}: {len(done.order_ids)} order(s) placed."
        services.proposals.reject(item_id, caller=v.caller)
        return f"Rejected {item_id}."

    return await _action(request, form, act)


# --- shared -----------------------------------------------------------------------------


async def _action(request: Request, form: Any, act: Callable[[Visitor], str]) -> Response:
    """Check the session and the CSRF token, act, and go back with what happened."""
    from anyio import to_thread

    v = visitor(request)
    check_csrf(request, form)
    _plain(form)
    target = str(form.get("next") or PREFIX)
    try:
        said = await to_thread.run_sync(act, v)
    except (Conflict, InvalidInput) as exc:  # nothing changed: say why on the page
        said = f"Not done: {exc}"
    except RateLimitedNow:
        said = "Not done: manual executions are rate limited (AUTOMATION_RATE_LIMIT_EXECUTE)."
    except (Refused, NotFound, StorageError) as exc:
        return failed(request, exc)
    return back_to(request, target, said)
