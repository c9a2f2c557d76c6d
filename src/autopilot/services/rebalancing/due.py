"""Which rebalancing rules a pass executes, and for which occurrence.

Due: Active and enabled, no proposal waiting, not within ``cooldown_days`` of the last execution,
and either the schedule's ``next_check_date`` has come or the drift exceeds the threshold.
Scheduled checks missed while nothing ran coalesce into one. The occurrence of a scheduled check
is its date, of a drift trigger the market date of the check; the execution log's unique key on
(rule, occurrence) is what keeps an occurrence from being rebalanced twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from autopilot.domain.calendar import TradingCalendar
from autopilot.domain.errors import Conflict
from autopilot.domain.rebalancing.batch import AccountSnapshot, DriftThreshold, drifted_accounts
from autopilot.domain.rebalancing.rule import RebalancingRule, in_cooldown, next_check_after
from autopilot.services.execution.results import PREFIX
from autopilot.services.ports import Clock
from autopilot.services.records import PositionRecord

if TYPE_CHECKING:
    from autopilot.services.ports import UnitOfWork

log = logging.getLogger("autopilot.scheduler")


@dataclass(frozen=True, slots=True)
class DueRule:
    rule: RebalancingRule
    occurrence: date
    trigger: str  # "schedule", "drift" or "manual"
    positions: tuple[PositionRecord, ...] | None = None
    """The account's positions as the drift check read them, its account locked, in this
    transaction (None: not read yet); planning reuses them instead of reading them again."""


def due_now(
    uow: UnitOfWork,
    rules: Sequence[RebalancingRule],
    today: date,
    *,
    calendar: TradingCalendar,
    clock: Clock,
    zone: ZoneInfo,
) -> list[DueRule]:
    """The rules a scheduler pass executes now, at most one per account."""
    # An account with orders still in flight (cash held for buys its sells will pay for) is
    # left until they settle: planning needs settled cash and positions.
    busy = uow.orders.accounts_with_open_orders(r.account_id for r in rules)
    ready = [
        r
        for r in rules
        if r.account_id not in busy
        and not in_cooldown(_last_executed_on(r, zone), r.cooldown_days, today)
    ]
    due = _scheduled(uow, ready, today, calendar=calendar, clock=clock)
    scheduled = {d.rule.id for d in due}
    watched = [r for r in ready if r.trigger_mode.watches_drift and r.id not in scheduled]
    done_today = uow.logs.with_outcome([r.id for r in watched], today)
    watched = [r for r in watched if r.id not in done_today]
    due += [DueRule(r, today, "drift", held) for r, held in drifted(uow, watched)]
    return _one_per_account(due)


def forced_check(uow: UnitOfWork, rule: RebalancingRule, today: date) -> DueRule:
    """A manual execution's occurrence: the scheduled check if one has come, else today.

    Raises :class:`Conflict` if that occurrence already has an outcome.
    """
    occurrence = rule.next_check_date if rule.schedule_due(today) else today
    assert occurrence is not None
    if uow.logs.with_outcome([rule.id], occurrence):
        raise Conflict(f"rebalancing rule {rule.id} already has an outcome for {occurrence}")
    return DueRule(rule, occurrence, "schedule" if rule.schedule_due(today) else "manual")


def drifted(
    uow: UnitOfWork, rules: Sequence[RebalancingRule]
) -> list[tuple[RebalancingRule, tuple[PositionRecord, ...]]]:
    """The rules whose account drifted past the threshold (one set-based check), each with its
    account's positions as the check read them."""
    if not rules:
        return []
    # The accounts first: their lock keeps fills off the positions read after it.
    cash = uow.accounts.lock_available(r.account_id for r in rules)
    positions = uow.accounts.positions_of(r.account_id for r in rules)
    quotes = uow.market.quotes(p.symbol for held in positions.values() for p in held)
    prices = {s: q.price for s, q in quotes.items() if q.price is not None}
    shared: dict[tuple[str, ...], tuple[str, ...]] = {}
    snapshots: list[AccountSnapshot] = []
    for i, rule in enumerate(rules):
        held = positions.get(rule.account_id, [])
        missing = [p.symbol for p in held if p.symbol not in prices]
        if missing:
            log.warning(
                "%s Rebalancing rule %s not checked: no price for %s",
                PREFIX,
                rule.id,
                ", ".join(missing),
                extra={"action": "rebalancing.unpriced", "rule_id": rule.id},
            )
            continue
        symbols = tuple(p.symbol for p in held)
        snapshots.append(
            AccountSnapshot(
                account_id=i,
                cash=cash[rule.account_id],
                symbols=shared.setdefault(symbols, symbols),
                quantities=tuple(p.quantity for p in held),
            )
        )
    over_threshold = drifted_accounts(
        snapshots,
        {i: r.targets for i, r in enumerate(rules)},
        {
            i: DriftThreshold(absolute_pp=r.drift_threshold, relative_pct=r.relative_threshold)
            for i, r in enumerate(rules)
        },
        prices,
    )
    return [(rules[i], tuple(positions.get(rules[i].account_id, ()))) for i in over_threshold]


def _scheduled(
    uow: UnitOfWork,
    rules: Sequence[RebalancingRule],
    today: date,
    *,
    calendar: TradingCalendar,
    clock: Clock,
) -> list[DueRule]:
    due: list[DueRule] = []
    for rule in rules:
        if not rule.schedule_due(today):
            continue
        assert rule.next_check_date is not None
        done = uow.logs.last_occurrence(rule.id)
        if done is not None and done >= rule.next_check_date:
            # Recorded already (the rule's state was lost): move past it, never redo it.
            moved = next_check_after(rule.schedule, calendar, max(done, today))
            uow.rebalancing.save_state([replace(rule, next_check_date=moved)], clock.now())
            continue
        due.append(DueRule(rule, rule.next_check_date, "schedule"))
    return due


def _last_executed_on(rule: RebalancingRule, zone: ZoneInfo) -> date | None:
    at = rule.last_executed_at
    return None if at is None else at.astimezone(zone).date()


def _one_per_account(due: Sequence[DueRule]) -> list[DueRule]:
    """A second rule on an account already rebalanced in this batch waits for the next pass:
    it must plan on the positions the first one's orders leave, not on the ones before."""
    seen: set[int] = set()
    picked = []
    for item in due:
        if item.rule.account_id not in seen:
            seen.add(item.rule.account_id)
            picked.append(item)
    return picked
