"""Trigger conditions as a client states them: on create (a type and the fields it needs) and on
update (the fields to change), turned into a :data:`~autopilot.domain.triggers.Condition` (pure).

Every refusal is an :class:`InvalidInput` naming the field (``condition.level``, …), and a
field the condition's type does not use is refused the same way on create and on update.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from autopilot.domain.errors import InvalidInput
from autopilot.domain.orders import Side
from autopilot.domain.triggers.conditions import (
    Condition,
    Direction,
    PercentChange,
    PriceAbove,
    PriceBelow,
    TrailingStop,
    new_trailing_stop,
)
from autopilot.domain.triggers.validation import validate_price

CONDITION_FIELDS = {
    "priceAbove": {"level"},
    "priceBelow": {"level"},
    "percentChange": {"percent", "direction", "reference_price"},
    "trailingStop": {"percent", "amount", "activation_price"},
}
CONDITION_TYPES: dict[type, str] = {
    PriceAbove: "priceAbove",
    PriceBelow: "priceBelow",
    PercentChange: "percentChange",
    TrailingStop: "trailingStop",
}


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
class TriggerChange:
    """A PATCH of an Active or Paused trigger: its level or trail (and expiry). None leaves a
    field; a field the trigger's condition type does not use is refused."""

    level: Decimal | None = None
    percent: Decimal | None = None
    amount: Decimal | None = None
    reference_price: Decimal | None = None
    activation_price: Decimal | None = None
    expires_at: datetime | None = None


def check_change_fields(condition: Condition, change: TriggerChange) -> None:
    """Refuse a field the condition's type does not use, in the words create uses."""
    kind = CONDITION_TYPES[type(condition)]
    for name in ("level", "percent", "amount", "reference_price", "activation_price"):
        if getattr(change, name) is not None and name not in CONDITION_FIELDS[kind]:
            raise InvalidInput(f"condition.{name}", f"not used by a {kind} condition")
    if change.percent is not None and change.amount is not None:  # as create refuses it
        raise InvalidInput("condition", "a trailing stop needs exactly one of percent and amount")


def condition_of(spec: ConditionSpec, side: Side, price: Decimal) -> Condition:
    """The condition ``spec`` asks for, placed while the symbol trades at ``price``.

    A percent change without a reference price measures from ``price``; a trailing stop starts
    its mark at ``price`` (see :func:`~autopilot.domain.triggers.new_trailing_stop`). This
    checks which fields are given, not their values: run
    :func:`~autopilot.domain.trigger_validation.validate_condition` on the result.
    """
    wanted = CONDITION_FIELDS.get(spec.type)
    if wanted is None:
        raise InvalidInput("condition.type", f"unknown condition type {spec.type!r}")
    for name in ("level", "percent", "amount", "reference_price", "direction", "activation_price"):
        if getattr(spec, name) is not None and name not in wanted:
            raise InvalidInput(f"condition.{name}", f"not used by a {spec.type} condition")
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
            reference_price=_given(spec.reference_price, price),
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


def changed_condition(
    condition: Condition, change: TriggerChange, price: Decimal, live: Decimal | None
) -> Condition:
    """``condition`` with the fields ``change`` gives (call :func:`check_change_fields` first).

    A trailing stop keeps its mark, ``live`` (the index's, newer than the stored one) when
    known; a new percent replaces an amount and the other way round. A stop still waiting for
    its activation price is placed anew at ``price``. Run
    :func:`~autopilot.domain.trigger_validation.validate_condition` on the result.
    """
    match condition:
        case PriceAbove() | PriceBelow():
            return replace(condition, level=_given(change.level, condition.level))
        case PercentChange():
            return replace(
                condition,
                percent=_given(change.percent, condition.percent),
                reference_price=_given(change.reference_price, condition.reference_price),
            )
        case TrailingStop():
            percent, amount = condition.percent, condition.amount
            if change.percent is not None:
                percent, amount = change.percent, None
            if change.amount is not None:
                percent, amount = None, change.amount
            activation = _given(change.activation_price, condition.activation_price)
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


_Old = TypeVar("_Old", Decimal, Decimal | None)


def _given(new: Decimal | None, old: _Old) -> Decimal | _Old:
    """``new`` when the change gives it (``0`` included, so validation can refuse it)."""
    return old if new is None else new
