"""Trigger order management: create (one, or a bracket), list, get, update, cancel.

Every check runs before anything is written, and each failure names the API field. Created,
edited and cancelled triggers are handed to the evaluator after the commit, so this process's
index stays in step with the database.
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
from autopilot.domain.trigger_order import OrderTemplate, validate_template
from autopilot.domain.triggers import (
    Condition,
    Direction,
    PercentChange,
    PriceAbove,
    PriceBelow,
    TrailingStop,
    Trigger,
    TriggerStatus,
    new_trailing_stop,
    validate_condition,
    validate_not_met_at,
    validate_oco_group,
    validate_price,
)
from autopilot.services import validation
from autopilot.services.ids import new_id
from autopilot.services.ports import Clock, UnitOfWorkFactory, market_today
from autopilot.services.records import TriggerOrderRecord
from autopilot.services.trigger_evaluation import TriggerEvaluator, tick_price

if TYPE_CHECKING:
    from autopilot.services.ports import UnitOfWork

CONDITION_FIELDS = {
    "priceAbove": {"level"},
    "priceBelow": {"level"},
    "percentChange": {"percent", "direction", "reference_price"},
    "trailingStop": {"percent", "amount", "activation_price"},
}
API_NAMES = {"reference_price": "referencePrice", "activation_price": "activationPrice"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ConditionSpec:
    """A condition as asked for: the fields its type needs, the others left None."""

    type: str
    level: Decimal | None = None
    percent: Decimal | None = None
    amount: Decimal | None = None
    reference_price: Decimal | None = None
    direction: Direction | None = None
    activation_price: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerSpec:
    client_id: int
    account_id: int
    symbol: str
    condition: ConditionSpec
    order: OrderTemplate
    oco_group: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerChange:
    """A PATCH of an Active trigger: its level or trail (and expiry). None leaves a field."""

    level: Decimal | None = None
    percent: Decimal | None = None
    amount: Decimal | None = None
    reference_price: Decimal | None = None
    activation_price: Decimal | None = None
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

    def create(self, specs: Sequence[TriggerSpec]) -> list[TriggerOrderRecord]:
        """Create one trigger, or several at once (a bracket shares an ``ocoGroup``)."""
        if not specs:
            raise InvalidInput("body", "give at least one trigger order")
        now = self._clock.now()
        with self._uow() as uow:
            records = [self._new(uow, spec, now, i, len(specs)) for i, spec in enumerate(specs)]
            self._check_groups(uow, records)
            uow.triggers.add_many(records)
        self._evaluator.track(records)
        return records

    def get(self, trigger_id: str) -> TriggerOrderRecord:
        with self._uow() as uow:
            record = uow.triggers.get(trigger_id)
        if record is None:
            raise NotFound("trigger order", trigger_id)
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
    ) -> tuple[list[TriggerOrderRecord], int]:
        with self._uow() as uow:
            records, total = uow.triggers.search(
                client_id=client_id,
                account_id=account_id,
                symbol=None if symbol is None else symbol.strip().upper(),
                status=status,
                offset=(page - 1) * page_size,
                limit=page_size,
            )
        return [self._with_live_mark(r) for r in records], total

    def update(self, trigger_id: str, change: TriggerChange) -> TriggerOrderRecord:
        """Move the level or the trail of an Active trigger; refused if it would fire at once."""
        now = self._clock.now()
        with self._uow() as uow:
            record = self._active(uow, trigger_id)
            price = self._price(uow, record.trigger.symbol)
            live = self._evaluator.mark_of(trigger_id)
            condition = _changed(record.trigger.condition, change, price, live)
            validate_condition(condition)
            validate_not_met_at(condition, price)
            expires_at = change.expires_at or record.trigger.expires_at
            if change.expires_at is not None:
                _check_expiry(change.expires_at, now)
            trigger = replace(record.trigger, condition=condition, expires_at=expires_at)
            updated = replace(record, trigger=trigger, updated_at=now)
            uow.triggers.replace(updated, now)
        self._evaluator.track([updated])
        return updated

    def cancel(self, trigger_id: str) -> TriggerOrderRecord:
        """Cancel an Active trigger; the other members of its OCO group are cancelled too."""
        now = self._clock.now()
        with self._uow() as uow:
            record = self._active(uow, trigger_id)
            ids = [trigger_id]
            group = record.trigger.oco_group
            if group is not None:
                ids += [r.trigger.id for r in uow.triggers.oco_members(record.client_id, group)]
            closed = uow.triggers.close_active(ids, TriggerStatus.CANCELLED, now)
        self._evaluator.forget(closed)
        return self.get(trigger_id)

    # --- internals ----------------------------------------------------------------------

    def _new(
        self, uow: UnitOfWork, spec: TriggerSpec, now: datetime, i: int, count: int
    ) -> TriggerOrderRecord:
        try:
            return self._build(uow, spec, now)
        except InvalidInput as exc:
            if count == 1:
                raise
            raise InvalidInput(f"[{i}].{exc.field}", exc.message.split(": ", 1)[-1]) from exc

    def _build(self, uow: UnitOfWork, spec: TriggerSpec, now: datetime) -> TriggerOrderRecord:
        symbol = validation.symbol("symbol", spec.symbol)
        account = uow.accounts.get(spec.account_id)
        if account is None:
            raise InvalidInput("accountId", f"account {spec.account_id} does not exist")
        if account.client_id != spec.client_id:
            raise InvalidInput(
                "clientId", f"account {account.id} does not belong to client {spec.client_id}"
            )
        price = self._price(uow, symbol)
        validate_template(spec.order)
        if spec.order.side is Side.SELL:
            _check_holding(uow, spec, symbol)
        condition = _condition(spec.condition, spec.order.side, price)
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

    def _active(self, uow: UnitOfWork, trigger_id: str) -> TriggerOrderRecord:
        record = uow.triggers.get(trigger_id, lock=True)
        if record is None:
            raise NotFound("trigger order", trigger_id)
        if record.trigger.status is not TriggerStatus.ACTIVE:
            raise Conflict(
                f"trigger order {trigger_id} is {record.trigger.status.value}; "
                "only Active triggers change"
            )
        return record

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


def _check_expiry(at: datetime, now: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput("expiresAt", "must include a timezone offset")
    if at <= now:
        raise InvalidInput("expiresAt", f"must be in the future, got {at.isoformat()}")


def _condition(spec: ConditionSpec, side: Side, price: Decimal) -> Condition:
    wanted = CONDITION_FIELDS.get(spec.type)
    if wanted is None:
        raise InvalidInput("condition.type", f"unknown condition type {spec.type!r}")
    for name in ("level", "percent", "amount", "reference_price", "direction", "activation_price"):
        if getattr(spec, name) is not None and name not in wanted:
            api = API_NAMES.get(name, name)
            raise InvalidInput(f"condition.{api}", f"not used by a {spec.type} condition")
    if spec.type in ("priceAbove", "priceBelow"):
        if spec.level is None:
            raise InvalidInput("condition.level", f"a {spec.type} condition needs a level")
        validate_price("condition.level", spec.level)
        return (
            PriceAbove(level=spec.level)
            if spec.type == "priceAbove"
            else PriceBelow(level=spec.level)
        )
    if spec.type == "percentChange":
        if spec.percent is None or spec.direction is None:
            raise InvalidInput("condition.percent", "a percentChange needs percent and direction")
        return PercentChange(
            percent=spec.percent,
            direction=spec.direction,
            reference_price=spec.reference_price or price,
        )
    if (spec.percent is None) == (spec.amount is None):
        raise InvalidInput("condition.percent", "a trailing stop takes one of percent or amount")
    return new_trailing_stop(
        side=side,
        price=price,
        percent=spec.percent,
        amount=spec.amount,
        activation_price=spec.activation_price,
    )


def _changed(
    condition: Condition, change: TriggerChange, price: Decimal, live: Decimal | None
) -> Condition:
    match condition:
        case PriceAbove() | PriceBelow():
            return replace(condition, level=change.level or condition.level)
        case PercentChange():
            return replace(
                condition,
                percent=change.percent or condition.percent,
                reference_price=change.reference_price or condition.reference_price,
            )
        case TrailingStop():
            percent, amount = condition.percent, condition.amount
            if change.percent is not None:
                percent, amount = change.percent, None
            if change.amount is not None:
                percent, amount = None, change.amount
            activation = change.activation_price or condition.activation_price
            mark = live if live is not None else condition.mark
            if mark is None:
                return new_trailing_stop(
                    side=condition.side,
                    price=price,
                    percent=percent,
                    amount=amount,
                    activation_price=activation,
                )
            return replace(
                condition, percent=percent, amount=amount, activation_price=activation, mark=mark
            )
