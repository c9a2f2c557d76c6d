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
        or not secrets.compare_digest(expected, presented)
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
            return _sign_in_form(request, "Too many failed sign-ins; wait a minute.", 429)
        return _sign_in_form(request, "That key was not accepted.", 401)
    except NoDashboard as refused:
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


def _execute(request: Request, v: Visitor, kind: str, item_id: str) -> str:
    """Execute a rule now (a trigger order: its client's triggers against the latest
    prices), within the key's manual-execution rate limit."""
    require(v, "scheduler.execute", request)
    services = services_of(request)
    decision = services.limiter.hit(services.settings.rate_limits.execute, f"key:{v.caller.key_id}")
    if not decision.allowed:
        raise InvalidInput("execute", "manual executions are rate limited; try again shortly")
    if kind == "triggers":
        record = services.trigger_orders.get(item_id, caller=v.caller)
        result = services.passes.execute(
            ExecuteCommand(kind=Kind.TRIGGERS, client_id=record.client_id, caller=v.caller)
        )
    else:
        result = services.passes.execute(
            ExecuteCommand(kind=Kind(kind), rule_id=item_id, caller=v.caller)
        )
    return f"Executed {item_id}: {_told(result)}"


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
        seen: dict[tuple[str, str], None] = {}
        page_number = 1
        while len(seen) <= MAX_BULK:
            records, total = services.logs.search(
                where, page=page_number, page_size=500, caller=v.caller
            )
            for r in records:
                seen.setdefault(
                    (KIND_OF_TYPE[r.entry.automation_type.value], r.entry.automation_id)
                )
            if page_number * 500 >= total:
                break
            page_number += 1
        chosen = list(seen)[:MAX_BULK]
        said = []
        for kind, rule_id in chosen:
            try:
                said.append(_execute(request, v, kind, rule_id))
            except (Conflict, NotFound, InvalidInput) as exc:
                said.append(f"{rule_id}: {exc}")
        more = f" ({len(seen) - MAX_BULK} more not run: run again)" if len(seen) > MAX_BULK else ""
        return f"Executed {len(chosen)} rule(s){more}. " + " ".join(said[:5])

    return await _action(request, form, act)


class _FormQuery:
    """A form read as the page's query (the filter fields it carries), for :func:`log_filter`."""

    def __init__(self, form: Any) -> None:
        self.query_params = {k: v for k, v in form.items() if isinstance(v, str)}


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
    target = str(form.get("next") or PREFIX)
    try:
        said = await to_thread.run_sync(act, v)
    except (Conflict, InvalidInput) as exc:  # nothing changed: say why on the page
        said = f"Not done: {exc}"
    except (Refused, NotFound, StorageError) as exc:
        return failed(request, exc)
    return back_to(request, target, said)
