"""Executing auto-invest rules on the pass driver (:mod:`autopilot.services.execution.driver`).

A batch claims the due rules (row locks, SKIP LOCKED on PostgreSQL) in (next date, id) order,
locks their accounts' cash, and decides each rule with
:func:`~autopilot.domain.auto_invest.execution.execute_auto_invest`: its buys become market
orders of their notional, its new state (next date, counters, status) is saved, and each
occurrence it dealt with becomes an outcome. The log's unique key on (rule, occurrence) makes a
second execution of an occurrence impossible.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

from autopilot.domain.auto_invest.execution import (
    CatchUpPolicy,
    Outcome,
    advance_past,
    execute_auto_invest,
)
from autopilot.domain.auto_invest.rule import AutoInvestRule, RuleStatus
from autopilot.domain.calendar import TradingCalendar
from autopilot.domain.errors import Conflict, NotFound
from autopilot.domain.money import ZERO
from autopilot.domain.orders import notional_buy
from autopilot.domain.outcomes import AutomationType
from autopilot.services.access import Caller
from autopilot.services.execution.driver import Automation, Batch, Claim, Work
from autopilot.services.execution.results import PREFIX
from autopilot.services.ids import new_id
from autopilot.services.ports import Clock, UnitOfWork
from autopilot.services.records import DueCursor

log = logging.getLogger("autopilot.scheduler")


@dataclass(frozen=True, slots=True, kw_only=True)
class AutoInvestPolicy:
    calendar: TradingCalendar
    catch_up: CatchUpPolicy
    min_order_amount: Decimal


class AutoInvestExecution(Automation[AutoInvestRule]):
    automation_type: ClassVar[AutomationType] = AutomationType.AUTO_INVEST
    subject: ClassVar[str] = "Auto-invest rule"

    def __init__(self, *, policy: AutoInvestPolicy, clock: Clock) -> None:
        self._policy = policy
        self._clock = clock

    def claim(
        self,
        uow: UnitOfWork,
        today: date,
        page: object | None,
        limit: int,
        client_id: int | None = None,
    ) -> Claim[AutoInvestRule]:
        after = page if isinstance(page, DueCursor) else None
        rules = uow.auto_invest.claim_due(today, after, limit, client_id)
        next_page = None
        if len(rules) == limit:
            last = rules[-1]
            assert last.next_execution_date is not None
            next_page = DueCursor(last.next_execution_date, last.id)
        return Claim([_work(r, today) for r in rules], next_page)

    def claim_one(
        self, uow: UnitOfWork, automation_id: str, today: date, *, forced: bool
    ) -> list[Work[AutoInvestRule]]:
        return [
            _work(r, today, forced=forced)
            for r in uow.auto_invest.lock_many([automation_id])
            if r.is_due(today) or (forced and r.status is RuleStatus.ACTIVE)
        ]

    def check_executable(self, uow: UnitOfWork, automation_id: str, caller: Caller) -> None:
        record = uow.auto_invest.get(automation_id)
        if record is None:
            raise NotFound("auto-invest rule", automation_id)
        caller.own(record.rule.client_id, "auto-invest rule", automation_id)
        rule = record.rule
        if rule.status is not RuleStatus.ACTIVE or not rule.is_enabled:
            state = rule.status.value if rule.is_enabled else "disabled"
            raise Conflict(
                f"auto-invest rule {automation_id} is {state}; only Active rules execute"
            )

    def decide(
        self, uow: UnitOfWork, work: Sequence[Work[AutoInvestRule]], today: date, batch: Batch
    ) -> None:
        rules = [w.item for w in work]
        cash = uow.accounts.lock_available(r.account_id for r in rules)
        quotes = uow.market.quotes(a.symbol for r in rules for a in r.allocations)
        saved: list[AutoInvestRule] = []
        for item in work:
            rule = item.item
            batch.executing(item)
            try:
                execution = execute_auto_invest(
                    rule,
                    today=today,
                    calendar=self._policy.calendar,
                    cash=cash.get(rule.account_id, ZERO),
                    quotes=quotes,
                    min_order_amount=self._policy.min_order_amount,
                    catch_up=self._policy.catch_up,
                    force=item.forced,
                )
            except Exception as exc:  # one rule's error never stops the batch
                batch.fail(item, exc)
                continue
            cash[rule.account_id] = execution.cash_after
            saved.append(execution.rule)
            occurrence = batch.occurrence(item)
            for outcome in execution.outcomes:
                orders = [
                    notional_buy(new_id("ORD", today), rule.account_id, buy.symbol, buy.notional)
                    for buy in outcome.buys
                ]
                batch.add(
                    occurrence.on(outcome.occurrence).outcome(
                        outcome.status, outcome.message, orders=orders, details=_details(outcome)
                    )
                )
        uow.auto_invest.save_state(saved, self._clock.now())

    def give_up(self, uow: UnitOfWork, work: Work[AutoInvestRule], today: date) -> None:
        moved = advance_past(work.item, max(today, work.occurrence), self._policy.calendar)
        uow.auto_invest.save_state([moved], self._clock.now())

    def explain_refusal(self, uow: UnitOfWork, work: Work[AutoInvestRule], today: date) -> bool:
        done = uow.logs.last_occurrence(work.automation_id)
        if done is None or done < work.occurrence:
            return False
        # The occurrence already has its outcome (the rule's state was lost or restored): it
        # must not run again, so the rule moves past it.
        repaired = advance_past(work.item, done, self._policy.calendar)
        log.warning(
            "%s Auto-invest rule %s already executed %s; moved to %s",
            PREFIX,
            work.automation_id,
            done,
            repaired.next_execution_date,
            extra={"action": "execution.repaired", "rule_id": work.automation_id},
        )
        uow.auto_invest.save_state([repaired], self._clock.now())
        return True


def _work(rule: AutoInvestRule, today: date, *, forced: bool = False) -> Work[AutoInvestRule]:
    return Work(
        item=rule,
        automation_id=rule.id,
        client_id=rule.client_id,
        occurrence=rule.next_execution_date or today,
        forced=forced,
    )


def _details(outcome: Outcome) -> dict[str, Any]:
    details: dict[str, Any] = {"amount": str(outcome.invested)}
    if outcome.skipped_legs:
        details["skippedLegs"] = [
            {"symbol": s.symbol, "amount": str(s.amount), "reason": s.reason}
            for s in outcome.skipped_legs
        ]
    return details
