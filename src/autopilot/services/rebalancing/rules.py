"""Managing rebalancing rules: create, update, pause, resume, cancel; drift and preview."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from autopilot.domain.calendar import TradingCalendar
from autopilot.domain.errors import Conflict, InvalidInput, NotFound
from autopilot.domain.rebalancing.drift import (
    CASH,
    Drift,
    Target,
    validate_targets,
    validate_threshold,
)
from autopilot.domain.rebalancing.plan import Plan
from autopilot.domain.rebalancing.rule import (
    SCHEDULE_FREQUENCIES,
    RebalancingRule,
    RebalancingStatus,
    TriggerMode,
    next_check_after,
)
from autopilot.domain.schedule import Frequency, Schedule
from autopilot.services import validation
from autopilot.services.access import SYSTEM, Caller, Nobody
from autopilot.services.audit import audit, changes_between, plain
from autopilot.services.changes import KEEP, Keep, given
from autopilot.services.ids import new_id
from autopilot.services.ownership import own_client, visible_account
from autopilot.services.ports import Clock, UnitOfWorkFactory, market_today
from autopilot.services.rebalancing.accounts import AccountPicture, pictures
from autopilot.services.rebalancing.proposals import withdraw_pending
from autopilot.services.records import RebalancingRuleRecord

if TYPE_CHECKING:
    from autopilot.services.ports import UnitOfWork

PERCENT_STEP = Decimal("0.0001")
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class RebalancingSpec:
    """Everything a client chooses about a rebalancing rule."""

    client_id: int
    account_id: int
    name: str
    targets: tuple[Target, ...]
    trigger_mode: TriggerMode
    drift_threshold: Decimal
    relative_threshold: Decimal | None = None
    frequency: Frequency | None = None
    day_of_month: int | Literal["last"] | None = None
    require_confirmation: bool = False
    min_trade_amount: Decimal = Decimal("1.00")
    allow_sells: bool = True
    cash_reserve: Decimal = Decimal("0.00")
    cooldown_days: int = 0
    is_enabled: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class RebalancingChanges:
    """An update of a rule: the fields given; those left at :data:`KEEP` keep their values."""

    name: str | Keep = KEEP
    targets: tuple[Target, ...] | Keep = KEEP
    trigger_mode: TriggerMode | Keep = KEEP
    drift_threshold: Decimal | Keep = KEEP
    relative_threshold: Decimal | Keep | None = KEEP
    frequency: Frequency | Keep | None = KEEP
    day_of_month: int | Literal["last"] | Keep | None = KEEP
    require_confirmation: bool | Keep = KEEP
    min_trade_amount: Decimal | Keep = KEEP
    allow_sells: bool | Keep = KEEP
    cash_reserve: Decimal | Keep = KEEP
    cooldown_days: int | Keep = KEEP
    is_enabled: bool | Keep = KEEP

    def applied_to(self, spec: RebalancingSpec) -> RebalancingSpec:
        return replace(spec, **given(self))


def spec_of(rule: RebalancingRule) -> RebalancingSpec:
    s = rule.schedule
    return RebalancingSpec(
        client_id=rule.client_id,
        account_id=rule.account_id,
        name=rule.name,
        targets=rule.targets,
        trigger_mode=rule.trigger_mode,
        drift_threshold=rule.drift_threshold,
        relative_threshold=rule.relative_threshold,
        frequency=None if s is None else s.frequency,
        day_of_month=None if s is None else s.day_of_month,
        require_confirmation=rule.require_confirmation,
        min_trade_amount=rule.min_trade_amount,
        allow_sells=rule.allow_sells,
        cash_reserve=rule.cash_reserve,
        cooldown_days=rule.cooldown_days,
        is_enabled=rule.is_enabled,
    )


class RebalancingRuleService:
    def __init__(
        self, *, uow: UnitOfWorkFactory, clock: Clock, calendar: TradingCalendar, zone: ZoneInfo
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._calendar = calendar
        self._zone = zone

    def create(self, spec: RebalancingSpec, *, caller: Caller = SYSTEM) -> RebalancingRuleRecord:
        today = market_today(self._clock, self._zone)
        with self._uow() as uow:
            _check_references(uow, spec, caller)
            schedule = _schedule(spec, today)
            rule = RebalancingRule(
                id=new_id("REBAL", today),
                client_id=spec.client_id,
                account_id=spec.account_id,
                name=spec.name.strip(),
                targets=spec.targets,
                trigger_mode=spec.trigger_mode,
                drift_threshold=spec.drift_threshold,
                relative_threshold=spec.relative_threshold,
                schedule=schedule,
                next_check_date=next_check_after(schedule, self._calendar, today - _DAY),
                require_confirmation=spec.require_confirmation,
                min_trade_amount=spec.min_trade_amount,
                allow_sells=spec.allow_sells,
                cash_reserve=spec.cash_reserve,
                cooldown_days=spec.cooldown_days,
                last_executed_at=None,
                status=RebalancingStatus.ACTIVE,
                is_enabled=spec.is_enabled,
            )
            now = self._clock.now()
            uow.rebalancing.add(rule, now)
            audit(uow, caller, "rebalancing_rule.create", rule, now, plain(spec))
        return self.get(rule.id)

    def get(self, rule_id: str, *, caller: Caller = SYSTEM) -> RebalancingRuleRecord:
        with self._uow(read_only=True) as uow:
            record = uow.rebalancing.get(rule_id)
        if record is None:
            raise NotFound("rebalancing rule", rule_id)
        caller.own(record.rule.client_id, "rebalancing rule", rule_id)
        return record

    def search(
        self,
        *,
        client_id: int | None,
        account_id: int | None,
        status: str | None,
        page: int,
        page_size: int,
        caller: Caller = SYSTEM,
    ) -> tuple[list[RebalancingRuleRecord], int]:
        scope = caller.scope(client_id)
        if isinstance(scope, Nobody):
            return [], 0
        with self._uow(read_only=True) as uow:
            return uow.rebalancing.search(
                client_id=scope,
                account_id=account_id,
                status=status,
                offset=(page - 1) * page_size,
                limit=page_size,
            )

    def update(
        self, rule_id: str, changes: RebalancingChanges, *, caller: Caller = SYSTEM
    ) -> RebalancingRuleRecord:
        """Change what the client chose, read and written under the rule's row lock; a changed
        schedule restarts from today."""
        today = market_today(self._clock, self._zone)
        with self._uow() as uow:
            rule = self._locked(uow, rule_id, caller)
            if rule.status is RebalancingStatus.CANCELLED:
                raise Conflict(f"rebalancing rule {rule_id} is Cancelled")
            spec = changes.applied_to(spec_of(rule))
            schedule = _schedule(spec, today)
            _check_references(uow, spec, caller)
            if _same_recurrence(schedule, rule.schedule):
                schedule = rule.schedule
            updated = replace(
                rule,
                name=spec.name.strip(),
                targets=spec.targets,
                trigger_mode=spec.trigger_mode,
                drift_threshold=spec.drift_threshold,
                relative_threshold=spec.relative_threshold,
                schedule=schedule,
                require_confirmation=spec.require_confirmation,
                min_trade_amount=spec.min_trade_amount,
                allow_sells=spec.allow_sells,
                cash_reserve=spec.cash_reserve,
                cooldown_days=spec.cooldown_days,
                is_enabled=spec.is_enabled,
            )
            if schedule != rule.schedule:
                first = next_check_after(schedule, self._calendar, today - _DAY)
                updated = replace(updated, next_check_date=first)
            now = self._clock.now()
            uow.rebalancing.replace(updated, now)
            audit(
                uow,
                caller,
                "rebalancing_rule.update",
                updated,
                now,
                changes_between(rule, updated),
            )
        return self.get(rule_id)

    def pause(self, rule_id: str, *, caller: Caller = SYSTEM) -> RebalancingRuleRecord:
        active, paused = RebalancingStatus.ACTIVE, RebalancingStatus.PAUSED
        return self._transition(rule_id, active, paused, caller, "pause")

    def resume(self, rule_id: str, *, caller: Caller = SYSTEM) -> RebalancingRuleRecord:
        """Resume from today on: scheduled checks missed while paused do not run."""
        paused, active = RebalancingStatus.PAUSED, RebalancingStatus.ACTIVE
        return self._transition(rule_id, paused, active, caller, "resume")

    def cancel(self, rule_id: str, *, caller: Caller = SYSTEM) -> RebalancingRuleRecord:
        with self._uow() as uow:
            rule = self._locked(uow, rule_id, caller)
            if rule.status is RebalancingStatus.CANCELLED:
                raise Conflict(f"rebalancing rule {rule_id} is already Cancelled")
            cancelled = replace(rule, status=RebalancingStatus.CANCELLED, next_check_date=None)
            now = self._clock.now()
            uow.rebalancing.replace(cancelled, now)
            withdraw_pending(uow, rule_id, now, caller.triggered_by)
            audit(
                uow,
                caller,
                "rebalancing_rule.cancel",
                cancelled,
                now,
                changes_between(rule, cancelled),
            )
        return self.get(rule_id)

    def drift(self, rule_id: str, *, caller: Caller = SYSTEM) -> Drift:
        """The account's drift from the rule's targets, at the latest prices."""
        rule, picture = self._picture(rule_id, caller)
        return picture.drift(rule)

    def preview(self, rule_id: str, *, caller: Caller = SYSTEM) -> Plan:
        """The trades the rule would place now, and the ones it would skip."""
        rule, picture = self._picture(rule_id, caller)
        return picture.plan(rule)

    def _picture(self, rule_id: str, caller: Caller) -> tuple[RebalancingRule, AccountPicture]:
        with self._uow() as uow:
            record = uow.rebalancing.get(rule_id)
            if record is None:
                raise NotFound("rebalancing rule", rule_id)
            caller.own(record.rule.client_id, "rebalancing rule", rule_id)
            rule = record.rule
            account = uow.accounts.get(rule.account_id)
            assert account is not None
            if account.available < 0:
                # A rebalance's buys hold cash before its sells pay for them: a moment's state.
                raise Conflict(
                    f"account {account.id} has orders in flight (available cash"
                    f" {account.available}); its drift is measured once they settle"
                )
            found = pictures(uow, [rule], {rule.account_id: account.available})
        return rule, found[rule.id]

    def _transition(
        self,
        rule_id: str,
        source: RebalancingStatus,
        target: RebalancingStatus,
        caller: Caller,
        verb: str,
    ) -> RebalancingRuleRecord:
        today = market_today(self._clock, self._zone)
        with self._uow() as uow:
            rule = self._locked(uow, rule_id, caller)
            if rule.status is not source:
                raise Conflict(
                    f"rebalancing rule {rule_id} is {rule.status.value}, not {source.value}"
                )
            changed = replace(rule, status=target)
            if target is RebalancingStatus.ACTIVE:
                after = today - _DAY
                done = uow.logs.last_occurrence(rule.id)
                if done is not None:
                    after = max(after, done)
                changed = replace(
                    changed, next_check_date=next_check_after(rule.schedule, self._calendar, after)
                )
            now = self._clock.now()
            uow.rebalancing.replace(changed, now)
            audit(
                uow,
                caller,
                f"rebalancing_rule.{verb}",
                changed,
                now,
                changes_between(rule, changed),
            )
        return self.get(rule_id)

    def _locked(self, uow: UnitOfWork, rule_id: str, caller: Caller) -> RebalancingRule:
        record = uow.rebalancing.get(rule_id, lock=True)
        if record is None:
            raise NotFound("rebalancing rule", rule_id)
        caller.own(record.rule.client_id, "rebalancing rule", rule_id)
        return record.rule


def _same_recurrence(new: Schedule | None, old: Schedule | None) -> bool:
    if new is None or old is None:
        return new is old
    return (new.frequency, new.day_of_month) == (old.frequency, old.day_of_month)


def _schedule(spec: RebalancingSpec, today: date) -> Schedule | None:
    """The rule's schedule (its calendar starts today), checking the fields it needs."""
    if not spec.trigger_mode.follows_schedule:
        return None
    if spec.frequency is None:
        raise InvalidInput("frequency", f"trigger mode {spec.trigger_mode.value} needs one")
    if spec.frequency not in SCHEDULE_FREQUENCIES:
        allowed = ", ".join(f.value for f in SCHEDULE_FREQUENCIES)
        raise InvalidInput("frequency", f"must be one of {allowed}, got {spec.frequency.value}")
    day = spec.day_of_month
    if day is not None and day != "last" and not (isinstance(day, int) and 1 <= day <= 31):
        raise InvalidInput("day_of_month", f"must be 1 to 31 or 'last', got {day!r}")
    return Schedule(frequency=spec.frequency, start_date=today, day_of_month=day)


