"""Executing rebalancing rules: a scheduler pass in batches, or one rule on demand.

A batch is one transaction: the watched rules are claimed (SKIP LOCKED on PostgreSQL), the due
ones picked (:mod:`autopilot.services.rebalancing.due`, the drift checked set-based), and for
each due rule the orders, the account's held cash, the rule's new state, a proposal when
confirmation is required, and the log row are written together. The log's unique key on
(rule, occurrence) makes a second rebalance of an occurrence impossible. Orders go to the broker
after the commit. A rule whose planning fails is logged ``Failed`` and checked again on the next
pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError

from autopilot.domain.calendar import TradingCalendar
from autopilot.domain.errors import Conflict, NotFound
from autopilot.domain.outcomes import OutcomeStatus
from autopilot.domain.rebalancing.plan import Plan
from autopilot.domain.rebalancing.rule import (
    Proposal,
    ProposalStatus,
    RebalancingRule,
    next_check_after,
)
from autopilot.services.execution.results import (
    PREFIX,
    PassResult,
    RuleResult,
    announce,
    failure_reason,
)
from autopilot.services.ids import new_id
from autopilot.services.ports import Broker, Clock, UnitOfWorkFactory
from autopilot.services.rebalancing.accounts import (
    AUTOMATION_TYPE,
    AccountPicture,
    details,
    orders_for,
    pictures,
)
from autopilot.services.rebalancing.due import DueRule, due_now, forced
from autopilot.services.rebalancing.proposals import expire_overdue
from autopilot.services.records import LogEntry, NewOrder
from autopilot.services.submission import submit_committed

if TYPE_CHECKING:
    from autopilot.services.ports import UnitOfWork

log = logging.getLogger("autopilot.scheduler")


@dataclass(slots=True)
class _Writes:
    orders: list[NewOrder] = field(default_factory=list)
    rules: list[RebalancingRule] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)
    logs: list[LogEntry] = field(default_factory=list)
    results: list[RuleResult] = field(default_factory=list)
    failures: list[tuple[DueRule, str]] = field(default_factory=list)


class RebalancingExecutor:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        broker: Broker,
        clock: Clock,
        calendar: TradingCalendar,
        zone: ZoneInfo,
        batch_size: int,
        proposal_ttl: timedelta,
        max_attempts: int = 3,
    ) -> None:
        self._uow = uow
        self._broker = broker
        self._clock = clock
        self._calendar = calendar
        self._zone = zone
        self._size = batch_size
        self._ttl = proposal_ttl
        self._max_attempts = max_attempts

    def run_due(
        self, today: date, *, triggered_by: str, should_stop: Callable[[], bool] = lambda: False
    ) -> PassResult:
        """Expire overdue proposals, then execute every due rule, one batch at a time."""
        log.info("%s Processing rebalancing rules...", PREFIX)
        expire_overdue(self._uow, self._clock, triggered_by)
        result = PassResult()
        after: str | None = None
        while True:
            claimed: list[RebalancingRule] = []
            try:
                result.add(self._batch(after, today, triggered_by, claimed))
            except DBAPIError as exc:
                if not claimed or exc.connection_invalidated:
                    raise
                log.warning(
                    "%s batch of %d rebalancing rules rolled back (%s); retrying one by one",
                    PREFIX,
                    len(claimed),
                    failure_reason(exc),
                )
                for rule in claimed:
                    result.add(self._run_single(rule.id, today, triggered_by, force=False))
            if len(claimed) < self._size or should_stop():
                return result
            after = claimed[-1].id

    def run_one(self, rule_id: str, today: date, *, triggered_by: str) -> PassResult:
        """Manual execution: rebalance now, whether drifted or scheduled or not (cooldown too)."""
        with self._uow() as uow:
            record = uow.rebalancing.get(rule_id)
            if record is None:
                raise NotFound("rebalancing rule", rule_id)
            waiting = uow.proposals.pending_of([rule_id])
        rule = record.rule
        if not rule.watching:
            state = rule.status.value if rule.is_enabled else "disabled"
            raise Conflict(f"rebalancing rule {rule_id} is {state}; only Active rules execute")
        if waiting:
            raise Conflict(f"rebalancing rule {rule_id} has a proposal awaiting approval")
        result = PassResult()
        result.add(self._run_single(rule_id, today, triggered_by, force=True))
        return result

    def _batch(
        self, after: str | None, today: date, triggered_by: str, claimed: list[RebalancingRule]
    ) -> list[RuleResult]:
        started = self._clock.now()
        writes = _Writes()
        with self._uow() as uow:
            claimed.extend(uow.rebalancing.claim_watching(after, self._size))
            due = self._due(uow, claimed, today, force=False)
            self._execute(uow, due, today, triggered_by, started, writes)
        self._finish(writes)
        return writes.results

    def _run_single(
        self, rule_id: str, today: date, triggered_by: str, *, force: bool
    ) -> list[RuleResult]:
        started = self._clock.now()
        writes = _Writes()
        try:
            with self._uow() as uow:
                record = uow.rebalancing.get(rule_id, lock=True)
                rules = [record.rule] if record and record.rule.watching else []
                if uow.proposals.pending_of([rule_id]):
                    rules = []
                due = self._due(uow, rules, today, force=force)
                self._execute(uow, due, today, triggered_by, started, writes)
        except DBAPIError as exc:
            # Refused for this rule alone (a constraint, a trigger, a value out of range, a lock
            # timeout): a failed attempt — unless another worker recorded the occurrence
            # meanwhile. A lost connection, or one that recording the attempt hits, is the
            # pass's failure.
            if exc.connection_invalidated:
                raise
            return self._record_failure(rule_id, today, triggered_by, exc, force=force)
        self._finish(writes)
        return writes.results

    def _record_failure(
        self, rule_id: str, today: date, triggered_by: str, exc: DBAPIError, *, force: bool
    ) -> list[RuleResult]:
        """Count the failed attempt in a transaction of its own, as a planning failure is."""
        started = self._clock.now()
        writes = _Writes()
        with self._uow() as uow:
            record = uow.rebalancing.get(rule_id, lock=True)
            if record is None or not record.rule.watching:
                return []
            due = self._due(uow, [record.rule], today, force=force)
            done = {d.occurrence for d in due if uow.logs.with_outcome([rule_id], d.occurrence)}
            if done:
                if force:
                    raise Conflict(f"rebalancing rule {rule_id} was executed concurrently")
                log.warning("%s Rebalancing rule %s already executed %s", PREFIX, rule_id, done)
            writes.failures += [(d, failure_reason(exc)) for d in due if d.occurrence not in done]
            self._count_failures(uow, writes, today, triggered_by, started)
            now = self._clock.now()
            uow.rebalancing.save_state(writes.rules, now)
            uow.logs.add_many(writes.logs, now)
        announce("Rebalancing rule", writes.results)
        return writes.results

    def _due(
        self, uow: UnitOfWork, rules: Sequence[RebalancingRule], today: date, *, force: bool
    ) -> list[DueRule]:
        if force:
            return [forced(uow, r, today) for r in rules]
        return due_now(
            uow, rules, today, calendar=self._calendar, clock=self._clock, zone=self._zone
        )

    def _execute(
        self,
        uow: UnitOfWork,
        due: Sequence[DueRule],
        today: date,
        triggered_by: str,
        started: datetime,
        writes: _Writes,
    ) -> None:
        if not due:
            return
        rules = [d.rule for d in due]
        cash = uow.accounts.lock_cash(r.account_id for r in rules)
        opening = dict(cash)
        found = pictures(uow, rules, cash)
        for item in due:
            log.info("%s Executing rebalancing rule: %s", PREFIX, item.rule.id)
            seen = found[item.rule.id]
            picture = replace(seen, cash=cash[item.rule.account_id])
            self._rebalance(item, picture, cash, today, triggered_by, started, writes)
        self._count_failures(uow, writes, today, triggered_by, started)
        now = self._clock.now()
        uow.orders.add_many(writes.orders, now)
        uow.accounts.set_cash({a: c for a, c in cash.items() if c != opening[a]}, now)
        uow.rebalancing.save_state(writes.rules, now)
        uow.proposals.add_many(writes.proposals)
        uow.logs.add_many(writes.logs, now)

    def _rebalance(
        self,
        item: DueRule,
        picture: AccountPicture,
        cash: dict[int, Decimal],
        today: date,
        triggered_by: str,
        started: datetime,
        writes: _Writes,
    ) -> None:
        rule = item.rule
        entry = _Entry(rule, item.occurrence, triggered_by, started)
        try:
            drift = picture.drift(rule)
            plan = picture.plan(rule)
        except Exception as exc:  # one rule's error never stops the batch
            writes.failures.append((item, failure_reason(exc)))
            return
        moved = rule
        if item.trigger == "schedule":
            after = max(item.occurrence, today)
            moved = replace(
                rule, next_check_date=next_check_after(rule.schedule, self._calendar, after)
            )
        info = details(drift.drift, plan, trigger=item.trigger)
        if not plan.trades:
            done = entry.make(OutcomeStatus.SKIPPED, "nothing to trade", info)
        elif rule.require_confirmation:
            proposal = self._proposal(rule, item.occurrence, drift.drift, plan, picture)
            writes.proposals.append(proposal)
            info["proposalId"] = proposal.id
            done = entry.make(
                OutcomeStatus.PENDING_APPROVAL, f"proposal {proposal.id} awaits approval", info
            )
        else:
            orders, held = orders_for(rule, plan.trades, picture.prices, today)
            writes.orders += orders
            cash[rule.account_id] -= held
            moved = replace(moved, last_executed_at=self._clock.now())
            ids = tuple(o.order.id for o in orders)
            done = entry.make(OutcomeStatus.SUCCESS, f"{len(ids)} order(s) placed", info, ids)
        writes.rules.append(moved)
        writes.logs.append(done)
        writes.results.append(RuleResult.of(done))

    def _count_failures(
        self,
        uow: UnitOfWork,
        writes: _Writes,
        today: date,
        triggered_by: str,
        started: datetime,
    ) -> None:
        """Log each failed attempt; after AUTOMATION_MAX_ATTEMPTS at one occurrence, give it up
        as Skipped and move on (a scheduled check to its next date), as auto-invest does."""
        for item, reason in writes.failures:
            entry = _Entry(item.rule, item.occurrence, triggered_by, started)
            attempt = uow.logs.failed_attempts(item.rule.id, item.occurrence) + 1
            message = f"attempt {attempt} of {self._max_attempts} failed"
            outcomes = [entry.make(OutcomeStatus.FAILED, message, error=reason, attempt=attempt)]
            if attempt >= self._max_attempts:
                gave_up = f"gave up after {attempt} failed attempt(s): {reason}"
                outcomes.append(entry.make(OutcomeStatus.SKIPPED, gave_up, attempt=attempt))
                if item.trigger == "schedule":
                    after = max(item.occurrence, today)
                    following = next_check_after(item.rule.schedule, self._calendar, after)
                    writes.rules.append(replace(item.rule, next_check_date=following))
            writes.logs += outcomes
            writes.results += [RuleResult.of(o) for o in outcomes]

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
            expires_at=now + self._ttl,
        )

    def _finish(self, writes: _Writes) -> None:
        announce("Rebalancing rule", writes.results)
        submit_committed(self._broker, [n.order for n in writes.orders])


@dataclass(frozen=True, slots=True)
class _Entry:
    rule: RebalancingRule
    occurrence: date
    triggered_by: str
    started: datetime

    def make(
        self,
        status: OutcomeStatus,
        message: str,
        info: dict[str, object] | None = None,
        order_ids: tuple[str, ...] = (),
        *,
        error: str | None = None,
        attempt: int = 1,
    ) -> LogEntry:
        return LogEntry(
            automation_type=AUTOMATION_TYPE,
            automation_id=self.rule.id,
            client_id=self.rule.client_id,
            execution_date=self.occurrence,
            status=status.value,
            message=message,
            triggered_by=self.triggered_by,
            attempt=attempt,
            started_at=self.started,
            order_ids=order_ids,
            error=error,
            details=info,
        )
