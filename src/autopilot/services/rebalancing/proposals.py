"""Rebalancing proposals: list, get, approve, reject, and expiry (DESIGN §5).

A proposal is the outcome of its rule's occurrence until it is decided: the log row of that
occurrence says ``PendingApproval``, and becomes ``Success`` (approved, with the order ids) or
``Skipped`` (rejected, expired). A pending proposal past ``expires_at`` is expired lazily, when
it is read or approved, and on every scheduler pass.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date, datetime
from typing import TYPE_CHECKING

from autopilot.domain.errors import Conflict, NotFound
from autopilot.domain.outcomes import OutcomeStatus
from autopilot.domain.rebalancing.plan import Plan
from autopilot.domain.rebalancing.rule import (
    Proposal,
    ProposalStatus,
    RebalancingStatus,
    prices_moved,
)
from autopilot.services.execution.results import PREFIX, RuleResult, announce
from autopilot.services.ports import Broker, Clock, UnitOfWorkFactory
from autopilot.services.rebalancing.accounts import (
    AUTOMATION_TYPE,
    details,
    orders_for,
    pictures,
    plan_fits,
)
from autopilot.services.records import LogEntry
from autopilot.services.submission import submit_committed

if TYPE_CHECKING:
    from autopilot.services.ports import UnitOfWork

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
                entry = _outcome(
                    proposal, OutcomeStatus.SKIPPED, "proposal expired", triggered_by, now
                )
                work.logs.resolve(entry, now)
        for proposal in overdue:
            log.info("%s Rebalancing proposal %s expired", PREFIX, proposal.id)
        count += len(overdue)
        if len(overdue) < EXPIRY_BATCH:
            return count


def withdraw_pending(uow: UnitOfWork, rule_id: str, now: datetime, decided_by: str) -> int:
    """Reject the rule's waiting proposal (the rule was cancelled), in the caller's transaction;
    its occurrence is logged Skipped. The number withdrawn (0 or 1)."""
    pending, _ = uow.proposals.search(rule_id=rule_id, status=PENDING.value, offset=0, limit=10)
    for proposal in pending:
        uow.proposals.decide(proposal.id, ProposalStatus.REJECTED, now)
        message = "proposal withdrawn: the rule was cancelled"
        uow.logs.resolve(_outcome(proposal, OutcomeStatus.SKIPPED, message, decided_by, now), now)
    return len(pending)


def _outcome(
    proposal: Proposal,
    status: OutcomeStatus,
    message: str,
    triggered_by: str,
    now: datetime,
    plan: Plan | None = None,
    order_ids: tuple[str, ...] = (),
) -> LogEntry:
    plan = plan or Plan(trades=proposal.trades, skipped=proposal.skipped)
    return LogEntry(
        automation_type=AUTOMATION_TYPE,
        automation_id=proposal.rule_id,
        client_id=proposal.client_id,
        execution_date=proposal.occurrence,
        status=status.value,
        message=message,
        triggered_by=triggered_by,
        attempt=1,
        started_at=now,
        finished_at=now,
        order_ids=order_ids,
        details=details(proposal.drift_before, plan, proposalId=proposal.id),
    )


class ProposalService:
    def __init__(self, *, uow: UnitOfWorkFactory, broker: Broker, clock: Clock) -> None:
        self._uow = uow
        self._broker = broker
        self._clock = clock

    def search(
        self, *, rule_id: str | None, status: str | None, page: int, page_size: int
    ) -> tuple[list[Proposal], int]:
        expire_overdue(self._uow, self._clock, "api")
        with self._uow() as uow:
            return uow.proposals.search(
                rule_id=rule_id, status=status, offset=(page - 1) * page_size, limit=page_size
            )

    def get(self, proposal_id: str) -> Proposal:
        expire_overdue(self._uow, self._clock, "api")
        with self._uow() as uow:
            proposal = uow.proposals.get(proposal_id)
        if proposal is None:
            raise NotFound("rebalancing proposal", proposal_id)
        return proposal

    def reject(self, proposal_id: str, *, decided_by: str = "api") -> Proposal:
        expire_overdue(self._uow, self._clock, decided_by)
        now = self._clock.now()
        with self._uow() as uow:
            proposal = self._pending(uow, proposal_id)
            uow.proposals.decide(proposal_id, ProposalStatus.REJECTED, now)
            entry = _outcome(proposal, OutcomeStatus.SKIPPED, "proposal rejected", decided_by, now)
            uow.logs.resolve(entry, now)
        log.info("%s Rebalancing proposal %s rejected", PREFIX, proposal_id)
        return self.get(proposal_id)

    def approve(self, proposal_id: str, today: date, *, decided_by: str = "api") -> Proposal:
        """Execute the proposal; re-planned first against current prices and holdings if a
        price moved by more than the rule's drift threshold (in percent) since it was made,
        or if the account changed so that the stored trades no longer fit."""
        expire_overdue(self._uow, self._clock, decided_by)
        now = self._clock.now()
        with self._uow() as uow:
            proposal = self._pending(uow, proposal_id)
            record = uow.rebalancing.get(proposal.rule_id, lock=True)
            assert record is not None
            rule = record.rule
            if rule.status is RebalancingStatus.CANCELLED:
                raise Conflict(f"rebalancing rule {rule.id} is Cancelled")
            log.info("%s Executing rebalancing rule: %s", PREFIX, rule.id)
            cash = uow.accounts.lock_cash([rule.account_id])
            picture = pictures(uow, [rule], cash)[rule.id]
            picture.require_prices()
            plan = Plan(trades=proposal.trades, skipped=proposal.skipped)
            moved = prices_moved(proposal.prices, picture.prices, rule.drift_threshold)
            replanned = moved or not plan_fits(plan, picture, rule.cash_reserve)
            if replanned:
                plan = picture.plan(rule)
            orders, held = orders_for(rule, plan.trades, picture.prices, today)
            ids = tuple(o.order.id for o in orders)
            uow.orders.add_many(orders, now)
            uow.accounts.set_cash({rule.account_id: cash[rule.account_id] - held}, now)
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
            entry = _outcome(proposal, status, message, decided_by, now, plan, ids)
            uow.logs.resolve(entry, now)
        announce("Rebalancing rule", [RuleResult.of(entry)])
        submit_committed(self._broker, [o.order for o in orders])
        return self.get(proposal_id)

    def _pending(self, uow: UnitOfWork, proposal_id: str) -> Proposal:
        proposal = uow.proposals.get(proposal_id, lock=True)
        if proposal is None:
            raise NotFound("rebalancing proposal", proposal_id)
        if proposal.status is not PENDING:
            raise Conflict(f"rebalancing proposal {proposal_id} is {proposal.status.value}")
        return proposal