def _check_fields(spec: RebalancingSpec) -> None:
    if not spec.name.strip():
        raise InvalidInput("name", "must not be empty")
    for i, target in enumerate(spec.targets):
        validation.symbol(f"targets[{i}].symbol", target.symbol)
        validation.percent_places(f"targets[{i}].weight", target.weight)
    validate_targets(spec.targets, "targets")
    validate_threshold(spec.drift_threshold, "drift_threshold")
    validation.percent_places("drift_threshold", spec.drift_threshold)
    if spec.relative_threshold is not None:
        validate_threshold(spec.relative_threshold, "relative_threshold")
        validation.percent_places("relative_threshold", spec.relative_threshold)
    _cents_at_least_zero("min_trade_amount", spec.min_trade_amount)
    _cents_at_least_zero("cash_reserve", spec.cash_reserve)
    if spec.cooldown_days < 0:
        raise InvalidInput("cooldown_days", f"must not be negative, got {spec.cooldown_days}")


def _cents_at_least_zero(field: str, value: Decimal) -> None:
    if value == 0:
        return
    validation.positive_cents(field, value)


def _check_references(uow: UnitOfWork, spec: RebalancingSpec, caller: Caller) -> None:
    own_client(caller, spec.client_id)
    visible_account(uow, caller, spec.account_id)
    _check_fields(spec)
    if uow.clients.get(spec.client_id) is None:
        raise InvalidInput("client_id", f"client {spec.client_id} does not exist")
    account = uow.accounts.get(spec.account_id)
    if account is None:
        raise InvalidInput("account_id", f"account {spec.account_id} does not exist")
    if account.client_id != spec.client_id:
        raise InvalidInput("account_id", f"account {spec.account_id} belongs to another client")
    symbols = [t.symbol for t in spec.targets if t.symbol != CASH]
    unknown = sorted(set(symbols) - uow.market.known_symbols(symbols))
    if unknown:
        raise InvalidInput("targets", f"unknown symbol(s) {', '.join(unknown)}; post a price first")
