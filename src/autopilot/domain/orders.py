"""Orders as values, and how the paper broker fills them (pure; DESIGN §4 "orders")."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from enum import StrEnum

from autopilot.domain.money import CENT
from autopilot.domain.quotes import Quote

QUANTITY_STEP = Decimal("0.000001")
NO_QUANTITY = Decimal("0.000000")  # none of a security, at the scale quantities are kept


class OrderStatus(StrEnum):
    PENDING = "Pending"
    SUBMITTED = "Submitted"
    FILLED = "Filled"
    REJECTED = "Rejected"
    CANCELLED = "Cancelled"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


OPEN_STATUSES = (OrderStatus.PENDING, OrderStatus.SUBMITTED)


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    id: str
    account_id: int
    symbol: str
    side: Side
    order_type: OrderType
    quantity: Decimal | None
    notional: Decimal | None
    limit_price: Decimal | None
    reserved_amount: Decimal
    status: OrderStatus


# Cash amounts are stored with 20 digits; an order's amount stays below a trillion.
MAX_ORDER_AMOUNT = Decimal(10) ** 12


def notional_buy(order_id: str, account_id: int, symbol: str, notional: Decimal) -> Order:
    """A market buy of ``notional`` in cash (what an auto-invest leg is), to be written Pending
    with that cash held for it."""
    return Order(
        id=order_id,
        account_id=account_id,
        symbol=symbol,
        side=Side.BUY,
        order_type=OrderType.MARKET,
        quantity=None,
        notional=notional,
        limit_price=None,
        reserved_amount=notional,
        status=OrderStatus.PENDING,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Fill:
    """A filled order: `amount` is the cash it cost (buy) or brought (sell), to the cent."""

    order_id: str
    quantity: Decimal
    price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejection:
    order_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Resting:
    """A limit order whose price has not been reached; it waits as `Submitted`."""

    order_id: str


FillDecision = Fill | Rejection | Resting


def reserve_for_buy(
    *, quantity: Decimal | None, notional: Decimal | None, price: Decimal | None
) -> Decimal:
    """Cash held when a buy is placed: the notional, or quantity × price rounded up to the cent.

    `price` is the limit price for a limit order and the latest price for a market order.
    """
    if notional is not None:
        return notional
    if quantity is None or price is None:
        return Decimal("0.00")
    return (quantity * price).quantize(CENT, rounding=ROUND_UP)


def decide_fill(order: Order, quote: Quote | None, held: Decimal) -> FillDecision:
    """How the paper broker answers `order` at the quote: fill, reject with a reason, or rest.

    Market orders fill at the latest price; a notional buy gets the quantity its notional buys,
    to 6 decimals for fractionable securities and in whole shares otherwise (what is left over is
    refunded). A limit order fills at the latest price once that price reaches its limit.
    `held` is the quantity of the symbol the account holds (for sells).
    """
    if quote is None or quote.price is None or quote.price <= 0:
        # A price of zero cannot be stored through the services; one that got in otherwise
        # must not divide a notional by zero.
        return Rejection(order_id=order.id, reason=f"no price for {order.symbol}")
    if not quote.tradable:
        return Rejection(order_id=order.id, reason=f"{order.symbol} is not tradable")
    price = quote.price
    if order.order_type is OrderType.LIMIT:
        assert order.limit_price is not None
        reached = (
            price <= order.limit_price if order.side is Side.BUY else price >= order.limit_price
        )
        if not reached:
            return Resting(order_id=order.id)
    quantity = _quantity(order, price, quote.fractionable)
    if quantity <= 0:
        return Rejection(
            order_id=order.id,
            reason=f"{order.notional} buys no whole share of {order.symbol} at {price}",
        )
    if order.side is Side.SELL and quantity > held:
        return Rejection(
            order_id=order.id, reason=f"sell of {quantity} {order.symbol} exceeds holding {held}"
        )
    amount = _amount(order, quantity, price, quote.fractionable)
    if amount >= MAX_ORDER_AMOUNT:  # 10^12 shares at 10^12 each: no account can hold that
        return Rejection(
            order_id=order.id,
            reason=f"amount {amount:.2E} is beyond the largest order amount {MAX_ORDER_AMOUNT:.0E}",
        )
    if order.side is Side.BUY and amount > order.reserved_amount:
        return Rejection(
            order_id=order.id,
            reason=f"cost {amount} exceeds the {order.reserved_amount} held for the order",
        )
    return Fill(order_id=order.id, quantity=quantity, price=price, amount=amount)


def _quantity(order: Order, price: Decimal, fractionable: bool) -> Decimal:
    if order.quantity is not None:
        return order.quantity
    assert order.notional is not None
    raw = order.notional / price
    step = QUANTITY_STEP if fractionable else Decimal(1)
    return raw.quantize(step, rounding=ROUND_DOWN).quantize(QUANTITY_STEP)


def _amount(order: Order, quantity: Decimal, price: Decimal, fractionable: bool) -> Decimal:
    # A fractional notional buy costs exactly its notional (the quantity is floored to 6 places);
    # anything else costs quantity x price, rounded in the broker's favour to the cent.
    if order.notional is not None and order.side is Side.BUY and fractionable:
        return order.notional
    rounding = ROUND_UP if order.side is Side.BUY else ROUND_DOWN
    return (quantity * price).quantize(CENT, rounding=rounding)
