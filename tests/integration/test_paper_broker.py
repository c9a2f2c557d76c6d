"""The paper broker fills, rests, rejects and releases cash, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest

from autopilot.bootstrap import Services
from autopilot.domain.errors import Conflict
from autopilot.domain.orders import Order, OrderStatus, OrderType, Side, notional_buy
from autopilot.services.orders import PlaceOrder
from autopilot.services.platform import PriceTick
from autopilot.services.records import NewOrder
from tests.support.services import OPENING_CASH, Investor, SettableClock, market_buy


def cash_of(services: Services, investor: Investor) -> Decimal:
    return services.platform.account(investor.account_id).account.cash


def held_of(services: Services, investor: Investor) -> Decimal:
    return services.platform.account(investor.account_id).account.held


def quantity_held(services: Services, investor: Investor, symbol: str) -> Decimal:
    view = services.platform.account(investor.account_id)
    return next((p.quantity for p, _ in view.positions if p.symbol == symbol), Decimal(0))


def limit_buy(investor: Investor, symbol: str, quantity: str, limit: str) -> PlaceOrder:
    return PlaceOrder(
        account_id=investor.account_id,
        symbol=symbol,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Decimal(quantity),
        limit_price=Decimal(limit),
    )


def test_limit_buy_rests_with_cash_held_until_a_price_reaches_the_limit(
    services: Services, investor: Investor
) -> None:
    placed = services.orders.place(limit_buy(investor, "AAA", "2", "95.00"))  # AAA is at 100.00

    assert placed.order.status is OrderStatus.SUBMITTED
    assert placed.order.reserved_amount == Decimal("190.00")
    assert (cash_of(services, investor), held_of(services, investor)) == (
        OPENING_CASH,
        Decimal("190.00"),
    )

    services.platform.record_prices([PriceTick(symbol="AAA", price=Decimal("96.00"))])
    assert services.orders.get(placed.order.id).order.status is OrderStatus.SUBMITTED

    services.platform.record_prices([PriceTick(symbol="AAA", price=Decimal("94.50"))])
    filled = services.orders.get(placed.order.id)

    assert filled.order.status is OrderStatus.FILLED
    assert filled.filled_price == Decimal("94.50")
    assert filled.filled_quantity == Decimal("2.000000")
    assert filled.filled_amount == Decimal("189.00")
    assert filled.filled_at is not None
    # 190.00 was held; the fill debits the 189.00 it cost and the hold is released.
    assert cash_of(services, investor) == OPENING_CASH - Decimal("189.00")
    assert held_of(services, investor) == Decimal("0.00")
    assert quantity_held(services, investor, "AAA") == Decimal("2.000000")


def test_limit_buy_fills_at_a_price_exactly_at_the_limit(
    services: Services, investor: Investor
) -> None:
    placed = services.orders.place(limit_buy(investor, "BBB", "1.5", "29.00"))

    services.platform.record_prices([PriceTick(symbol="BBB", price=Decimal("29.00"))])

    filled = services.orders.get(placed.order.id)
    assert filled.order.status is OrderStatus.FILLED
    assert filled.filled_amount == Decimal("43.50")
    assert cash_of(services, investor) == OPENING_CASH - Decimal("43.50")


def test_market_notional_buy_fills_a_fractional_quantity_for_exactly_its_notional(
    services: Services, investor: Investor
) -> None:
    placed = services.orders.place(market_buy(investor, "CCC", "100.00"))  # CCC is at 7.00

    assert placed.order.status is OrderStatus.FILLED
    assert placed.filled_quantity == Decimal("14.285714")
    assert placed.filled_amount == Decimal("100.00")
    assert cash_of(services, investor) == OPENING_CASH - Decimal("100.00")


def test_order_for_a_security_without_a_price_is_rejected_and_releases_the_cash(
    services: Services, investor: Investor
) -> None:
    services.platform.set_security("NOPX", tradable=True, fractionable=True)

    placed = services.orders.place(market_buy(investor, "NOPX", "50.00"))

    assert placed.order.status is OrderStatus.REJECTED
    assert placed.reject_reason == "no price for NOPX"
    assert cash_of(services, investor) == OPENING_CASH
    assert quantity_held(services, investor, "NOPX") == Decimal(0)


def test_order_for_an_untradable_security_is_rejected_and_releases_the_cash(
    services: Services, investor: Investor
) -> None:
    services.platform.set_security("BBB", tradable=False, fractionable=True)

    placed = services.orders.place(market_buy(investor, "BBB", "60.00"))

    assert placed.order.status is OrderStatus.REJECTED
    assert placed.reject_reason is not None and "not tradable" in placed.reject_reason
    assert cash_of(services, investor) == OPENING_CASH


def test_cancelling_a_resting_order_releases_the_held_cash(
    services: Services, investor: Investor
) -> None:
    placed = services.orders.place(limit_buy(investor, "AAA", "3", "80.00"))
    assert held_of(services, investor) == Decimal("240.00")
    with pytest.raises(Conflict, match=r"available 9760\.00"):  # the hold is not spent twice
        services.orders.place(market_buy(investor, "BBB", "9760.01"))

    cancelled = services.orders.cancel(placed.order.id)

    assert cancelled.order.status is OrderStatus.CANCELLED
    assert (cash_of(services, investor), held_of(services, investor)) == (OPENING_CASH, 0)
    services.platform.record_prices([PriceTick(symbol="AAA", price=Decimal("70.00"))])
    assert services.orders.get(placed.order.id).order.status is OrderStatus.CANCELLED
    assert cash_of(services, investor) == OPENING_CASH
    with pytest.raises(Conflict):
        services.orders.cancel(placed.order.id)


def test_submitting_the_same_order_twice_fills_it_once(
    services: Services, investor: Investor, clock: SettableClock
) -> None:
    # An order written (cash held) but not yet submitted, as after a crash between the two.
    order = notional_buy(
        "ORD-20260601-000000000000001", investor.account_id, "AAA", Decimal("250.00")
    )
    with services.uow() as uow:
        uow.orders.add_many([NewOrder(order=order, client_id=investor.client_id)], clock.now())
        uow.accounts.hold({investor.account_id: Decimal("250.00")}, clock.now())

    written = services.orders.get(order.id).order
    services.broker.submit([written])
    services.broker.submit([written])
    services.broker.submit([written, written])

    record = services.orders.get(order.id)
    assert record.order.status is OrderStatus.FILLED
    assert record.filled_quantity == Decimal("2.500000")
    assert quantity_held(services, investor, "AAA") == Decimal("2.500000")
    assert cash_of(services, investor) == OPENING_CASH - Decimal("250.00")
    assert held_of(services, investor) == Decimal("0.00")


def test_non_fractionable_security_fills_in_whole_shares_and_refunds_the_remainder(
    services: Services, investor: Investor
) -> None:
    services.platform.set_security("BBB", tradable=True, fractionable=False)  # 30.00 a share

    placed = services.orders.place(market_buy(investor, "BBB", "100.00"))

    assert placed.order.status is OrderStatus.FILLED
    assert placed.filled_quantity == Decimal("3.000000")
    assert placed.filled_amount == Decimal("90.00")
    assert cash_of(services, investor) == OPENING_CASH - Decimal("90.00")
    assert quantity_held(services, investor, "BBB") == Decimal("3.000000")


def test_non_fractionable_notional_smaller_than_a_share_is_rejected(
    services: Services, investor: Investor
) -> None:
    services.platform.set_security("AAA", tradable=True, fractionable=False)  # 100.00 a share

    placed = services.orders.place(market_buy(investor, "AAA", "50.00"))

    assert placed.order.status is OrderStatus.REJECTED
    assert placed.reject_reason is not None and "no whole share" in placed.reject_reason
    assert cash_of(services, investor) == OPENING_CASH


def test_sell_of_more_than_is_held_is_rejected(services: Services, investor: Investor) -> None:
    services.orders.place(market_buy(investor, "AAA", "100.00"))  # 1 share

    placed = services.orders.place(
        PlaceOrder(
            account_id=investor.account_id,
            symbol="AAA",
            side=Side.SELL,
            order_type=OrderType.MARKET,
            quantity=Decimal("2"),
        )
    )

    assert placed.order.status is OrderStatus.REJECTED
    assert quantity_held(services, investor, "AAA") == Decimal("1.000000")
    assert cash_of(services, investor) == OPENING_CASH - Decimal("100.00")


def _written(services: Services, investor: Investor, clock: SettableClock, *orders: Order) -> None:
    """Orders as the rebalancer writes them: buys hold cash even where sells will pay for them."""
    held = sum((o.reserved_amount for o in orders), Decimal("0.00"))
    with services.uow() as uow:
        uow.orders.add_many(
            [NewOrder(order=o, client_id=investor.client_id) for o in orders], clock.now()
        )
        uow.accounts.hold({investor.account_id: held}, clock.now())


def _rebalance_pair(investor: Investor) -> tuple[Order, Order]:
    common = {
        "account_id": investor.account_id,
        "order_type": OrderType.MARKET,
        "limit_price": None,
    }
    sell = Order(
        id="ORD-20260601-000000000000010",
        symbol="AAA",
        side=Side.SELL,
        quantity=Decimal("10"),
        notional=None,
        reserved_amount=Decimal("0.00"),
        status=OrderStatus.PENDING,
        **common,
    )
    buy = Order(
        id="ORD-20260601-000000000000011",
        symbol="BBB",
        side=Side.BUY,
        quantity=Decimal("30"),
        notional=None,
        reserved_amount=Decimal("900.00"),
        status=OrderStatus.PENDING,
        **common,
    )
    return sell, buy


@pytest.mark.parametrize("sell_fills", [True, False], ids=["sell-fills", "sell-rejected"])
def test_buys_paid_by_sells_fill_after_them_and_are_refused_when_the_sells_do_not_fill(
    services: Services, investor: Investor, clock: SettableClock, sell_fills: bool
) -> None:
    services.orders.place(market_buy(investor, "AAA", "1000.00"))  # holds 10 AAA
    with services.uow() as uow:  # leave 100.00: the buy of 900.00 needs the sell's 1,000.00
        uow.accounts.set_cash({investor.account_id: Decimal("100.00")}, clock.now())
    if not sell_fills:
        services.platform.set_security("AAA", tradable=False, fractionable=True)
    sell, buy = _rebalance_pair(investor)
    _written(services, investor, clock, buy, sell)  # given buy first: the broker sells first

    services.broker.submit([buy, sell])

    if sell_fills:
        assert services.orders.get(sell.id).order.status is OrderStatus.FILLED
        assert services.orders.get(buy.id).order.status is OrderStatus.FILLED
        assert cash_of(services, investor) == Decimal("200.00")  # 100 + 1000 - 900
    else:
        assert services.orders.get(sell.id).order.status is OrderStatus.REJECTED
        refused = services.orders.get(buy.id)
        assert refused.order.status is OrderStatus.REJECTED
        assert refused.reject_reason is not None and "sells funding" in refused.reject_reason
        assert cash_of(services, investor) == Decimal("100.00")  # never left negative
