"""Checks of trigger orders before they are stored: each refusal is an :class:`InvalidInput`
naming the field (``condition.level``, ``condition.percent``, ``oco_group``, ...)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_FLOOR, Decimal

from autopilot.domain.errors import InvalidInput
from autopilot.domain.money import HUNDRED
from autopilot.domain.triggers.conditions import (
    PERCENT_PLACES,
    PRICE_PLACES,
    TICK,
    Condition,
    Direction,
    PercentChange,
    PriceAbove,
    PriceBelow,
    TrailingStop,
    Trigger,
    fires_upward,
    stop_level,
)


def validate_oco_group(members: Iterable[Trigger]) -> None:
    """Refuse an OCO group whose members belong to more than one account.

    Raises :class:`InvalidInput` on ``ocoGroup`` naming the accounts.
    """
    accounts = sorted({member.account_id for member in members})
    if len(accounts) > 1:
        listed = ", ".join(str(account) for account in accounts)
        raise InvalidInput("oco_group", f"an OCO group must stay in one account, got {listed}")


# The money columns, and the index's integer ticks, hold prices below a trillion.
MAX_PRICE = Decimal(10) ** 12


def validate_price(field: str, value: Decimal) -> None:
    """Refuse a price that is not positive, not below a trillion, or carries more than 4
    decimal places."""
    if not value.is_finite() or value <= 0:
        raise InvalidInput(field, f"must be a positive price, got {value}")
    if value >= MAX_PRICE:
        raise InvalidInput(field, f"must be below {MAX_PRICE:,}, got {value}")
    if value != value.quantize(TICK, rounding=ROUND_FLOOR):
        raise InvalidInput(field, f"at most {PRICE_PLACES} decimal places, got {value}")


def validate_condition(condition: Condition) -> None:
    """Check the condition's own fields; raises :class:`InvalidInput` naming the API field.

    Field names are the domain's (``condition.level``, ``condition.percent``, …). Percent change:
    percent > 0, and < 100 going down. Trailing stop: exactly one of percent (0 < p < 100) and
    amount (> 0).
    """
    match condition:
        case PriceAbove(level=level) | PriceBelow(level=level):
            validate_price("condition.level", level)
        case PercentChange():
            _validate_percent_change(condition)
        case TrailingStop():
            _validate_trailing(condition)
    _validate_stop_level(condition)


def _validate_stop_level(condition: Condition) -> None:
    # A level derived from a percent or a trail must itself be a price the market can reach:
    # above zero (a sell trail of 150.00 under 100.00 never fires) and below a trillion.
    level = stop_level(Trigger(id="", account_id=0, symbol="", condition=condition))
    if level is None or (0 < level < MAX_PRICE):
        return
    field = "condition.percent" if isinstance(condition, PercentChange) else "condition"
    if isinstance(condition, TrailingStop):
        field = "condition.amount" if condition.amount is not None else "condition.percent"
    raise InvalidInput(field, f"puts the level at {level}, outside 0 to {MAX_PRICE:,}")


def _validate_percent(value: Decimal, *, below_hundred: bool) -> None:
    upper = " and below 100" if below_hundred else ""
    if not value.is_finite() or value <= 0 or (below_hundred and value >= HUNDRED):
        raise InvalidInput("condition.percent", f"must be above 0{upper}, got {value}")
    if value != value.quantize(Decimal(1).scaleb(-PERCENT_PLACES), rounding=ROUND_FLOOR):
        raise InvalidInput(
            "condition.percent", f"at most {PERCENT_PLACES} decimal places, got {value}"
        )


def _validate_percent_change(condition: PercentChange) -> None:
    _validate_percent(condition.percent, below_hundred=condition.direction is Direction.DOWN)
    validate_price("condition.reference_price", condition.reference_price)


def _validate_trailing(condition: TrailingStop) -> None:
    if (condition.percent is None) == (condition.amount is None):
        raise InvalidInput("condition", "a trailing stop needs exactly one of percent and amount")
    if condition.percent is not None:
        _validate_percent(condition.percent, below_hundred=True)
    if condition.amount is not None:
        validate_price("condition.amount", condition.amount)
    if condition.activation_price is not None:
        validate_price("condition.activation_price", condition.activation_price)
    if condition.mark is not None:
        validate_price("condition.mark", condition.mark)
    elif condition.activation_price is None:
        raise InvalidInput("condition", "a trailing stop without an activation price needs a mark")


def validate_not_met_at(condition: Condition, price: Decimal) -> None:
    """Refuse a level the current ``price`` already meets: the trigger would fire immediately.

    A sell stop-loss (at or below 95.00) placed while the price is 94.00 would sell at once; the
    message says which way the trigger fires and where its level must be. Trailing stops are
    never met at placement (their mark starts at the price), so they always pass.
    """
    if isinstance(condition, TrailingStop):
        return
    field = (
        "condition.referencePrice" if isinstance(condition, PercentChange) else "condition.level"
    )
    probe = Trigger(id="", account_id=0, symbol="", condition=condition)
    level = stop_level(probe)
    assert level is not None
    if fires_upward(condition) and price >= level:
        raise InvalidInput(
            field,
            f"fires when the price is at or above {level}, and the price is already {price}: "
            f"it would fire immediately; use a level above {price}",
        )
    if not fires_upward(condition) and price <= level:
        raise InvalidInput(
            field,
            f"fires when the price is at or below {level}, and the price is already {price}: "
            f"it would fire immediately; use a level below {price}",
        )
