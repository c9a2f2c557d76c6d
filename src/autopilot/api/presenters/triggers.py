"""Shaping trigger orders as the API's JSON (DESIGN §6).

Numbers read as they do everywhere else in the API: cash (``notional``) to the cent as orders
show it ("100.00"), quantities to 6 places as positions and orders show them ("2.000000"), and
every price-like field (levels, reference and activation prices, marks, the stop, limit and
trigger prices, a trailing amount) to 6 places, as orders show their limit and fill prices: the
scale the database stores prices at.
"""

from __future__ import annotations

from decimal import Decimal

from autopilot.api.presenters.common import at, moment, percent, percentage
from autopilot.api.schemas.responses import (
    PercentChangePublic,
    PriceAbovePublic,
    PriceBelowPublic,
    TrailingStopPublic,
    TriggerOrderPublic,
    TriggerOrderTemplatePublic,
)
from autopilot.domain.money import CENT
from autopilot.domain.orders import QUANTITY_STEP, Side
from autopilot.domain.triggers.conditions import (
    Condition,
    PercentChange,
    PriceAbove,
    PriceBelow,
    TrailingStop,
    stop_level,
)
from autopilot.services.records import TriggerOrderRecord

PRICE_STEP = Decimal("0.000001")  # NUMERIC(20, 6): what the orders endpoint reads prices back as


def _fixed(value: Decimal | None, step: Decimal) -> str | None:
    # Exact: prices carry at most 4 places, cash 2 and quantities 6, so nothing is rounded.
    return None if value is None else str(value.quantize(step))


def price(value: Decimal | None) -> str | None:
    """A price-like value as the orders API shows prices: 237.5 → "237.500000"."""
    return _fixed(value, PRICE_STEP)


def cash(value: Decimal | None) -> str | None:
    """An amount of cash, to the cent: 100 → "100.00"."""
    return _fixed(value, CENT)


def quantity(value: Decimal | None) -> str | None:
    """A quantity as positions and orders show it: 2 → "2.000000"."""
    return _fixed(value, QUANTITY_STEP)


ConditionPublic = PriceAbovePublic | PriceBelowPublic | PercentChangePublic | TrailingStopPublic


def condition(value: Condition) -> ConditionPublic:
    match value:
        case PriceAbove(level=level):
            return PriceAbovePublic(type="priceAbove", level=_price(level))
        case PriceBelow(level=level):
            return PriceBelowPublic(type="priceBelow", level=_price(level))
        case PercentChange():
            return PercentChangePublic(
                type="percentChange",
                percent=percentage(value.percent),
                direction=value.direction.value,
                reference_price=_price(value.reference_price),
            )
        case TrailingStop():
            return TrailingStopPublic(
                type="trailingStop",
                percent=percent(value.percent),
                amount=price(value.amount),
                activation_price=price(value.activation_price),
            )


def _price(value: Decimal) -> str:
    shown = price(value)
    assert shown is not None
    return shown


def trigger_order(record: TriggerOrderRecord) -> TriggerOrderPublic:
    t = record.trigger
    o = record.order
    trail = t.condition if isinstance(t.condition, TrailingStop) else None
    mark = None if trail is None else trail.mark
    return TriggerOrderPublic(
        id=t.id,
        client_id=record.client_id,
        account_id=t.account_id,
        symbol=t.symbol,
        condition=condition(t.condition),
        order=TriggerOrderTemplatePublic(
            side=o.side.value,
            type=o.order_type.value,
            quantity="all" if o.sell_all else quantity(o.quantity),
            notional=cash(o.notional),
            limit_price=price(o.limit_price),
        ),
        oco_group=t.oco_group,
        expires_at=moment(t.expires_at),
        status=t.status.value,
        high_water_mark=price(mark) if trail is not None and trail.side is Side.SELL else None,
        low_water_mark=price(mark) if trail is not None and trail.side is Side.BUY else None,
        stop_level=price(stop_level(t)),
        triggered_at=moment(record.triggered_at),
        trigger_price=price(record.trigger_price),
        order_id=record.order_id,
        failure_reason=record.failure_reason,
        created_at=at(record.created_at),
        updated_at=at(record.updated_at),
    )
