"""Shaping trigger orders as the API's JSON (DESIGN §6)."""

from __future__ import annotations

from typing import Any

from autopilot.api.presenters import moment, text
from autopilot.api.rebalancing_presenters import percent
from autopilot.domain.orders import Side
from autopilot.domain.triggers import (
    Condition,
    PercentChange,
    PriceAbove,
    PriceBelow,
    TrailingStop,
    stop_level,
)
from autopilot.services.records import TriggerOrderRecord


def condition(value: Condition) -> dict[str, Any]:
    match value:
        case PriceAbove(level=level):
            return {"type": "priceAbove", "level": text(level)}
        case PriceBelow(level=level):
            return {"type": "priceBelow", "level": text(level)}
        case PercentChange():
            return {
                "type": "percentChange",
                "percent": percent(value.percent),
                "direction": value.direction.value,
                "referencePrice": text(value.reference_price),
            }
        case TrailingStop():
            return {
                "type": "trailingStop",
                "percent": percent(value.percent),
                "amount": text(value.amount),
                "activationPrice": text(value.activation_price),
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
            "quantity": "all" if o.sell_all else text(o.quantity),
            "notional": text(o.notional),
            "limitPrice": text(o.limit_price),
        },
        "ocoGroup": t.oco_group,
        "expiresAt": moment(t.expires_at),
        "status": t.status.value,
        "highWaterMark": text(mark) if trail is not None and trail.side is Side.SELL else None,
        "lowWaterMark": text(mark) if trail is not None and trail.side is Side.BUY else None,
        "stopLevel": text(stop_level(t)),
        "triggeredAt": moment(record.triggered_at),
        "triggerPrice": text(record.trigger_price),
        "orderId": record.order_id,
        "failureReason": record.failure_reason,
        "createdAt": moment(record.created_at),
        "updatedAt": moment(record.updated_at),
    }
