"""Rebalancing rules (create, list, get, update, pause, resume, cancel, drift, preview) and
their proposals (list, get, approve, reject)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from autopilot.api.deps import AccountIdQuery, ClientIdQuery, PageDep, PageSizeDep, ServicesDep
from autopilot.api.envelope import ok
from autopilot.api.presenters import common as presenters
from autopilot.api.presenters import rebalancing as shape
from autopilot.api.schemas import RebalancingCreate, RebalancingUpdate, TargetIn
from autopilot.domain.rebalancing.drift import Target
from autopilot.domain.rebalancing.rule import TriggerMode
from autopilot.domain.schedule import Frequency
from autopilot.services.ports import market_today
from autopilot.services.rebalancing.rules import RebalancingSpec, spec_of

router = APIRouter(prefix="/api/automation", tags=["rebalancing"])
RULES = "/rebalancing-rules"
PROPOSALS = "/rebalancing-proposals"
StatusName = Literal["Active", "Paused", "Cancelled"]
ProposalStatusName = Literal["PendingApproval", "Approved", "Rejected", "Expired"]
PLAIN_FIELDS = (
    "name",
    "drift_threshold",
    "relative_threshold",
    "day_of_month",
    "require_confirmation",
    "min_trade_amount",
    "allow_sells",
    "cash_reserve",
    "cooldown_days",
    "is_enabled",
)
# Fields that cannot be cleared: a null for them leaves the value as it is.
REQUIRED = set(PLAIN_FIELDS) - {"relative_threshold", "day_of_month"}


def _targets(items: list[TargetIn]) -> tuple[Target, ...]:
    return tuple(Target(symbol=t.symbol.upper(), weight=t.weight) for t in items)


@router.post(RULES)
def create(body: RebalancingCreate, services: ServicesDep) -> JSONResponse:
    spec = RebalancingSpec(
        client_id=body.client_id,
        account_id=body.account_id,
        name=body.name,
        targets=_targets(body.targets),
        trigger_mode=TriggerMode(body.trigger_mode),
        drift_threshold=body.drift_threshold,
        relative_threshold=body.relative_threshold,
        frequency=None if body.frequency is None else Frequency(body.frequency),
        day_of_month=body.day_of_month,
        require_confirmation=body.require_confirmation,
        min_trade_amount=body.min_trade_amount,
        allow_sells=body.allow_sells,
        cash_reserve=body.cash_reserve,
        cooldown_days=body.cooldown_days,
        is_enabled=body.is_enabled,
    )
    return ok(shape.rule(services.rebalancing_rules.create(spec)), 201)


@router.get(RULES)
def search(
    services: ServicesDep,
    client_id: ClientIdQuery = None,
    account_id: AccountIdQuery = None,
    status: Annotated[StatusName | None, Query()] = None,
    page: PageDep = 1,
    page_size: PageSizeDep = 50,
) -> JSONResponse:
    records, total = services.rebalancing_rules.search(
        client_id=client_id, account_id=account_id, status=status, page=page, page_size=page_size
    )
    return ok(presenters.page([shape.rule(r) for r in records], total, page, page_size))


@router.get(RULES + "/{rule_id}")
def get(rule_id: str, services: ServicesDep) -> JSONResponse:
    return ok(shape.rule(services.rebalancing_rules.get(rule_id)))


# PUT and PATCH both change only the fields given; each has its own OpenAPI operation.
@router.put(RULES + "/{rule_id}", operation_id="update_rebalancing_rule_put")
@router.patch(RULES + "/{rule_id}", operation_id="update_rebalancing_rule")
def update(rule_id: str, body: RebalancingUpdate, services: ServicesDep) -> JSONResponse:
    """Change the fields given; the others keep their values."""
    current = spec_of(services.rebalancing_rules.get(rule_id).rule)
    given = body.model_fields_set
    changes: dict[str, object] = {n: getattr(body, n) for n in PLAIN_FIELDS if n in given}
    if "targets" in given and body.targets is not None:
        changes["targets"] = _targets(body.targets)
    if "trigger_mode" in given and body.trigger_mode is not None:
        changes["trigger_mode"] = TriggerMode(body.trigger_mode)
    if "frequency" in given:
        changes["frequency"] = None if body.frequency is None else Frequency(body.frequency)
    for name in REQUIRED & changes.keys():
        if changes[name] is None:
            changes.pop(name)
    spec = replace(current, **changes)  # type: ignore[arg-type]
    return ok(shape.rule(services.rebalancing_rules.update(rule_id, spec)))


@router.post(RULES + "/{rule_id}/pause")
def pause(rule_id: str, services: ServicesDep) -> JSONResponse:
    return ok(shape.rule(services.rebalancing_rules.pause(rule_id)))


@router.post(RULES + "/{rule_id}/resume")
def resume(rule_id: str, services: ServicesDep) -> JSONResponse:
    return ok(shape.rule(services.rebalancing_rules.resume(rule_id)))


@router.post(RULES + "/{rule_id}/cancel")
def cancel(rule_id: str, services: ServicesDep) -> JSONResponse:
    return ok(shape.rule(services.rebalancing_rules.cancel(rule_id)))


@router.delete(RULES + "/{rule_id}")
def delete(rule_id: str, services: ServicesDep) -> JSONResponse:
    """Rules are never deleted (their log stays meaningful): DELETE cancels."""
    return ok(shape.rule(services.rebalancing_rules.cancel(rule_id)))


@router.get(RULES + "/{rule_id}/drift")
def drift(rule_id: str, services: ServicesDep) -> JSONResponse:
    return ok(shape.drift(services.rebalancing_rules.drift(rule_id)))


@router.get(RULES + "/{rule_id}/preview")
def preview(rule_id: str, services: ServicesDep) -> JSONResponse:
    return ok(shape.preview(services.rebalancing_rules.preview(rule_id)))


@router.get(PROPOSALS)
def proposals(
    services: ServicesDep,
    rule_id: Annotated[str | None, Query(alias="ruleId", max_length=40)] = None,
    status: Annotated[ProposalStatusName | None, Query()] = None,
    page: PageDep = 1,
    page_size: PageSizeDep = 50,
) -> JSONResponse:
    found, total = services.proposals.search(
        rule_id=rule_id, status=status, page=page, page_size=page_size
    )
    return ok(presenters.page([shape.proposal(p) for p in found], total, page, page_size))


@router.get(PROPOSALS + "/{proposal_id}")
def proposal(proposal_id: str, services: ServicesDep) -> JSONResponse:
    return ok(shape.proposal(services.proposals.get(proposal_id)))


@router.post(PROPOSALS + "/{proposal_id}/approve")
def approve(proposal_id: str, services: ServicesDep) -> JSONResponse:
    today = market_today(services.clock, services.settings.zone)
    return ok(shape.proposal(services.proposals.approve(proposal_id, today)))


@router.post(PROPOSALS + "/{proposal_id}/reject")
def reject(proposal_id: str, services: ServicesDep) -> JSONResponse:
    return ok(shape.proposal(services.proposals.reject(proposal_id)))
