"""Managing auto-invest rules: create, update, pause, resume, cancel (with validation)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from autopilot.domain.auto_invest.rule import Allocation, AutoInvestRule, RuleStatus
from autopilot.domain.calendar import TradingCalendar
from autopilot.domain.errors import Conflict, InvalidInput, NotFound
from autopilot.domain.money import HUNDRED
from autopilot.domain.schedule import Frequency, HolidayRule, Schedule, next_occurrence
from autopilot.services import validation
from autopilot.services.access import SYSTEM, Caller, Nobody
from autopilot.services.audit import audit, changes_between, plain
from autopilot.services.changes import KEEP, Keep, given
from autopilot.services.ids import new_id
from autopilot.services.ownership import own_client, visible_account
from autopilot.services.ports import Clock, UnitOfWorkFactory, market_today
from autopilot.services.records import RuleRecord

if TYPE_CHECKING:
    from autopilot.services.ports import UnitOfWork


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSpec:
    """Everything a client chooses about a rule (create, or the full picture after an update)."""

    client_id: int
    account_id: int
    name: str
    amount: Decimal
    allocations: tuple[Allocation, ...]
    frequency: Frequency
    start_date: date
    day_of_week: int | None = None
    day_of_month: int | Literal["last"] | None = None
    holiday_rule: HolidayRule = HolidayRule.FOLLOWING
    end_date: date | None = None
    max_total_amount: Decimal | None = None
    is_enabled: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleChanges:
    """An update of a rule: the fields given; those left at :data:`KEEP` keep their values."""

    name: str | Keep = KEEP
    amount: Decimal | Keep = KEEP
    allocations: tuple[Allocation, ...] | Keep = KEEP
    frequency: Frequency | Keep = KEEP
    start_date: date | Keep = KEEP
    day_of_week: int | Keep | None = KEEP
    day_of_month: int | Literal["last"] | Keep | None = KEEP
    holiday_rule: HolidayRule | Keep = KEEP
    end_date: date | Keep | None = KEEP
    max_total_amount: Decimal | Keep | None = KEEP
    is_enabled: bool | Keep = KEEP

    def applied_to(self, spec: RuleSpec) -> RuleSpec:
        """``spec`` with these changes. A new frequency drops the day its old one ran on
        (a weekly rule's weekday means nothing monthly), unless the update gives one."""
        changes = given(self)
        frequency = changes.get("frequency", spec.frequency)
        assert isinstance(frequency, Frequency)
        if not frequency.takes_day_of_week and "day_of_week" not in changes:
            changes["day_of_week"] = None
        if not frequency.takes_day_of_month and "day_of_month" not in changes:
            changes["day_of_month"] = None
        return replace(spec, **changes)


def spec_of(rule: AutoInvestRule) -> RuleSpec:
    s = rule.schedule
    return RuleSpec(
        client_id=rule.client_id,
        account_id=rule.account_id,
        name=rule.name,
        amount=rule.amount,
        allocations=rule.allocations,
        frequency=s.frequency,
        start_date=s.start_date,
        day_of_week=s.day_of_week,
        day_of_month=s.day_of_month,
        holiday_rule=s.holiday_rule,
        end_date=s.end_date,
        max_total_amount=rule.max_total_amount,
        is_enabled=rule.is_enabled,
    )


class AutoInvestRuleService:
    def __init__(
        self, *, uow: UnitOfWorkFactory, clock: Clock, calendar: TradingCalendar, zone: ZoneInfo
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._calendar = calendar
        self._zone = zone

    def create(self, spec: RuleSpec, *, caller: Caller = SYSTEM) -> RuleRecord:
        today = market_today(self._clock, self._zone)
        with self._uow() as uow:
            self._check_references(uow, spec, caller=caller)
            schedule = _schedule(spec)
            first = next_occurrence(schedule, self._calendar, max(spec.start_date, today) - _DAY)
            rule = AutoInvestRule(
                id=new_id("AUTO", today),
                client_id=spec.client_id,
                account_id=spec.account_id,
                name=spec.name.strip(),
                amount=spec.amount,
                allocations=spec.allocations,
                schedule=schedule,
                next_execution_date=first,
                max_total_amount=spec.max_total_amount,
                status=RuleStatus.ACTIVE if first is not None else RuleStatus.COMPLETED,
                is_enabled=spec.is_enabled,
            )
            now = self._clock.now()
            uow.auto_invest.add(rule, now)
            audit(uow, caller, "auto_invest_rule.create", rule, now, plain(spec))
            record = uow.auto_invest.get(rule.id)
        assert record is not None
        return record

    def get(self, rule_id: str, *, caller: Caller = SYSTEM) -> RuleRecord:
        with self._uow(read_only=True) as uow:
            record = uow.auto_invest.get(rule_id)
        if record is None:
            raise NotFound("auto-invest rule", rule_id)
        caller.own(record.rule.client_id, "auto-invest rule", rule_id)
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
    ) -> tuple[list[RuleRecord], int]:
        scope = caller.scope(client_id)
        if isinstance(scope, Nobody):
            return [], 0
        with self._uow(read_only=True) as uow:
            return uow.auto_invest.search(
                client_id=scope,
                account_id=account_id,
                status=status,
                offset=(page - 1) * page_size,
                limit=page_size,
            )

    def update(self, rule_id: str, changes: RuleChanges, *, caller: Caller = SYSTEM) -> RuleRecord:
        """Change what the client chose, read and written under the rule's row lock (two
        updates at once apply one after the other); a changed schedule restarts from today."""
        with self._uow() as uow:
            rule = self._locked(uow, rule_id, caller)
            if rule.status in (RuleStatus.CANCELLED, RuleStatus.COMPLETED):
                raise Conflict(f"auto-invest rule {rule_id} is {rule.status.value}")
            spec = changes.applied_to(spec_of(rule))
            schedule = _schedule(spec)
            self._check_references(uow, spec, caller=caller)
            updated = replace(
                rule,
                name=spec.name.strip(),
                amount=spec.amount,
                allocations=spec.allocations,
                schedule=schedule,
                max_total_amount=spec.max_total_amount,
                is_enabled=spec.is_enabled,
            )
            if schedule != rule.schedule:
                updated = replace(updated, next_execution_date=self._restart(uow, updated))
            now = self._clock.now()
            uow.auto_invest.replace(updated, now)
            audit(
                uow,
                caller,
                "auto_invest_rule.update",
                updated,
                now,
                changes_between(rule, updated),
            )
        return self.get(rule_id)

    def pause(self, rule_id: str, *, caller: Caller = SYSTEM) -> RuleRecord:
        return self._transition(rule_id, RuleStatus.ACTIVE, RuleStatus.PAUSED, caller, "pause")

    def resume(self, rule_id: str, *, caller: Caller = SYSTEM) -> RuleRecord:
        """Resume a paused rule from today on; occurrences missed while paused do not run."""
        return self._transition(rule_id, RuleStatus.PAUSED, RuleStatus.ACTIVE, caller, "resume")

    def cancel(self, rule_id: str, *, caller: Caller = SYSTEM) -> RuleRecord:
        with self._uow() as uow:
            rule = self._locked(uow, rule_id, caller)
            if rule.status in (RuleStatus.CANCELLED, RuleStatus.COMPLETED):
                raise Conflict(f"auto-invest rule {rule_id} is already {rule.status.value}")
            cancelled = replace(rule, status=RuleStatus.CANCELLED, next_execution_date=None)
            now = self._clock.now()
            uow.auto_invest.replace(cancelled, now)
            audit(
                uow,
                caller,
                "auto_invest_rule.cancel",
                cancelled,
                now,
                changes_between(rule, cancelled),
            )
        return self.get(rule_id)

    def _transition(
        self, rule_id: str, source: RuleStatus, target: RuleStatus, caller: Caller, verb: str
    ) -> RuleRecord:
        with self._uow() as uow:
            rule = self._locked(uow, rule_id, caller)
            if rule.status is not source:
                raise Conflict(
                    f"auto-invest rule {rule_id} is {rule.status.value}, not {source.value}"
                )
            changed = replace(rule, status=target)
            uow.attempts.clear([rule_id])  # a paused or resumed rule starts its attempts anew
            if target is RuleStatus.ACTIVE:
                changed = replace(changed, next_execution_date=self._restart(uow, changed))
            now = self._clock.now()
            uow.auto_invest.replace(changed, now)
            audit(
                uow,
                caller,
                f"auto_invest_rule.{verb}",
                changed,
                now,
                changes_between(rule, changed),
            )
        return self.get(rule_id)

    def _restart(self, uow: UnitOfWork, rule: AutoInvestRule) -> date | None:
        """The first occurrence from today on that has not been executed already."""
        today = market_today(self._clock, self._zone)
        after = max(rule.schedule.start_date, today) - _DAY
        done = uow.logs.last_occurrence(rule.id)
        if done is not None:
            after = max(after, done)
        return next_occurrence(rule.schedule, self._calendar, after)

    def _locked(self, uow: UnitOfWork, rule_id: str, caller: Caller) -> AutoInvestRule:
        record = uow.auto_invest.get(rule_id, lock=True)
        if record is None:
            raise NotFound("auto-invest rule", rule_id)
        caller.own(record.rule.client_id, "auto-invest rule", rule_id)
        return record.rule

    def _check_references(self, uow: UnitOfWork, spec: RuleSpec, *, caller: Caller) -> None:
        own_client(caller, spec.client_id)
        visible_account(uow, caller, spec.account_id)
        _check_amounts(spec)
        if uow.clients.get(spec.client_id) is None:
            raise InvalidInput("client_id", f"client {spec.client_id} does not exist")
        account = uow.accounts.get(spec.account_id)
        if account is None:
            raise InvalidInput("account_id", f"account {spec.account_id} does not exist")
        if account.client_id != spec.client_id:
            raise InvalidInput("account_id", f"account {spec.account_id} belongs to another client")
        symbols = [a.symbol for a in spec.allocations]
        unknown = sorted(set(symbols) - uow.market.known_symbols(symbols))
        if unknown:
            raise InvalidInput(
                "allocations", f"unknown symbol(s) {', '.join(unknown)}; post a price first"
            )


_DAY = timedelta(days=1)


def _schedule(spec: RuleSpec) -> Schedule:
    validation.day("start_date", spec.start_date)
    if spec.end_date is not None:
        validation.day("end_date", spec.end_date)
    if spec.end_date is not None and spec.end_date < spec.start_date:
        raise InvalidInput("end_date", "must not be before the start date")
    # Name the field the client sent rather than the schedule as a whole.
    day = spec.day_of_month
    if day is not None and day != "last" and not _int_in(day, 1, 31):
        raise InvalidInput("day_of_month", f"must be 1 to 31 or 'last', got {day!r}")
    if spec.day_of_week is not None and not _int_in(spec.day_of_week, 0, 6):
        raise InvalidInput("day_of_week", f"must be 0 (Monday) to 6, got {spec.day_of_week!r}")
    frequency = spec.frequency
    if spec.day_of_week is not None and not frequency.takes_day_of_week:
        raise InvalidInput(
            "day_of_week", f"only weekly and biweekly rules take it, not a {frequency.value} rule"
        )
    if day is not None and not frequency.takes_day_of_month:
        raise InvalidInput(
            "day_of_month",
            f"only monthly, quarterly and annually rules take it, not a {frequency.value} rule",
        )
    try:
        return Schedule(
            frequency=spec.frequency,
            start_date=spec.start_date,
            end_date=spec.end_date,
            day_of_week=spec.day_of_week,
            day_of_month=spec.day_of_month,
            holiday_rule=spec.holiday_rule,
        )
    except ValueError as exc:
        raise InvalidInput("schedule", str(exc)) from exc


def _int_in(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_amounts(spec: RuleSpec) -> None:
    if not spec.name.strip():
        raise InvalidInput("name", "must not be empty")
    validation.positive_cents("amount", spec.amount)
    if spec.max_total_amount is not None:
        validation.positive_cents("max_total_amount", spec.max_total_amount)
    if not spec.allocations:
        raise InvalidInput("allocations", "must name at least one symbol")
    seen: set[str] = set()
    for i, allocation in enumerate(spec.allocations):
        validation.security(f"allocations[{i}].symbol", allocation.symbol)
        if allocation.symbol in seen:
            raise InvalidInput(f"allocations[{i}].symbol", f"{allocation.symbol} appears twice")
        seen.add(allocation.symbol)
        if not allocation.weight.is_finite() or allocation.weight <= 0:
            raise InvalidInput(f"allocations[{i}].weight", "must be a positive percentage")
        validation.percent_places(f"allocations[{i}].weight", allocation.weight)
    total = sum((a.weight for a in spec.allocations), Decimal(0))
    if total != HUNDRED:
        raise InvalidInput("allocations", f"weights must sum to 100, got {total}")
