"""The order a trigger places when it fires, and what it becomes at the moment it fires (pure).

A trigger's order names a side, one of a quantity, a notional amount (buys) or "all" of the
position (sells), and market or limit with a limit price. What is held and what cash is there is
only known when the trigger fires: :func:`order_at_fire` turns the template into an order's
quantities then, or into the reason the trigger fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from autopilot.domain.errors import InvalidInput
from autopilot.domain.money import CENT
from autopilot.domain.orders import QUANTITY_STEP, OrderType, Side, reserve_for_buy


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderTemplate:
    """What to place: exactly one of ``quantity``, ``notional`` and ``sell_all`` is set."""

    side: Side
    order_type: OrderType = OrderType.MARKET
    quantity: Decimal | None = None
    notional: Decimal | None = None
    sell_all: bool = False
    limit_price: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FiredOrder:
    """The order a fired trigger places: its quantity or notional and the cash held for it."""

    quantity: Decimal | None
    notional: Decimal | None
    reserve: Decimal


def validate_template(template: OrderTemplate) -> None:
    """Refuse an order a trigger cannot place; raises :class:`InvalidInput` naming the field."""
    given = [template.quantity is not None, template.notional is not None, template.sell_all]
    if sum(given) != 1:
        raise InvalidInput("order.quantity", 'give exactly one of quantity, notional or "all"')
    if template.sell_all and template.side is not Side.SELL:
        raise InvalidInput("order.quantity", '"all" is for sell orders only')
    if template.quantity is not None:
        if not template.quantity.is_finite() or template.quantity <= 0:
            raise InvalidInput("order.quantity", f"must be positive, got {template.quantity}")
        if template.quantity != template.quantity.quantize(QUANTITY_STEP):
            raise InvalidInput("order.quantity", "at most 6 decimals")
    if template.notional is not None:
        if template.side is Side.SELL:
            raise InvalidInput("order.notional", 'sell orders take a quantity or "all"')
        if template.order_type is OrderType.LIMIT:
            raise InvalidInput("order.notional", "limit orders take a quantity")
        if template.notional <= 0 or template.notional != template.notional.quantize(CENT):
            raise InvalidInput("order.notional", "must be a positive amount in cents")
    if template.order_type is OrderType.LIMIT:
        if template.limit_price is None:
            raise InvalidInput("order.limit_price", "a limit order needs a limit price")
        if template.limit_price <= 0:
            raise InvalidInput("order.limit_price", "must be positive")
    elif template.limit_price is not None:
        raise InvalidInput("order.limit_price", "only limit orders take a limit price")


def order_at_fire(
    template: OrderTemplate, *, held: Decimal, cash: Decimal, price: Decimal
) -> FiredOrder | str:
    """The order to place when the trigger fires at ``price``, or why it cannot be placed.

    A sell needs the position: "all" sells what is held; a quantity larger than the holding
    fails rather than sell short. A buy holds its notional, or quantity × (limit or current
    price) rounded up to the cent, and fails when the account's cash does not cover it.
    """
    if template.side is Side.SELL:
        if held <= 0:
            return "the position is gone: nothing is held to sell"
        quantity = held if template.sell_all else template.quantity
        assert quantity is not None
        if quantity > held:
            return f"the position holds {held}, less than the {quantity} to sell"
        return FiredOrder(quantity=quantity, notional=None, reserve=Decimal("0.00"))
    at = template.limit_price if template.order_type is OrderType.LIMIT else price
    reserve = reserve_for_buy(quantity=template.quantity, notional=template.notional, price=at)
    if reserve > cash:
        return f"insufficient cash: the order needs {reserve}, available {cash}"
    return FiredOrder(quantity=template.quantity, notional=template.notional, reserve=reserve)
