"""Rebalancing rules (create, list, get, update, pause, resume, cancel, drift, preview) and
their proposals (list, get, approve, reject)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from autopilot.api.deps import AccountIdQuery, ClientIdQuery, PageDep, PageSizeDep, ServicesDep
from autopilot.api.envelope import ok
from autopilot.api.openapi import errors
from autopilot.api.presenters import rebalancing as shape
from autopilot.api.presenters.common import page
from autopilot.api.schemas.requests import RebalancingCreate, RebalancingUpdate, TargetIn
from autopilot.api.schemas.responses import (
    DriftPublic,
    Envelope,
    Page,
    PreviewPublic,
    ProposalPublic,
    RebalancingRulePublic,
)
from autopilot.api.security import CallerDep, authorize, grant
from autopilot.domain.rebalancing.drift import Target
from autopilot.domain.rebalancing.rule import TriggerMode
from autopilot.domain.schedule import Frequency
from autopilot.services.access import Role
from autopilot.services.changes import KEEP
from autopilot.services.ports import market_today
from autopilot.services.rebalancing.rules import RebalancingChanges, RebalancingSpec

router = APIRouter(
    prefix="/api/automation", tags=["rebalancing"], dependencies=[Depends(authorize)]
)
RULES = "/rebalancing-rules"
PROPOSALS = "/rebalancing-proposals"
StatusName = Literal["Active", "Paused", "Cancelled"]
ProposalStatusName = Literal["PendingApproval", "Approved", "Rejected", "Expired"]
One = Envelope[RebalancingRulePublic]
OneProposal = Envelope[ProposalPublic]


def _targets(items: list[TargetIn]) -> tuple[Target, ...]:
    return tuple(Target(symbol=t.symbol.upper(), weight=t.weight) for t in items)


@router.post(RULES, status_code=201, response_model=One, responses=errors(404))
@grant("rebalancing_rule.create", Role.CLIENT)
def create(body: RebalancingCreate, services: ServicesDep, caller: CallerDep) -> One:
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
    return ok(shape.rule(services.rebalancing_rules.create(spec, caller=caller)))


@router.get(RULES, response_model=Envelope[Page[RebalancingRulePublic]])
@grant("rebalancing_rule.list", Role.OPERATOR, Role.CLIENT)
def search(
    services: ServicesDep,
    caller: CallerDep,
    client_id: ClientIdQuery = None,
    account_id: AccountIdQuery = None,
    status: Annotated[StatusName | None, Query()] = None,
    page_number: PageDep = 1,
    page_size: PageSizeDep = 50,
) -> Envelope[Page[RebalancingRulePublic]]:
    records, total = services.rebalancing_rules.search(
        client_id=client_id,
        account_id=account_id,
        status=status,
        page=page_number,
        page_size=page_size,
        caller=caller,
    )
    return ok(page([shape.rule(r) for r in records], total, page_number, page_size))


@router.get(RULES + "/{rule_id}", response_model=One, responses=errors(404))
@grant("rebalancing_rule.get", Role.OPERATOR, Role.CLIENT)
def get(rule_id: str, services: ServicesDep, caller: CallerDep) -> One:
    return ok(shape.rule(services.rebalancing_rules.get(rule_id, caller=caller)))


# Fields that can be cleared with null; for the others a null leaves the value as it is.
NULLABLE = {"relative_threshold", "day_of_month", "frequency"}


def changes_of(body: RebalancingUpdate) -> RebalancingChanges:
    given = body.model_fields_set

    def value(name: str, convert: Any = None) -> Any:
        raw = getattr(body, name)
        if name not in given or (raw is None and name not in NULLABLE):
            return KEEP
        return raw if convert is None or raw is None else convert(raw)

    return RebalancingChanges(
        name=value("name"),
        targets=value("targets", _targets),
        trigger_mode=value("trigger_mode", TriggerMode),
        drift_threshold=value("drift_threshold"),
        relative_threshold=value("relative_threshold"),
        frequency=value("frequency", Frequency),
        day_of_month=value("day_of_month"),
        require_confirmation=value("require_confirmation"),
        min_trade_amount=value("min_trade_amount"),
        allow_sells=value("allow_sells"),
        cash_reserve=value("cash_reserve"),
        cooldown_days=value("cooldown_days"),
        is_enabled=value("is_enabled"),
    )


# PUT and PATCH both change only the fields given; each has its own OpenAPI operation.
@router.put(
    RULES + "/{rule_id}",
    operation_id="update_rebalancing_rule_put",
    response_model=One,
    responses=errors(404, 409),
)
@router.patch(
    RULES + "/{rule_id}",
    operation_id="update_rebalancing_rule",
    response_model=One,
    responses=errors(404, 409),
)
@grant("rebalancing_rule.update", Role.CLIENT)
def update(rule_id: str, body: RebalancingUpdate, services: ServicesDep, caller: CallerDep) -> One:
    """Change the fields given; the others keep their values."""
    return ok(
        shape.rule(services.rebalancing_rules.update(rule_id, changes_of(body), caller=caller))
    )


@router.post(RULES + "/{rule_id}/pause", response_model=One, responses=errors(404, 409))
@grant("rebalancing_rule.pause", Role.CLIENT)
def pause(rule_id: str, services: ServicesDep, caller: CallerDep) -> One:
    return ok(shape.rule(services.rebalancing_rules.pause(rule_id, caller=caller)))


@router.post(RULES + "/{rule_id}/resume", response_model=One, responses=errors(404, 409))
@grant("rebalancing_rule.resume", Role.CLIENT)
def resume(rule_id: str, services: ServicesDep, caller: CallerDep) -> One:
    return ok(shape.rule(services.rebalancing_rules.resume(rule_id, caller=caller)))


@router.post(RULES + "/{rule_id}/cancel", response_model=One, responses=errors(404, 409))
@grant("rebalancing_rule.cancel", Role.CLIENT)
def cancel(rule_id: str, services: ServicesDep, caller: CallerDep) -> One:
    return ok(shape.rule(services.rebalancing_rules.cancel(rule_id, caller=caller)))


@router.delete(RULES + "/{rule_id}", response_model=One, responses=errors(404, 409))
@grant("rebalancing_rule.cancel", Role.CLIENT)
def delete(rule_id: str, services: ServicesDep, caller: CallerDep) -> One:
    """Rules are never deleted (their log stays meaningful): DELETE cancels."""
    return ok(shape.rule(services.rebalancing_rules.cancel(rule_id, caller=caller)))


@router.get(
    RULES + "/{rule_id}/drift", response_model=Envelope[DriftPublic], responses=errors(404, 409)
)
@grant("rebalancing_rule.drift", Role.OPERATOR, Role.CLIENT)
def drift(rule_id: str, services: ServicesDep, caller: CallerDep) -> Envelope[DriftPublic]:
    return ok(shape.drift(services.rebalancing_rules.drift(rule_id, caller=caller)))


@router.get(
    RULES + "/{rule_id}/preview", response_model=Envelope[PreviewPublic], responses=errors(404, 409)
)
@grant("rebalancing_rule.preview", Role.OPERATOR, Role.CLIENT)
def preview(rule_id: str, services: ServicesDep, caller: CallerDep) -> Envelope[PreviewPublic]:
    return ok(shape.preview(services.rebalancing_rules.preview(rule_id, caller=caller)))


@router.get(PROPOSALS, response_model=Envelope[Page[ProposalPublic]])
@grant("rebalancing_proposal.list", Role.OPERATOR, Role.CLIENT)
def proposals(
    services: ServicesDep,
    caller: CallerDep,
    rule_id: Annotated[str | None, Query(alias="ruleId", max_length=40)] = None,
    status: Annotated[ProposalStatusName | None, Query()] = None,
    page_number: PageDep = 1,
    page_size: PageSizeDep = 50,
) -> Envelope[Page[ProposalPublic]]:
    found, total = services.proposals.search(
        rule_id=rule_id, status=status, page=page_number, page_size=page_size, caller=caller
    )
    return ok(page([shape.proposal(p) for p in found], total, page_number, page_size))


@router.get(PROPOSALS + "/{proposal_id}", response_model=OneProposal, responses=errors(404))
@grant("rebalancing_proposal.get", Role.OPERATOR, Role.CLIENT)
def proposal(proposal_id: str, services: ServicesDep, caller: CallerDep) -> OneProposal:
    return ok(shape.proposal(services.proposals.get(proposal_id, caller=caller)))


@router.post(
    PROPOSALS + "/{proposal_id}/approve", response_model=OneProposal, responses=errors(404, 409)
)
@grant("rebalancing_proposal.approve", Role.CLIENT)
def approve(proposal_id: str, services: ServicesDep, caller: CallerDep) -> OneProposal:
    today = market_today(services.clock, services.settings.zone)
    return ok(shape.proposal(services.proposals.approve(proposal_id, today, caller=caller)))


@router.post(
    PROPOSALS + "/{proposal_id}/reject", response_model=OneProposal, responses=errors(404, 409)
)
@grant("rebalancing_proposal.reject", Role.CLIENT)
def reject(proposal_id: str, services: ServicesDep, caller: CallerDep) -> OneProposal:
    return ok(shape.proposal(services.proposals.reject(proposal_id, caller=caller)))
