"""The dashboard's pages (GET): overview, executions, rules, a rule, an order, failures,
proposals. Each page also answers ``?fragment=1`` with its live part alone, which the page's
script fetches every few seconds (live updates without reloading).

The pages read through the same services as the API, with the signed-in caller, so a client's
key sees its own client's objects alone (another client's rule is a 404, as a missing one).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from autopilot.api.dashboard.web import (
    BadInput,
    Refused,
    Visitor,
    failed,
    render,
    require,
    services_of,
    visitor,
)
from autopilot.api.dashboard.web import query as query_of
from autopilot.api.deps import MAX_ID
from autopilot.api.presenters import auto_invest as auto_invest_shape
from autopilot.api.presenters import rebalancing as rebalancing_shape
from autopilot.api.presenters import triggers as trigger_shape
from autopilot.api.presenters.logs import execution_log
from autopilot.api.presenters.platform import order as order_shape
from autopilot.api.presenters.results import scheduler_status
from autopilot.domain.errors import NotFound
from autopilot.domain.outcomes import AutomationType, OutcomeStatus
from autopilot.engine.scheduler import Scheduler
from autopilot.services.operations import STATUSES
from autopilot.services.ports import StorageError, market_today
from autopilot.services.records import LogFilter

router = APIRouter(include_in_schema=False)
DIGITS = re.compile(r"[0-9]+")  # not str.isdigit: "²" is a digit to it, and no int
PAGE_SIZE = 50
KINDS = {"auto-invest": "Auto-invest", "rebalancing": "Rebalancing", "triggers": "Trigger orders"}
KIND_OF_TYPE = {
    AutomationType.AUTO_INVEST.value: "auto-invest",
    AutomationType.REBALANCING.value: "rebalancing",
    AutomationType.TRIGGER_ORDER.value: "triggers",
}
TYPE_OF_KIND = {kind: t for t, kind in KIND_OF_TYPE.items()}
LIST_ACTION = {
    "auto-invest": "auto_invest_rule.list",
    "rebalancing": "rebalancing_rule.list",
    "triggers": "trigger_order.list",
}
RULE_STATUSES = {
    "auto-invest": ("Active", "Paused", "Completed", "Cancelled"),
    "rebalancing": ("Active", "Paused", "Cancelled"),
    "triggers": ("Active", "Paused", "Triggered", "Cancelled", "Expired", "Failed"),
}
PROPOSAL_STATUSES = ("PendingApproval", "Approved", "Rejected", "Expired")


# --- reading the query ----------------------------------------------------------------------


class Query(Protocol):
    """What the filters are read from: a page's query, or an action's form."""

    @property
    def query_params(self) -> Mapping[str, str]: ...


def _text(request: Query, name: str, *, max_length: int = 40) -> str | None:
    value = request.query_params.get(name, "").strip()
    if not value:
        return None
    if "\x00" in value:
        raise BadInput(name, "must not contain a NUL character")
    if len(value) > max_length:
        raise BadInput(name, f"must be at most {max_length} characters")
    return value


def _choice(request: Query, name: str, allowed: tuple[str, ...]) -> str | None:
    value = _text(request, name)
    if value is not None and value not in allowed:
        raise BadInput(name, f"must be one of {', '.join(allowed)}")
    return value


def _number(request: Query, name: str, *, low: int = 1, high: int = MAX_ID) -> int | None:
    value = _text(request, name, max_length=12)
    if value is None:
        return None
    if not DIGITS.fullmatch(value) or not low <= int(value) <= high:
        raise BadInput(name, f"must be a whole number from {low} to {high}")
    return int(value)


def _date(request: Query, name: str) -> date | None:
    value = _text(request, name, max_length=10)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadInput(name, "must be a date such as 2026-12-01") from None


def _page(request: Query) -> int:
    return _number(request, "page", high=1_000_000) or 1


def log_filter(request: Query, v: Visitor, *, failures: bool = False) -> LogFilter:
    """The execution-log filter of the query (automation, status, rule, client, dates)."""
    automation = _choice(request, "automation", tuple(TYPE_OF_KIND))
    status = None if failures else _choice(request, "status", tuple(s.value for s in STATUSES))
    date_from, date_to = _date(request, "from"), _date(request, "to")
    if date_from and date_to and date_to < date_from:
        raise BadInput("to", "must not be before from")
    return LogFilter(
        client_id=v.caller.client_id if v.caller.is_client else _number(request, "client"),
        automation_type=None if automation is None else AutomationType(TYPE_OF_KIND[automation]),
        automation_id=_text(request, "rule"),
        status=None if status is None else OutcomeStatus(status),
        date_from=date_from,
        date_to=date_to,
        failures=failures,
    )


def _pages(total: int, number: int) -> dict[str, int]:
    return {"number": number, "count": max(1, math.ceil(total / PAGE_SIZE)), "total": total}


# --- pages -------------------------------------------------------------------------------


def page(
    request: Request,
    template: str,
    context: Callable[[Visitor], dict[str, Any]],
    base: dict[str, Any] | None = None,
) -> Response:
    """Render a page (or, with ``?fragment=1``, its live part) for the signed-in visitor; a
    bad filter is a 400 naming the field, on the page itself."""
    v = visitor(request)
    fragment = request.query_params.get("fragment") == "1"
    status = 200
    try:
        shown = context(v)
    except BadInput as bad:  # the page still shows, with its filter form and the error
        shown, status = {"error": f"{bad.field}: {bad.message}", "rows": [], "pages": None}, 400
    except (Refused, NotFound, StorageError) as exc:
        return failed(request, exc)
    here = request.url.path + query_of(request)
    return render(
        request,
        f"_{template}" if fragment else template,
        {
            "v": v,
            "query": lambda **changes: query_of(request, **changes),
            "live_url": request.url.path + query_of(request, fragment=1),
            "here": here,
            "filters": dict(request.query_params),
            **(base or {}),
            **shown,
        },
        status_code=status,
    )


@router.get("/dashboard", response_class=HTMLResponse)
def overview(request: Request) -> Response:
    def context(v: Visitor) -> dict[str, Any]:
        services = services_of(request)
        today = market_today(services.clock, services.settings.zone)
        seen = services.operations.overview(today, caller=v.caller)
        status = None
        if v.may("scheduler.status"):
            scheduler: Scheduler = request.app.state.scheduler
            status = scheduler_status(
                is_running=scheduler.is_running,
                check_interval_ms=scheduler.check_interval_ms,
                enabled=services.settings.automation_scheduler_enabled,
                timezone=services.settings.automation_timezone,
                last=scheduler.last_pass,
                next_at=scheduler.next_pass_at,
                workers=services.workers.list(),
            ).model_dump(by_alias=True)
        history = seen.history
        chart = {
            "hours": [h.strftime("%d %H:00") for h in history.hours],
            "series": {s.value: history.by_status[s] for s in STATUSES},
        }
        return {
            "title": "Overview",
            "status": status,
            "counts": seen.counts,
            "executions_48h": history.total(),
            "executions_24h": history.total(24),
            "failure_rate_48h": history.failure_rate(),
            "failure_rate_24h": history.failure_rate(24),
            "chart_json": json.dumps(chart),
            "today": today,
        }

    return page(request, "overview.html", context, {"title": "Overview"})


@router.get("/dashboard/executions", response_class=HTMLResponse)
def executions(request: Request) -> Response:
    def context(v: Visitor) -> dict[str, Any]:
        require(v, "execution_log.list", request)
        return _log_page(request, v, failures=False)

    return page(request, "executions.html", context, _log_base("Executions"))


@router.get("/dashboard/failures", response_class=HTMLResponse)
def failures(request: Request) -> Response:
    def context(v: Visitor) -> dict[str, Any]:
        require(v, "execution_log.list", request)
        return _log_page(request, v, failures=True)

    return page(request, "failures.html", context, _log_base("Failures"))


def _log_base(title: str) -> dict[str, Any]:
    return {"title": title, "kinds": KINDS, "statuses": [s.value for s in STATUSES]}


def _log_page(request: Request, v: Visitor, *, failures: bool) -> dict[str, Any]:
    where = log_filter(request, v, failures=failures)
    number = _page(request)
    records, total = services_of(request).logs.search(
        where, page=number, page_size=PAGE_SIZE, caller=v.caller
    )
    rows = [execution_log(r).model_dump(by_alias=True) for r in records]
    for row in rows:
        row["kind"] = KIND_OF_TYPE[row["automationType"]]
    return {
        "rows": rows,
        "pages": _pages(total, number),
        "filters": dict(request.query_params),
    }


@router.get("/dashboard/rules", response_class=HTMLResponse)
def rules(request: Request) -> Response:
    def context(v: Visitor) -> dict[str, Any]:
        kind = _choice(request, "kind", tuple(KINDS)) or "auto-invest"
        require(v, LIST_ACTION[kind], request)
        status = _choice(request, "status", RULE_STATUSES[kind])
        client = v.caller.client_id if v.caller.is_client else _number(request, "client")
        number = _page(request)
        services = services_of(request)
        found: list[Any]
        if kind == "auto-invest":
            records, total = services.rules.search(
                client_id=client,
                account_id=None,
                status=status,
                page=number,
                page_size=PAGE_SIZE,
                caller=v.caller,
            )
            found = [auto_invest_shape.rule(r) for r in records]
        elif kind == "rebalancing":
            rebalancing, total = services.rebalancing_rules.search(
                client_id=client,
                account_id=None,
                status=status,
                page=number,
                page_size=PAGE_SIZE,
                caller=v.caller,
            )
            found = [rebalancing_shape.rule(r) for r in rebalancing]
        else:
            symbol = _text(request, "symbol", max_length=16)
            triggers, total = services.trigger_orders.search(
                client_id=client,
                account_id=None,
                symbol=symbol,
                status=status,
                page=number,
                page_size=PAGE_SIZE,
                caller=v.caller,
            )
            found = [trigger_shape.trigger_order(r) for r in triggers]
        return {
            "title": "Rules",
            "kind": kind,
            "kinds": KINDS,
            "statuses": RULE_STATUSES[kind],
            "rows": [r.model_dump(by_alias=True) for r in found],
            "pages": _pages(total, number),
            "filters": dict(request.query_params),
        }

    base = {"title": "Rules", "kind": "auto-invest", "kinds": KINDS, "statuses": ()}
    return page(request, "rules.html", context, base)


@router.get("/dashboard/rules/{kind}/{item_id}", response_class=HTMLResponse)
def rule(request: Request, kind: str, item_id: str) -> Response:
    def context(v: Visitor) -> dict[str, Any]:
        if kind not in KINDS:  # /dashboard/rules/nonsense/x: no such page
            raise NotFound("rule", item_id)
        require(v, LIST_ACTION[kind].replace(".list", ".get"), request)
        services = services_of(request)
        shown: Any
        if kind == "auto-invest":
            shown = auto_invest_shape.rule(services.rules.get(item_id, caller=v.caller))
        elif kind == "rebalancing":
            shown = rebalancing_shape.rule(services.rebalancing_rules.get(item_id, caller=v.caller))
        else:
            shown = trigger_shape.trigger_order(
                services.trigger_orders.get(item_id, caller=v.caller)
            )
        recent: list[dict[str, Any]] = []
        if v.may("execution_log.list"):
            where = LogFilter(
                automation_id=item_id, automation_type=AutomationType(TYPE_OF_KIND[kind])
            )
            records, _ = services.logs.search(where, page=1, page_size=10, caller=v.caller)
            recent = [execution_log(r).model_dump(by_alias=True) | {"kind": kind} for r in records]
        item = shown.model_dump(by_alias=True)
        return {
            "title": f"{KINDS[kind]} {item_id}",
            "kind": kind,
            "item": item,
            "fields": _fields(item),
            "recent": recent,
        }

    return page(request, "rule.html", context, {"title": "Rule", "kind": "auto-invest"})


@router.get("/dashboard/orders/{item_id}", response_class=HTMLResponse)
def order(request: Request, item_id: str) -> Response:
    def context(v: Visitor) -> dict[str, Any]:
        require(v, "order.get", request)
        item = order_shape(services_of(request).orders.get(item_id, caller=v.caller))
        shown = item.model_dump(by_alias=True)
        return {"title": f"Order {item_id}", "item": shown, "fields": _fields(shown)}

    return page(request, "order.html", context, {"title": "Order"})


@router.get("/dashboard/proposals", response_class=HTMLResponse)
def proposals(request: Request) -> Response:
    def context(v: Visitor) -> dict[str, Any]:
        require(v, "rebalancing_proposal.list", request)
        status = _choice(request, "status", PROPOSAL_STATUSES) or "PendingApproval"
        number = _page(request)
        found, total = services_of(request).proposals.search(
            rule_id=_text(request, "rule"),
            status=status,
            page=number,
            page_size=PAGE_SIZE,
            caller=v.caller,
        )
        return {
            "title": "Proposals",
            "rows": [rebalancing_shape.proposal(p).model_dump(by_alias=True) for p in found],
            "pages": _pages(total, number),
            "statuses": PROPOSAL_STATUSES,
            "status": status,
            "filters": dict(request.query_params),
        }

    base = {"title": "Proposals", "statuses": PROPOSAL_STATUSES, "status": "PendingApproval"}
    return page(request, "proposals.html", context, base)


def _fields(item: dict[str, Any]) -> list[tuple[str, str]]:
    """An object's fields as (name, text) for a definition list; nested ones as JSON."""
    shown = []
    for name, value in item.items():
        text = (
            json.dumps(value)
            if isinstance(value, dict | list)
            else ("—" if value is None else str(value))
        )
        shown.append((name, text))
    return shown
