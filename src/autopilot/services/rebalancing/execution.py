"""Executing rebalancing rules on the pass driver (:mod:`autopilot.services.execution.driver`).

A batch claims a page of watched rules (SKIP LOCKED on PostgreSQL), picks the due ones
(:mod:`autopilot.services.rebalancing.due`, the drift checked set-based) and plans each due rule
against its account: the trades become orders (cash held for the buys), or a proposal when
confirmation is required, or nothing. A check that finds nothing to trade is a *no-op*: its log
row stays out of the outcome key, so a drift later the same day still rebalances, and repeated
no-op checks of a day share one row. The log's unique key on (rule, occurrence) allows one
rebalance (orders placed or a proposal stored) per rule and occurrence.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import ClassVar
from zoneinfo import ZoneInfo

from autopilot.domain.calendar import TradingCalendar
from autopilot.domain.errors import Conflict, NotFound
from autopilot.domain.outcomes import AutomationType, OutcomeStatus
from autopilot.domain.rebalancing.plan import Plan, TradePlanner
from autopilot.domain.rebalancing.rule import (
    Proposal,
    ProposalStatus,
    RebalancingRule,
    next_check_after,
)
from autopilot.services.access import Caller
from autopilot.services.execution.driver import Automation, Batch, Claim, Work
from autopilot.services.execution.outcomes import holds
from autopilot.services.execution.results import PREFIX
from autopilot.services.ids import new_id
from autopilot.services.ports import Clock, UnitOfWork, UnitOfWorkFactory
from autopilot.services.rebalancing.accounts import AccountPicture, details, orders_for, pictures
from autopilot.services.rebalancing.due import DueRule, due_now, forced_check
from autopilot.services.rebalancing.proposals import expire_overdue

log = logging.getLogger("autopilot.scheduler")


@dataclass(frozen=True, slots=True, kw_only=True)
class RebalancingPolicy:
    calendar: TradingCalendar
    zone: ZoneInfo
    proposal_ttl: timedelta


class RebalancingExecution(Automation[DueRule]):
    automation_type: ClassVar[AutomationType] = AutomationType.REBALANCING
    subject: ClassVar[str] = "Rebalancing rule"

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, policy: RebalancingPolicy) -> None:
        self._uow = uow
        self._clock = clock
        self._policy = policy

    def before_pass(self, triggered_by: str) -> None:
        expire_overdue(self._uow, self._clock, triggered_by)

    def claim(
        self,
        uow: UnitOfWork,
        today: date,
        page: object | None,
        limit: int,
        client_id: int | None = None,
    ) -> Claim[DueRule]:
        after = page if isinstance(page, str) else None
        watched = uow.rebalancing.claim_watching(after, limit, client_id)
        next_page = watched[-1].id if len(watched) == limit else None
        return Claim([_work(d) for d in self._due(uow, watched, today)], next_page)

    def claim_one(
        self, uow: UnitOfWork, automation_id: str, today: date, *, forced: bool
    ) -> list[Work[DueRule]]:
        record = uow.rebalancing.get(automation_id, lock=True)
        if record is None or not record.rule.watching:
            return []
        if uow.proposals.pending_of([automation_id]):
            return []
        if forced:
            return [_work(forced_check(uow, record.rule, today), forced=True)]
        return [_work(d) for d in self._due(uow, [record.rule], today)]

    def check_executable(self, uow: UnitOfWork, automation_id: str, caller: Caller) -> None:
        record = uow.rebalancing.get(automation_id)
        if record is None:
            raise NotFound("rebalancing rule", automation_id)
        caller.own(record.rule.client_id, "rebalancing rule", automation_id)
        rule = record.rule
        if not rule.watching:
            state = rule.status.value if rule.is_enabled else "disabled"
            raise Conflict(
                f"rebalancing rule {automation_id} is {state}; only Active rules execute"
            )
        if uow.proposals.pending_of([automation_id]):
            raise Conflict(f"rebalancing rule {automation_id} has a proposal awaiting approval")

    def decide(
        self, uow: UnitOfWork, work: Sequence[Work[DueRule]], today: date, batch: Batch
    ) -> None:
        rules = [w.item.rule for w in work]
        cash = uow.accounts.lock_available(r.account_id for r in rules)
        read = {w.item.rule.account_id: w.item.positions for w in work}
        found = pictures(uow, rules, cash, {a: p for a, p in read.items() if p is not None})
        saved: list[RebalancingRule] = []
        proposals: list[Proposal] = []
        planner = TradePlanner()  # accounts of one model portfolio share its preparation
        for item in work:
            batch.executing(item)
            rule = item.item.rule
            picture = replace(found[rule.id], cash=cash[rule.account_id])
            try:
                drift, plan = picture.drift_and_plan(rule, planner)
            except Exception as exc:  # one rule's error never stops the batch
                batch.fail(item, exc)
                continue
            moved = self._moved(item.item, today)
            info = details(drift, plan, trigger=item.item.trigger)
            occurrence = batch.occurrence(item)
            if not plan.trades:
                batch.add(
                    occurrence.outcome(
                        OutcomeStatus.SKIPPED, "nothing to trade", details=info, no_op=True
                    )
                )
            elif rule.require_confirmation:
                proposal = self._proposal(rule, item.occurrence, drift, plan, picture)
                proposals.append(proposal)
                info["proposalId"] = proposal.id
                message = f"proposal {proposal.id} awaits approval"
                batch.add(occurrence.outcome(OutcomeStatus.PENDING_APPROVAL, message, details=info))
            else:
                orders = orders_for(rule, plan.trades, today)
                cash[rule.account_id] -= holds(orders).get(rule.account_id, Decimal(0))
                moved = replace(moved, last_executed_at=self._clock.now())
                message = f"{len(orders)} order(s) placed"
                batch.add(
                    occurrence.outcome(OutcomeStatus.SUCCESS, message, orders=orders, details=info)
                )
            saved.append(moved)
        uow.rebalancing.save_state(saved, self._clock.now())
        uow.proposals.add_many(proposals)

    def give_up(self, uow: UnitOfWork, work: Work[DueRule], today: date) -> None:
        if work.item.trigger == "schedule":
            uow.rebalancing.save_state([self._moved(work.item, today)], self._clock.now())

    def explain_refusal(self, uow: UnitOfWork, work: Work[DueRule], today: date) -> bool:
        if not uow.logs.with_outcome([work.automation_id], work.occurrence):
            return False
        if work.forced:
            raise Conflict(f"rebalancing rule {work.automation_id} was executed concurrently")
        log.warning(
            "%s Rebalancing rule %s already executed %s",
            PREFIX,
            work.automation_id,
            work.occurrence,
            extra={"action": "execution.repaired", "rule_id": work.automation_id},
        )
        return True

    def _due(self, uow: UnitOfWork, rules: Sequence[RebalancingRule], today: date) -> list[DueRule]:
        policy = self._policy
        return due_now(
            uow, rules, today, calendar=policy.calendar, clock=self._clock, zone=policy.zone
        )

    def _moved(self, item: DueRule, today: date) -> RebalancingRule:
        """The rule after this check: a scheduled check moves its schedule to the next date."""
        if item.trigger != "schedule":
            return item.rule
        after = max(item.occurrence, today)
        following = next_check_after(item.rule.schedule, self._policy.calendar, after)
        return replace(item.rule, next_check_date=following)

    def _proposal(
        self,
        rule: RebalancingRule,
        occurrence: date,
        drift: Decimal,
        plan: Plan,
        picture: AccountPicture,
    ) -> Proposal:
        now = self._clock.now()
        return Proposal(
            id=new_id("PROP", occurrence),
            rule_id=rule.id,
            client_id=rule.client_id,
            account_id=rule.account_id,
            occurrence=occurrence,
            status=ProposalStatus.PENDING_APPROVAL,
            trades=plan.trades,
            skipped=plan.skipped,
            drift_before=drift,
            prices=picture.prices,
            created_at=now,
            expires_at=now + self._policy.proposal_ttl,
        )


def _work(due: DueRule, *, forced: bool = False) -> Work[DueRule]:
    return Work(
        item=due,
        automation_id=due.rule.id,
        client_id=due.rule.client_id,
        occurrence=due.occurrence,
        forced=forced,
    )
