from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from autopilot.domain.orders import (
    Fill,
    Rejection,
    Side,
    decide_fill,
    notional_buy,
)
from autopilot.domain.quotes import Quote

BUY = notional_buy("ORD-20260601-000000000000001", 1, "VTI", Decimal("100.00"))


@pytest.mark.parametrize("price", [None, Decimal("0"), Decimal("0.000000")])
def test_a_market_order_without_a_usable_price_is_rejected_not_divided_by_zero(
    price: Decimal | None,
) -> None:
    decision = decide_fill(BUY, Quote(symbol="VTI", price=price), held=Decimal(0))
    assert decision == Rejection(order_id=BUY.id, reason="no price for VTI")


def test_a_notional_buy_fills_the_fraction_its_notional_buys() -> None:
    decision = decide_fill(BUY, Quote(symbol="VTI", price=Decimal("300.00")), held=Decimal(0))
    assert isinstance(decision, Fill)
    assert (decision.quantity, decision.amount) == (Decimal("0.333333"), Decimal("100.00"))


def test_a_fill_beyond_the_largest_order_amount_is_rejected_not_written() -> None:
    # Found by fuzzing: 10^12 shares bought at 0.000001, sold at 999999999999.999999.
    sell = replace(BUY, side=Side.SELL, notional=None, quantity=Decimal("999999999999"))
    quote = Quote(symbol="VTI", price=Decimal("999999999999.999999"))

    decision = decide_fill(sell, quote, held=Decimal("999999999999"))

    assert isinstance(decision, Rejection) and "largest order amount" in decision.reason
