"""Trigger order management: create (one, or a bracket), list, get, update, pause, resume, cancel.

Every check runs before anything is written, and each failure names the API field. Created,
edited, paused, resumed and cancelled triggers are handed to the evaluator after the commit, so
this process's index stays in step with the database. Pause, resume and cancel act on the whole
OCO group, as firing does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from autopilot.domain.errors import Conflict, InvalidInput, NotFound
from autopilot.domain.orders import Side
from autopilot.domain.triggers.conditions import (
    OPEN_STATUSES,
    TrailingStop,
    Trigger,
    TriggerStatus,
    resume,
)
from autopilot.domain.triggers.order import OrderTemplate, validate_template
from autopilot.domain.triggers.specs import (
    ConditionSpec,
    TriggerChange,
    changed_condition,
    check_change_fields,
    condition_of,
)
from autopilot.domain.triggers.validation import (
    validate_condition,
    validate_not_met_at,
    validate_oco_group,
)
from autopilot.services import validation
from autopilot.services.access import SYSTEM, Caller, Nobody
from autopilot.services.audit import audit, changes_between, plain
from autopilot.services.ids import new_id
from autopilot.services.ownership import own_client, visible_account
from autopilot.services.ports import Clock, UnitOfWorkFactory, market_today
from autopilot.services.records import TriggerOrderRecord
from autopilot.services.triggers.evaluation import TriggerEvaluator, tick_price

if TYPE_CHECKING:
    from autopilot.services.ports import UnitOfWork

# The request shapes live in the domain (pure); callers take them from here with the service.
__all__ = ["ConditionSpec", "TriggerChange", "TriggerOrderService", "TriggerSpec"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerSpec:
    client_id: int
    account_id: int
    symbol: str
    condition: ConditionSpec
    order: OrderTemplate
    oco_group: str | None = None
    expires_at: datetime | None = None


class TriggerOrderService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        zone: ZoneInfo,
        evaluator: TriggerEvaluator,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._zone = zone
        self._evaluator = evaluator

    def create(
        self, specs: Sequence[TriggerSpec], *, caller: Caller = SYSTEM
    ) -> list[TriggerOrderRecord]:
        """Create one trigger, or several at once (a bracket shares an ``ocoGroup``)."""
        if not specs:
            raise InvalidInput("body", "give at least one trigger order")
        now = self._clock.now()
        with self._uow() as uow:
            records = [
                self._new(uow, spec, now, i, len(specs), caller) for i, spec in enumerate(specs)
            ]
            self._check_groups(uow, records)
            uow.triggers.add_many(records)
            for record in records:
                audit(
                    uow,
                    caller,
                    "trigger_order.create",
                    record,
                    now,
                    plain(record.trigger),
                )
        self._evaluator.refresh([r.trigger.id for r in records])
        return records

    def get(self, trigger_id: str, *, caller: Caller = SYSTEM) -> TriggerOrderRecord:
        with self._uow(read_only=True) as uow:
            record = uow.triggers.get(trigger_id)
        if record is None:
            raise NotFound("trigger order", trigger_id)
        caller.own(record.client_id, "trigger order", trigger_id)
        return self._with_live_mark(record)

    def search(
        self,
        *,
        client_id: int | None = None,
        account_id: int | None = None,
        symbol: str | None = None,
        status: str | None = None,
        page: int = 1,
        page_size: int = 50,
        caller: Caller = SYSTEM,
    ) -> tuple[list[TriggerOrderRecord], int]:
        scope = caller.scope(client_id)
        if isinstance(scope, Nobody):
            return [], 0
        with self._uow(read_only=True) as uow:
            records, total = uow.triggers.search(
                client_id=scope,
                account_id=account_id,
                symbol=None if symbol is None else symbol.strip().upper(),
                status=status,
                offset=(page - 1) * page_size,
                limit=page_size,
            )
        return [self._with_live_mark(r) for r in records], total

    def update(
        self, trigger_id: str, change: TriggerChange, *, caller: Caller = SYSTEM
    ) -> TriggerOrderRecord:
        """Move the level or the trail of an Active or Paused trigger; refused if the current
        price already meets it (it would fire at once, or on resume)."""
        now = self._clock.now()
        with self._uow() as uow:
            record = self._open(uow, trigger_id, caller)
            check_change_fields(record.trigger.condition, change)
            price = self._price(uow, record.trigger.symbol)
            live = self._evaluator.mark_of(trigger_id)
            condition = changed_condition(record.trigger.condition, change, price, live)
            validate_condition(condition)
            validate_not_met_at(condition, price)
            expires_at = change.expires_at or record.trigger.expires_at
            if change.expires_at is not None:
                _check_expiry(change.expires_at, now)
            trigger = replace(record.trigger, condition=condition, expires_at=expires_at)
            updated = replace(record, trigger=trigger, updated_at=now)
            uow.triggers.replace(updated, now)
            changes = changes_between(record.trigger, updated.trigger)
            audit(uow, caller, "trigger_order.update", updated, now, changes)
        self._evaluator.refresh([trigger_id])
        return updated

    def pause(self, trigger_id: str, *, caller: Caller = SYSTEM) -> TriggerOrderRecord:
        """Pause an Active trigger and the Active members of its OCO group: they do not fire
        until resumed, but still expire."""
        now = self._clock.now()
        with self._uow() as uow:
            record = self._in(uow, trigger_id, TriggerStatus.ACTIVE, caller)
            group = self._group(uow, record, TriggerStatus.ACTIVE)
            ids = [r.trigger.id for r in group]
            uow.triggers.transition(ids, [TriggerStatus.ACTIVE], TriggerStatus.PAUSED, now)
            audit(uow, caller, "trigger_order.pause", record, now, {"triggerIds": ids})
        self._evaluator.refresh(ids)
        return self.get(trigger_id, caller=caller)

    def resume(self, trigger_id: str, *, caller: Caller = SYSTEM) -> TriggerOrderRecord:
        """Resume a Paused trigger and the Paused members of its OCO group.

        A trailing stop's mark catches up with the latest price (it only ratchets), so its stop
        reflects the market now; a condition the market already meets fires on the next price
        update or pass.
        """
        now = self._clock.now()
        with self._uow() as uow:
            record = self._in(uow, trigger_id, TriggerStatus.PAUSED, caller)
            group = self._group(uow, record, TriggerStatus.PAUSED)
            _refuse_expired(group, now)
            prices = {s: self._price(uow, s) for s in sorted({r.trigger.symbol for r in group})}
            resumed = [
                replace(r, trigger=resume(r.trigger, prices[r.trigger.symbol]), updated_at=now)
                for r in group
            ]
            uow.triggers.save_marks(_marks_moved(group, resumed), now)
            ids = [r.trigger.id for r in group]
            uow.triggers.transition(ids, [TriggerStatus.PAUSED], TriggerStatus.ACTIVE, now)
            audit(uow, caller, "trigger_order.resume", record, now, {"triggerIds": ids})
        self._evaluator.refresh(ids)
        return self.get(trigger_id, caller=caller)

    def cancel(self, trigger_id: str, *, caller: Caller = SYSTEM) -> TriggerOrderRecord:
        """Cancel an Active or Paused trigger; the other members of its OCO group are cancelled
        too."""
        now = self._clock.now()
        with self._uow() as uow:
            record = self._open(uow, trigger_id, caller)
            ids = [r.trigger.id for r in self._group(uow, record, *OPEN_STATUSES)]
            uow.triggers.close_open(ids, TriggerStatus.CANCELLED, now)
            audit(uow, caller, "trigger_order.cancel", record, now, {"triggerIds": ids})
        self._evaluator.refresh(ids)
        return self.get(trigger_id, caller=caller)

    # --- internals ----------------------------------------------------------------------

    def _new(
        self,
        uow: UnitOfWork,
        spec: TriggerSpec,
        now: datetime,
        i: int,
        count: int,
        caller: Caller,
    ) -> TriggerOrderRecord:
        own_client(caller, spec.client_id)
        visible_account(uow, caller, spec.account_id)
        try:
            return self._build(uow, spec, now)
        except InvalidInput as exc:
            if count == 1:
                raise
            raise InvalidInput(f"[{i}].{exc.field}", exc.message.split(": ", 1)[-1]) from exc

    def _build(self, uow: UnitOfWork, spec: TriggerSpec, now: datetime) -> TriggerOrderRecord:
        symbol = validation.security("symbol", spec.symbol)
        account = uow.accounts.get(spec.account_id)
        if account is None:
            raise InvalidInput("account_id", f"account {spec.account_id} does not exist")
        if account.client_id != spec.client_id:
            raise InvalidInput(
                "client_id", f"account {account.id} does not belong to client {spec.client_id}"
            )
        price = self._price(uow, symbol)
        validate_template(spec.order)
        if spec.order.side is Side.SELL:
            _check_holding(uow, spec, symbol)
        condition = condition_of(spec.condition, spec.order.side, price)
        validate_condition(condition)
        validate_not_met_at(condition, price)
        if spec.expires_at is not None:
            _check_expiry(spec.expires_at, now)
        group = spec.oco_group.strip() if spec.oco_group else None
        trigger = Trigger(
            id=new_id("TRIG", market_today(self._clock, self._zone)),
            account_id=account.id,
            symbol=symbol,
            condition=condition,
            oco_group=group or None,
            expires_at=spec.expires_at,
        )
        return TriggerOrderRecord(
            trigger=trigger,
            client_id=account.client_id,
            order=spec.order,
            created_at=now,
            updated_at=now,
        )

    def _check_groups(self, uow: UnitOfWork, records: Sequence[TriggerOrderRecord]) -> None:
        groups = {(r.client_id, r.trigger.oco_group) for r in records if r.trigger.oco_group}
        for client_id, group in sorted(groups, key=str):
            assert group is not None
            members = [r.trigger for r in records if r.trigger.oco_group == group]
            members += [r.trigger for r in uow.triggers.oco_members(client_id, group)]
            validate_oco_group(members)

    def _price(self, uow: UnitOfWork, symbol: str) -> Decimal:
        quote = uow.market.quotes([symbol]).get(symbol)
        if quote is None or quote.price is None:
            raise InvalidInput("symbol", f"unknown symbol {symbol}: it has no price yet")
        return tick_price(quote.price)

    def _locked(self, uow: UnitOfWork, trigger_id: str, caller: Caller) -> TriggerOrderRecord:
        """The trigger, its OCO group's rows locked in id order first — the order a firing
        locks them in, so a pause or cancel and a firing queue instead of deadlocking."""
        seen = uow.triggers.get(trigger_id)
        if seen is None:
            raise NotFound("trigger order", trigger_id)
        caller.own(seen.client_id, "trigger order", trigger_id)
        group = seen.trigger.oco_group
        keys = [] if group is None else [(seen.client_id, group)]
        record = uow.triggers.lock_for_fire([trigger_id], keys).get(trigger_id)
        assert record is not None  # trigger orders are never deleted
        return record

    def _open(self, uow: UnitOfWork, trigger_id: str, caller: Caller) -> TriggerOrderRecord:
        """The trigger, locked, if it is Active or Paused (one that can still change)."""
        record = self._locked(uow, trigger_id, caller)
        if record.trigger.status not in OPEN_STATUSES:
            raise Conflict(
                f"trigger order {trigger_id} is {record.trigger.status.value}; "
                "only Active or Paused triggers change"
            )
        return record

    def _in(
        self, uow: UnitOfWork, trigger_id: str, status: TriggerStatus, caller: Caller
    ) -> TriggerOrderRecord:
        """The trigger, locked, if it is in ``status`` (the state a pause or resume starts from)."""
        record = self._locked(uow, trigger_id, caller)
        if record.trigger.status is not status:
            raise Conflict(
                f"trigger order {trigger_id} is {record.trigger.status.value}, not {status.value}"
            )
        return record

    def _group(
        self, uow: UnitOfWork, record: TriggerOrderRecord, *statuses: TriggerStatus
    ) -> list[TriggerOrderRecord]:
        """``record`` and the members of its OCO group in ``statuses``."""
        group = record.trigger.oco_group
        if group is None:
            return [record]
        others = uow.triggers.oco_members(record.client_id, group, statuses)
        return [record, *(r for r in others if r.trigger.id != record.trigger.id)]

    def _with_live_mark(self, record: TriggerOrderRecord) -> TriggerOrderRecord:
        condition = record.trigger.condition
        if not isinstance(condition, TrailingStop):
            return record
        live = self._evaluator.mark_of(record.trigger.id)
        if live is None or live == condition.mark:
            return record
        trigger = replace(record.trigger, condition=replace(condition, mark=live))
        return replace(record, trigger=trigger)


def _check_holding(uow: UnitOfWork, spec: TriggerSpec, symbol: str) -> None:
    held = uow.accounts.holdings([(spec.account_id, symbol)]).get((spec.account_id, symbol))
    if held is None or held.quantity <= 0:
        raise InvalidInput(
            "symbol", f"account {spec.account_id} holds no {symbol}: there is nothing to sell"
        )
    quantity = spec.order.quantity
    if quantity is not None and quantity > held.quantity:
        raise InvalidInput(
            "order.quantity", f"account {spec.account_id} holds {held.quantity} {symbol}"
        )


def _marks_moved(
    before: Sequence[TriggerOrderRecord], after: Sequence[TriggerOrderRecord]
) -> list[tuple[str, Decimal]]:
    """The trailing marks that ``after`` moved from ``before``, as ``save_marks`` takes them."""
    moved = []
    for old, new in zip(before, after, strict=True):
        mark = (
            new.trigger.condition.mark if isinstance(new.trigger.condition, TrailingStop) else None
        )
        if mark is not None and old.trigger.condition != new.trigger.condition:
            moved.append((new.trigger.id, mark))
    return moved


def _check_expiry(at: datetime, now: datetime) -> None:
    validation.moment("expires_at", at)
    if at <= now:
        raise InvalidInput("expires_at", f"must be in the future, got {at.isoformat()}")


def _refuse_expired(group: Sequence[TriggerOrderRecord], now: datetime) -> None:
    # Past its expiry a trigger is Expired (the next evaluation records it), never Active again.
    for record in group:
        expires_at = record.trigger.expires_at
        if expires_at is not None and expires_at <= now:
            raise Conflict(
                f"trigger order {record.trigger.id} expired at {expires_at.isoformat()}; "
                "it cannot resume"
            )
