"""Trigger orders as the integration tests make them: holdings, specs, brackets, prices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from autopilot.bootstrap import Services
from autopilot.domain.orders import OrderType, Side
from autopilot.domain.triggers.conditions import TriggerStatus
from autopilot.domain.triggers.order import OrderTemplate
from autopilot.services.orders import PlaceOrder
from autopilot.services.platform import PriceTick
from autopilot.services.records import TriggerOrderRecord
from autopilot.services.triggers.orders import ConditionSpec, TriggerSpec
from tests.support.services import Investor

SELL_ALL = OrderTemplate(side=Side.SELL, sell_all=True)
BUY_TEN = OrderTemplate(side=Side.BUY, quantity=Decimal("10"))


def price(services: Services, symbol: str, value: str) -> None:
    services.platform.record_prices([PriceTick(symbol=symbol, price=Decimal(value))])


def hold(services: Services, who: Investor, symbol: str = "AAA", quantity: str = "10") -> None:
    services.orders.place(
        PlaceOrder(
            account_id=who.account_id,
            symbol=symbol,
            side=Side.BUY,
            order_type=OrderType.MARKET,
            quantity=Decimal(quantity),
        )
    )


def trigger(
    who: Investor, kind: str, order: OrderTemplate = SELL_ALL, symbol: str = "AAA", **fields: Any
) -> TriggerSpec:
    return TriggerSpec(
        client_id=who.client_id,
        account_id=who.account_id,
        symbol=symbol,
        condition=ConditionSpec(type=kind, **fields),
        order=order,
        oco_group=fields.pop("oco_group", None) if "oco_group" in fields else None,
    )


def create(services: Services, spec: TriggerSpec) -> TriggerOrderRecord:
    return services.trigger_orders.create([spec])[0]


def status(services: Services, record: TriggerOrderRecord) -> TriggerStatus:
    return services.trigger_orders.get(record.trigger.id).trigger.status


def bracket(services: Services, who: Investor) -> list[TriggerOrderRecord]:
    stop = trigger(who, "priceBelow", level=Decimal("90.00"))
    take = trigger(who, "priceAbove", level=Decimal("120.00"))
    return services.trigger_orders.create(
        [
            TriggerSpec(**{**fields_of(stop), "oco_group": "bracket"}),
            TriggerSpec(**{**fields_of(take), "oco_group": "bracket"}),
        ]
    )


def fields_of(spec: TriggerSpec) -> dict[str, Any]:
    return {name: getattr(spec, name) for name in spec.__slots__}
