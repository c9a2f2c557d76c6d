"""Executing auto-invest rules: a scheduler pass in batches, or one rule on demand.

Each batch is one transaction: the due rules are claimed (row locks, SKIP LOCKED on PostgreSQL),
their accounts locked, and then the orders, the accounts' cash, the rules' new state and the log
rows are written together. The log's unique key on (rule, occurrence) makes a second execution
of an occurrence impossible. Orders are submitted to the broker after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError

from autopilot.domain.auto_invest.execution import (
    CatchUpPolicy,
    Execution,
    Outcome,
    advance_past,
    execute_auto_invest,
    give_up,
)
from autopilot.domain.auto_invest.rule import AutoInvestRule, RuleStatus
from autopilot.domain.calendar import TradingCalendar
from autopilot.domain.errors import Conflict, NotFound
from autopilot.domain.orders import notional_buy
from autopilot.domain.outcomes import OutcomeStatus
from autopilot.domain.quotes import Quote
from autopilot.services.execution.results import (
    PREFIX,
    PassResult,
    RuleResult,
    announce,
    failure_reason,
)
from autopilot.services.ids import new_id
from autopilot.services.ports import Broker, Clock, UnitOfWorkFactory
from autopilot.services.records import DueCursor, LogEntry, NewOrder
from autopilot.services.submission import submit_committed

log = logging.getLogger("autopilot.scheduler")
AUTOMATION_TYPE = "AutoInvest"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionPolicy:
    calendar: TradingCalendar
    catch_up: CatchUpPolicy
    min_order_amount: Decimal
    max_attempts: int
    batch_size: int


@dataclass(slots=True)
class _BatchWrites:
    orders: list[NewOrder] = field(default_factory=list)
    rules: list[AutoInvestRule] = field(default_factory=list)
    logs: list[LogEntry] = field(default_factory=list)
    results: list[RuleResult] = field(default_factory=list)


class AutoInvestExecutor:
    def __init__(
        self, *, uow: UnitOfWorkFactory, broker: Broker, clock: Clock, policy: ExecutionPolicy
    ) -> None:
        self._uow = uow
        self._broker = broker
        self._clock = clock
        self._policy = policy

    def run_due(
        self,
        today: date,
        *,
        triggered_by: str,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> PassResult:
        """Execute every due rule, one batch transaction at a time, until none is left.

        `should_stop` is asked between batches: a stopping scheduler commits the batch in hand
        and leaves the rest for the next pass.
        """
        log.info("%s Processing auto-invest rules...", PREFIX)
        outcome = PassResult()
        cursor: DueCursor | None = None
        size = self._policy.batch_size
        while True:
            claimed: list[AutoInvestRule] = []

            def claim(
                uow: UnitOfWork,
                after: DueCursor | None = cursor,
                into: list[AutoInvestRule] = claimed,
            ) -> list[AutoInvestRule]:
                into.extend(uow.auto_invest.claim_due(today, after, size))
                return into

            try:
                outcome.add(self._execute(claim, today, triggered_by, force=False))
            except DBAPIError as exc:
                # A lost connection fails the pass (the loop retries it); an error the
                # database raised for some row is narrowed down to its rule, one by one.
                if not claimed or exc.connection_invalidated:
                    raise
                log.warning(
                    "%s batch of %d rules rolled back (%s); retrying one by one",
                    PREFIX,
                    len(claimed),
                    failure_reason(exc),
                )
                for rule in claimed:
                    outcome.add(self._run_single(rule.id, today, triggered_by))
            if len(claimed) < size or should_stop():
                break
            last = claimed[-1]
            assert last.next_execution_date is not None
            cursor = DueCursor(last.next_execution_date, last.id)
        return outcome

    def run_one(self, rule_id: str, today: date, *, triggered_by: str) -> PassResult:
        """Manual execution: the rule's next occurrence now, whether due or not."""
        with self._uow() as uow:
            record = uow.auto_invest.get(rule_id)
        if record is None:
            raise NotFound("auto-invest rule", rule_id)
        rule = record.rule
        if rule.status is not RuleStatus.ACTIVE or not rule.is_enabled:
            state = rule.status.value if rule.is_enabled else "disabled"
            raise Conflict(f"auto-invest rule {rule_id} is {state}; only Active rules execute")
        result = PassResult()
        result.add(self._run_single(rule_id, today, triggered_by, force=True))
        return result

    def _run_single(
        self, rule_id: str, today: date, triggered_by: str, *, force: bool = False
    ) -> list[RuleResult]:
        def claim(uow: UnitOfWork) -> list[AutoInvestRule]:
            # Re-checked under the lock: another worker may have executed it meanwhile.
            rules = uow.auto_invest.lock_many([rule_id])
            return [
                r for r in rules if r.is_due(today) or (force and r.status is RuleStatus.ACTIVE)
            ]

        try:
            return self._execute(claim, today, triggered_by, force=force)
        except DBAPIError as exc:
            # The database refused this rule's writes (a constraint, a trigger, a value out of
            # range, a lock timeout): a failed attempt of this rule, not of the pass. A lost
            # connection is the pass's failure; so is one that recording the attempt hits.
            if exc.connection_invalidated:
                raise
            return self._record_failure(rule_id, today, triggered_by, exc)

    def _execute(
        self,
        claim: Callable[[UnitOfWork], list[AutoInvestRule]],
        today: date,
        triggered_by: str,
        *,
        force: bool,
    ) -> list[RuleResult]:
        started = self._clock.now()
        writes = _BatchWrites()
        with self._uow() as uow:
            rules = claim(uow)
            if not rules:
                return []
            cash = uow.accounts.lock_cash(r.account_id for r in rules)
            quotes = uow.market.quotes(a.symbol for r in rules for a in r.allocations)
            opening = dict(cash)
            for rule in rules:
                log.info("%s Executing auto-invest rule: %s", PREFIX, rule.id)
                self._plan_rule(rule, today, cash, quotes, writes, force, triggered_by, started)
            now = self._clock.now()
            uow.orders.add_many(writes.orders, now)
            uow.accounts.set_cash({a: c for a, c in cash.items() if c != opening[a]}, now)
            uow.auto_invest.save_state(writes.rules, now)
            uow.logs.add_many(writes.logs, now)
        announce("Auto-invest rule", writes.results)
        submit_committed(self._broker, [n.order for n in writes.orders])
        return writes.results

    def _plan_rule(
        self,
        rule: AutoInvestRule,
        today: date,
        cash: dict[int, Decimal],
        quotes: dict[str, Quote],
        writes: _BatchWrites,
        force: bool,
        triggered_by: str,
        started: datetime,
    ) -> None:
        try:
            execution = execute_auto_invest(
                rule,
                today=today,
                calendar=self._policy.calendar,
                cash=cash.get(rule.account_id, Decimal("0.00")),
                quotes=quotes,
                min_order_amount=self._policy.min_order_amount,
                catch_up=self._policy.catch_up,
                force=force,
            )
        except Exception as exc:  # one rule's error never stops the batch
            self._plan_failure(rule, today, exc, writes, triggered_by, started)
            return
        cash[rule.account_id] = execution.cash_after
        self._collect(rule, execution, today, writes, triggered_by, started)

    def _collect(
        self,
        rule: AutoInvestRule,
        execution: Execution,
        today: date,
        writes: _BatchWrites,
        triggered_by: str,
        started: datetime,
    ) -> None:
        writes.rules.append(execution.rule)
        for outcome in execution.outcomes:
            order_ids = []
            for buy in outcome.buys:
                order = notional_buy(
                    new_id("ORD", today), rule.account_id, buy.symbol, buy.notional
                )
                writes.orders.append(
                    NewOrder(
                        order=order,
                        client_id=rule.client_id,
                        automation_type=AUTOMATION_TYPE,
                        automation_id=rule.id,
                    )
                )
                order_ids.append(order.id)
            entry = _entry(rule, outcome, tuple(order_ids), triggered_by, started)
            writes.logs.append(entry)
            writes.results.append(RuleResult.of(entry))

    def _plan_failure(
        self,
        rule: AutoInvestRule,
        today: date,
        exc: BaseException,
        writes: _BatchWrites,
        triggered_by: str,
        started: datetime,
    ) -> None:
        attempts = rule.failed_attempts + 1
        failed = replace(rule, failed_attempts=attempts)
        occurrence = rule.next_execution_date or today
        entry = LogEntry(
            automation_type=AUTOMATION_TYPE,
            automation_id=rule.id,
            client_id=rule.client_id,
            execution_date=occurrence,
            status=OutcomeStatus.FAILED.value,
            message=f"attempt {attempts} of {self._policy.max_attempts} failed",
            error=failure_reason(exc),
            triggered_by=triggered_by,
            attempt=attempts,
            started_at=started,
        )
        writes.logs.append(entry)
        writes.results.append(RuleResult.of(entry))
        if attempts < self._policy.max_attempts:
            writes.rules.append(failed)
            return
        moved, skipped = give_up(failed, today, self._policy.calendar, failure_reason(exc))
        writes.rules.append(moved)
        gave_up = _entry(rule, skipped, (), triggered_by, started)  # the last attempt's outcome
        writes.logs.append(gave_up)
        writes.results.append(RuleResult.of(gave_up))

    def _record_failure(
        self, rule_id: str, today: date, triggered_by: str, exc: BaseException
    ) -> list[RuleResult]:
        """A rule whose writes the database refused: count the attempt in its own transaction."""
        started = self._clock.now()
        writes = _BatchWrites()
        with self._uow() as uow:
            record = uow.auto_invest.get(rule_id, lock=True)
            if record is None:
                return []
            rule = record.rule
            done = uow.logs.last_occurrence(rule_id)
            due = rule.next_execution_date
            if done is not None and due is not None and done >= due:
                # The occurrence already has its outcome (the rule's state was lost or
                # restored): it must not run again, so the rule moves past it.
                repaired = advance_past(rule, done, self._policy.calendar)
                log.warning(
                    "%s Auto-invest rule %s already executed %s; moved to %s",
                    PREFIX,
                    rule_id,
                    done,
                    repaired.next_execution_date,
                )
                uow.auto_invest.save_state([repaired], self._clock.now())
                return []
            self._plan_failure(rule, today, exc, writes, triggered_by, started)
            now = self._clock.now()
            uow.auto_invest.save_state(writes.rules, now)
            uow.logs.add_many(writes.logs, now)
        announce("Auto-invest rule", writes.results)
        return writes.results


def _entry(
    rule: AutoInvestRule,
    outcome: Outcome,
    order_ids: tuple[str, ...],
    triggered_by: str,
    started: datetime,
) -> LogEntry:
    details: dict[str, Any] = {"amount": str(outcome.invested)}
    if outcome.skipped_legs:
        details["skippedLegs"] = [
            {"symbol": s.symbol, "amount": str(s.amount), "reason": s.reason}
            for s in outcome.skipped_legs
        ]
    return LogEntry(
        automation_type=AUTOMATION_TYPE,
        automation_id=rule.id,
        client_id=rule.client_id,
        execution_date=outcome.occurrence,
        status=outcome.status.value,
        message=outcome.message,
        triggered_by=triggered_by,
        attempt=rule.failed_attempts + 1,
        started_at=started,
        order_ids=order_ids,
        details=details,
    )


if TYPE_CHECKING:
    from autopilot.services.ports import UnitOfWork
