"""Auto-invest rule management: create, list, get, update, pause, resume, cancel."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from autopilot.api.deps import AccountIdQuery, ClientIdQuery, PageDep, PageSizeDep, ServicesDep
from autopilot.api.envelope import ok
from autopilot.api.openapi import errors
from autopilot.api.presenters import auto_invest as shape
from autopilot.api.presenters.common import WEEKDAYS, page
from autopilot.api.schemas.requests import AllocationIn, RuleCreate, RuleUpdate
from autopilot.api.schemas.responses import AutoInvestRulePublic, Envelope, Page
from autopilot.api.security import CallerDep, authorize, grant
from autopilot.domain.auto_invest.rule import Allocation
from autopilot.domain.schedule import Frequency, HolidayRule
from autopilot.services.access import Role
from autopilot.services.auto_invest.rules import RuleChanges, RuleSpec
from autopilot.services.changes import KEEP

router = APIRouter(
    prefix="/api/automation/auto-invest-rules",
    tags=["auto-invest rules"],
    dependencies=[Depends(authorize)],
)

WEEKDAY = {name: i for i, name in enumerate(WEEKDAYS)}
RuleStatusName = Literal["Active", "Paused", "Completed", "Cancelled"]
One = Envelope[AutoInvestRulePublic]


def _allocations(items: list[AllocationIn]) -> tuple[Allocation, ...]:
    return tuple(Allocation(symbol=a.symbol.upper(), weight=a.weight) for a in items)


def _weekday(name: str | None) -> int | None:
    return None if name is None else WEEKDAY[name]


@router.post("", status_code=201, response_model=One, responses=errors(404))
@grant("auto_invest_rule.create", Role.CLIENT)
def create(body: RuleCreate, services: ServicesDep, caller: CallerDep) -> One:
    spec = RuleSpec(
        client_id=body.client_id,
        account_id=body.account_id,
        name=body.name,
        amount=body.amount,
        allocations=_allocations(body.allocations),
        frequency=Frequency(body.frequency),
        start_date=body.start_date,
        day_of_week=_weekday(body.day_of_week),
        day_of_month=body.day_of_month,
        holiday_rule=HolidayRule(body.holiday_rule),
        end_date=body.end_date,
        max_total_amount=body.max_total_amount,
        is_enabled=body.is_enabled,
    )
    return ok(shape.rule(services.rules.create(spec, caller=caller)))


@router.get("", response_model=Envelope[Page[AutoInvestRulePublic]])
@grant("auto_invest_rule.list", Role.OPERATOR, Role.CLIENT)
def search(
    services: ServicesDep,
    caller: CallerDep,
    client_id: ClientIdQuery = None,
    account_id: AccountIdQuery = None,
    status: Annotated[RuleStatusName | None, Query()] = None,
    page_number: PageDep = 1,
    page_size: PageSizeDep = 50,
) -> Envelope[Page[AutoInvestRulePublic]]:
    records, total = services.rules.search(
        client_id=client_id,
        account_id=account_id,
        status=status,
        page=page_number,
        page_size=page_size,
        caller=caller,
    )
    return ok(page([shape.rule(r) for r in records], total, page_number, page_size))


@router.get("/{rule_id}", response_model=One, responses=errors(404))
@grant("auto_invest_rule.get", Role.OPERATOR, Role.CLIENT)
def get(rule_id: str, services: ServicesDep, caller: CallerDep) -> One:
    return ok(shape.rule(services.rules.get(rule_id, caller=caller)))


def changes_of(body: RuleUpdate) -> RuleChanges:
    """The fields the body gives; null for a field a rule cannot be without leaves it as is."""
    given = body.model_fields_set

    def value(name: str, convert: Any = None, *, nullable: bool = False) -> Any:
        raw = getattr(body, name)
        if name not in given or (raw is None and not nullable):
            return KEEP
        return raw if convert is None or raw is None else convert(raw)

    return RuleChanges(
        name=value("name"),
        amount=value("amount"),
        allocations=value("allocations", _allocations),
        frequency=value("frequency", Frequency),
        start_date=value("start_date"),
        day_of_week=value("day_of_week", _weekday, nullable=True),
        day_of_month=value("day_of_month", nullable=True),
        holiday_rule=value("holiday_rule", HolidayRule),
        end_date=value("end_date", nullable=True),
        max_total_amount=value("max_total_amount", nullable=True),
        is_enabled=value("is_enabled"),
    )


# PUT and PATCH both change only the fields given; each has its own OpenAPI operation.
@router.put(
    "/{rule_id}",
    operation_id="update_auto_invest_rule_put",
    response_model=One,
    responses=errors(404, 409),
)
@router.patch(
    "/{rule_id}",
    operation_id="update_auto_invest_rule",
    response_model=One,
    responses=errors(404, 409),
)
@grant("auto_invest_rule.update", Role.CLIENT)
def update(rule_id: str, body: RuleUpdate, services: ServicesDep, caller: CallerDep) -> One:
    """Change the fields given; the others keep their values."""
    return ok(shape.rule(services.rules.update(rule_id, changes_of(body), caller=caller)))


@router.post("/{rule_id}/pause", response_model=One, responses=errors(404, 409))
@grant("auto_invest_rule.pause", Role.CLIENT)
def pause(rule_id: str, services: ServicesDep, caller: CallerDep) -> One:
    return ok(shape.rule(services.rules.pause(rule_id, caller=caller)))


@router.post("/{rule_id}/resume", response_model=One, responses=errors(404, 409))
@grant("auto_invest_rule.resume", Role.CLIENT)
def resume(rule_id: str, services: ServicesDep, caller: CallerDep) -> One:
    return ok(shape.rule(services.rules.resume(rule_id, caller=caller)))


@router.post("/{rule_id}/cancel", response_model=One, responses=errors(404, 409))
@grant("auto_invest_rule.cancel", Role.CLIENT)
def cancel(rule_id: str, services: ServicesDep, caller: CallerDep) -> One:
    return ok(shape.rule(services.rules.cancel(rule_id, caller=caller)))


@router.delete("/{rule_id}", response_model=One, responses=errors(404, 409))
@grant("auto_invest_rule.cancel", Role.CLIENT)
def delete(rule_id: str, services: ServicesDep, caller: CallerDep) -> One:
    """Rules are never deleted (their log stays meaningful): DELETE cancels."""
    return ok(shape.rule(services.rules.cancel(rule_id, caller=caller)))
