"""Shaping trigger orders as the API's JSON (DESIGN §6).

Numbers read as they do everywhere else in the API: cash (``notional``) to the cent as orders
show it ("100.00"), quantities to 6 places as positions and orders show them ("2.000000"), and
every price-like field (levels, reference and activation prices, marks, the stop, limit and
trigger prices, a trailing amount) to 6 places, as orders show their limit and fill prices: the
scale the database stores prices at.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from autopilot.api.presenters.common import moment
from autopilot.api.presenters.rebalancing import percent
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


def condition(value: Condition) -> dict[str, Any]:
    match value:
        case PriceAbove(level=level):
            return {"type": "priceAbove", "level": price(level)}
        case PriceBelow(level=level):
            return {"type": "priceBelow", "level": price(level)}
        case PercentChange():
            return {
                "type": "percentChange",
                "percent": percent(value.percent),
                "direction": value.direction.value,
                "referencePrice": price(value.reference_price),
            }
        case TrailingStop():
            return {
                "type": "trailingStop",
                "percent": percent(value.percent),
                "amount": price(value.amount),
                "activationPrice": price(value.activation_price),
            }


def trigger_order(record: TriggerOrderRecord) -> dict[str, Any]:
    t = record.trigger
    o = record.order
    trail = t.condition if isinstance(t.condition, TrailingStop) else None
    mark = None if trail is None else trail.mark
    return {
        "id": t.id,
        "clientId": record.client_id,
        "accountId": t.account_id,
        "symbol": t.symbol,
        "condition": condition(t.condition),
        "order": {
            "side": o.side.value,
            "type": o.order_type.value,
            "quantity": "all" if o.sell_all else quantity(o.quantity),
            "notional": cash(o.notional),
            "limitPrice": price(o.limit_price),
        },
        "ocoGroup": t.oco_group,
        "expiresAt": moment(t.expires_at),
        "status": t.status.value,
        "highWaterMark": price(mark) if trail is not None and trail.side is Side.SELL else None,
        "lowWaterMark": price(mark) if trail is not None and trail.side is Side.BUY else None,
        "stopLevel": price(stop_level(t)),
        "triggeredAt": moment(record.triggered_at),
        "triggerPrice": price(record.trigger_price),
        "orderId": record.order_id,
        "failureReason": record.failure_reason,
        "createdAt": moment(record.created_at),
        "updatedAt": moment(record.updated_at),
    }
