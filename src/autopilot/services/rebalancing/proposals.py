"""Rebalancing proposals: list, get, approve, reject, and expiry (DESIGN §5).

A proposal is the outcome of its rule's occurrence until it is decided: the log row of that
occurrence says ``PendingApproval``, and becomes ``Success`` (approved, with the order ids) or
``Skipped`` (rejected, expired). A pending proposal past ``expires_at`` is expired lazily, when
it is read or approved, and on every scheduler pass.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime

from autopilot.domain.errors import Conflict, NotFound
from autopilot.domain.orders import Order
from autopilot.domain.outcomes import AutomationType, OutcomeStatus
from autopilot.domain.rebalancing.plan import Plan
from autopilot.domain.rebalancing.rule import (
    Proposal,
    ProposalStatus,
    RebalancingStatus,
    prices_moved,
)
from autopilot.services.access import SYSTEM, Caller
from autopilot.services.audit import audit
from autopilot.services.execution.outcomes import Occurrence, Outcome, placed, record_outcomes
from autopilot.services.execution.results import PREFIX, RuleResult, announce
from autopilot.services.ports import Broker, Clock, UnitOfWork, UnitOfWorkFactory
from autopilot.services.rebalancing.accounts import details, orders_for, pictures, plan_fits
from autopilot.services.submission import submit_committed

log = logging.getLogger("autopilot.scheduler")
EXPIRY_BATCH = 1000
PENDING = ProposalStatus.PENDING_APPROVAL


def expire_overdue(uow: UnitOfWorkFactory, clock: Clock, triggered_by: str) -> int:
    """Expire every pending proposal past its expiry; the count expired."""
    count = 0
    while True:
        now = clock.now()
        with uow() as work:
            overdue = work.proposals.claim_overdue(now, EXPIRY_BATCH)
            for proposal in overdue:
                work.proposals.decide(proposal.id, ProposalStatus.EXPIRED, now)
            outcomes = [
                _decided(p, OutcomeStatus.SKIPPED, "proposal expired", triggered_by, now)
                for p in overdue
            ]
            record_outcomes(work, outcomes, now)
        for proposal in overdue:
            log.info(
                "%s Rebalancing proposal %s expired",
                PREFIX,
                proposal.id,
                extra={"action": "proposal.expired", "proposal_id": proposal.id},
            )
        count += len(overdue)
        if len(overdue) < EXPIRY_BATCH:
            return count


def withdraw_pending(uow: UnitOfWork, rule_id: str, now: datetime, decided_by: str) -> int:
    """Reject the rule's waiting proposal (the rule was cancelled), in the caller's transaction;
    its occurrence is logged Skipped. The number withdrawn (0 or 1)."""
    pending, _ = uow.proposals.search(rule_id=rule_id, status=PENDING.value, offset=0, limit=10)
    message = "proposal withdrawn: the rule was cancelled"
    for proposal in pending:
        uow.proposals.decide(proposal.id, ProposalStatus.REJECTED, now)
    record_outcomes(
        uow, [_decided(p, OutcomeStatus.SKIPPED, message, decided_by, now) for p in pending], now
    )
    return len(pending)


def _decided(
    proposal: Proposal,
    status: OutcomeStatus,
    message: str,
    triggered_by: str,
    now: datetime,
    plan: Plan | None = None,
    orders: Sequence[Order] = (),
) -> Outcome:
    """The outcome of a proposal's occurrence once it is decided: a row of its own; the
    PendingApproval row before it stays as history."""
    plan = plan or Plan(trades=proposal.trades, skipped=proposal.skipped)
    occurrence = Occurrence(
        automation_type=AutomationType.REBALANCING,
        automation_id=proposal.rule_id,
        client_id=proposal.client_id,
        day=proposal.occurrence,
        triggered_by=triggered_by,
        started_at=now,
    )
    return occurrence.outcome(
        status,
        message,
        orders=orders,
        details=details(proposal.drift_before, plan, proposalId=proposal.id),
        finished_at=now,
    )


class ProposalService:
    def __init__(self, *, uow: UnitOfWorkFactory, broker: Broker, clock: Clock) -> None:
        self._uow = uow
        self._broker = broker
        self._clock = clock

    def search(
        self,
        *,
        rule_id: str | None,
        status: str | None,
        page: int,
        page_size: int,
        caller: Caller = SYSTEM,
    ) -> tuple[list[Proposal], int]:
        expire_overdue(self._uow, self._clock, caller.triggered_by)
        with self._uow() as uow:
            return uow.proposals.search(
                rule_id=rule_id,
                status=status,
                offset=(page - 1) * page_size,
                limit=page_size,
                client_id=caller.client_id if caller.is_client else None,
            )

    def get(self, proposal_id: str, *, caller: Caller = SYSTEM) -> Proposal:
        expire_overdue(self._uow, self._clock, caller.triggered_by)
        with self._uow() as uow:
            proposal = uow.proposals.get(proposal_id)
        if proposal is None:
            raise NotFound("rebalancing proposal", proposal_id)
        caller.own(proposal.client_id, "rebalancing proposal", proposal_id)
        return proposal

    def reject(self, proposal_id: str, *, caller: Caller = SYSTEM) -> Proposal:
        decided_by = caller.triggered_by
        expire_overdue(self._uow, self._clock, decided_by)
        now = self._clock.now()
        with self._uow() as uow:
            proposal = self._pending(uow, proposal_id, caller)
            uow.proposals.decide(proposal_id, ProposalStatus.REJECTED, now)
            outcome = _decided(
                proposal, OutcomeStatus.SKIPPED, "proposal rejected", decided_by, now
            )
            record_outcomes(uow, [outcome], now)
            audit(uow, caller, "rebalancing_proposal.reject", proposal, now)
        log.info(
            "%s Rebalancing proposal %s rejected",
            PREFIX,
            proposal_id,
            extra={"action": "proposal.rejected", "proposal_id": proposal_id},
        )
        return self.get(proposal_id, caller=caller)

    def approve(self, proposal_id: str, today: date, *, caller: Caller = SYSTEM) -> Proposal:
        """Execute the proposal; re-planned first against current prices and holdings if a
        price moved by more than the rule's drift threshold (in percent) since it was made,
        or if the account changed so that the stored trades no longer fit."""
        decided_by = caller.triggered_by
        expire_overdue(self._uow, self._clock, decided_by)
        now = self._clock.now()
        with self._uow() as uow:
            proposal = self._pending(uow, proposal_id, caller)
            record = uow.rebalancing.get(proposal.rule_id, lock=True)
            assert record is not None
            rule = record.rule
            if rule.status is RebalancingStatus.CANCELLED:
                raise Conflict(f"rebalancing rule {rule.id} is Cancelled")
            log.info(
                "%s Executing rebalancing rule: %s",
                PREFIX,
                rule.id,
                extra={"action": "execution.started", "rule_id": rule.id},
            )
            cash = uow.accounts.lock_available([rule.account_id])
            picture = pictures(uow, [rule], cash)[rule.id]
            picture.require_prices()
            plan = Plan(trades=proposal.trades, skipped=proposal.skipped)
            moved = prices_moved(proposal.prices, picture.prices, rule.drift_threshold)
            replanned = moved or not plan_fits(plan, picture, rule.cash_reserve)
            if replanned:
                plan = picture.plan(rule)
            orders = orders_for(rule, plan.trades, today)
            ids = tuple(o.id for o in orders)
            uow.proposals.decide(
                proposal_id,
                ProposalStatus.APPROVED,
                now,
                order_ids=ids,
                trades=plan.trades if replanned else None,
            )
            if ids:
                uow.rebalancing.save_state([replace(rule, last_executed_at=now)], now)
            status = OutcomeStatus.SUCCESS if ids else OutcomeStatus.SKIPPED
            message = f"proposal approved{' and re-planned' if replanned else ''}"
            outcome = _decided(proposal, status, message, decided_by, now, plan, orders)
            record_outcomes(uow, [outcome], now)
            audit(
                uow,
                caller,
                "rebalancing_proposal.approve",
                proposal,
                now,
                {"orderIds": list(ids)},
            )
        announce("Rebalancing rule", [RuleResult.of(outcome.entry)])
        submit_committed(self._broker, placed([outcome]))
        return self.get(proposal_id, caller=caller)

    def _pending(self, uow: UnitOfWork, proposal_id: str, caller: Caller) -> Proposal:
        proposal = uow.proposals.get(proposal_id, lock=True)
        if proposal is None:
            raise NotFound("rebalancing proposal", proposal_id)
        caller.own(proposal.client_id, "rebalancing proposal", proposal_id)
        if proposal.status is not PENDING:
            raise Conflict(f"rebalancing proposal {proposal_id} is {proposal.status.value}")
        return proposal
