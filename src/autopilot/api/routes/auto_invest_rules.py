"""Auto-invest rule management: create, list, get, update, pause, resume, cancel."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from autopilot.api.deps import AccountIdQuery, ClientIdQuery, PageDep, PageSizeDep, ServicesDep
from autopilot.api.envelope import ok
from autopilot.api.presenters import common as presenters
from autopilot.api.schemas import AllocationIn, RuleCreate, RuleUpdate
from autopilot.domain.auto_invest.rule import Allocation
from autopilot.domain.schedule import Frequency, HolidayRule
from autopilot.services.auto_invest.rules import RuleSpec, spec_of

router = APIRouter(prefix="/api/automation/auto-invest-rules", tags=["auto-invest rules"])

WEEKDAY = {name: i for i, name in enumerate(presenters.WEEKDAYS)}
RuleStatusName = Literal["Active", "Paused", "Completed", "Cancelled"]


def _allocations(items: list[AllocationIn]) -> tuple[Allocation, ...]:
    return tuple(Allocation(symbol=a.symbol.upper(), weight=a.weight) for a in items)


@router.post("")
def create(body: RuleCreate, services: ServicesDep) -> JSONResponse:
    spec = RuleSpec(
        client_id=body.client_id,
        account_id=body.account_id,
        name=body.name,
        amount=body.amount,
        allocations=_allocations(body.allocations),
        frequency=Frequency(body.frequency),
        start_date=body.start_date,
        day_of_week=None if body.day_of_week is None else WEEKDAY[body.day_of_week],
        day_of_month=body.day_of_month,
        holiday_rule=HolidayRule(body.holiday_rule),
        end_date=body.end_date,
        max_total_amount=body.max_total_amount,
        is_enabled=body.is_enabled,
    )
    return ok(presenters.rule(services.rules.create(spec)), 201)


@router.get("")
def search(
    services: ServicesDep,
    client_id: ClientIdQuery = None,
    account_id: AccountIdQuery = None,
    status: Annotated[RuleStatusName | None, Query()] = None,
    page: PageDep = 1,
    page_size: PageSizeDep = 50,
) -> JSONResponse:
    records, total = services.rules.search(
        client_id=client_id, account_id=account_id, status=status, page=page, page_size=page_size
    )
    return ok(presenters.page([presenters.rule(r) for r in records], total, page, page_size))


@router.get("/{rule_id}")
def get(rule_id: str, services: ServicesDep) -> JSONResponse:
    return ok(presenters.rule(services.rules.get(rule_id)))


# PUT and PATCH both change only the fields given; each has its own OpenAPI operation.
@router.put("/{rule_id}", operation_id="update_auto_invest_rule_put")
@router.patch("/{rule_id}", operation_id="update_auto_invest_rule")
def update(rule_id: str, body: RuleUpdate, services: ServicesDep) -> JSONResponse:
    """Change the fields given; the others keep their values."""
    current = spec_of(services.rules.get(rule_id).rule)
    given = body.model_fields_set
    changes: dict[str, object] = {
        name: getattr(body, name)
        for name in ("name", "amount", "start_date", "end_date", "max_total_amount", "is_enabled")
        if name in given
    }
    if "allocations" in given and body.allocations is not None:
        changes["allocations"] = _allocations(body.allocations)
    if "frequency" in given and body.frequency is not None:
        changes["frequency"] = Frequency(body.frequency)
    if "holiday_rule" in given and body.holiday_rule is not None:
        changes["holiday_rule"] = HolidayRule(body.holiday_rule)
    if "day_of_week" in given:
        changes["day_of_week"] = None if body.day_of_week is None else WEEKDAY[body.day_of_week]
    if "day_of_month" in given:
        changes["day_of_month"] = body.day_of_month
    frequency = changes.get("frequency", current.frequency)
    assert isinstance(frequency, Frequency)
    # A new frequency drops the day its old one ran on, unless the request gives one.
    if not frequency.takes_day_of_week and "day_of_week" not in given:
        changes["day_of_week"] = None
    if not frequency.takes_day_of_month and "day_of_month" not in given:
        changes["day_of_month"] = None
    for required in ("name", "amount", "start_date", "is_enabled"):
        if required in changes and changes[required] is None:
            changes.pop(required)
    spec = replace(current, **changes)  # type: ignore[arg-type]
    return ok(presenters.rule(services.rules.update(rule_id, spec)))


@router.post("/{rule_id}/pause")
def pause(rule_id: str, services: ServicesDep) -> JSONResponse:
    return ok(presenters.rule(services.rules.pause(rule_id)))


@router.post("/{rule_id}/resume")
def resume(rule_id: str, services: ServicesDep) -> JSONResponse:
    return ok(presenters.rule(services.rules.resume(rule_id)))


@router.post("/{rule_id}/cancel")
def cancel(rule_id: str, services: ServicesDep) -> JSONResponse:
    return ok(presenters.rule(services.rules.cancel(rule_id)))


@router.delete("/{rule_id}")
def delete(rule_id: str, services: ServicesDep) -> JSONResponse:
    """Rules are never deleted (their log stays meaningful): DELETE cancels."""
    return ok(presenters.rule(services.rules.cancel(rule_id)))
