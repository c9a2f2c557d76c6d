"""Orders: place one through the order service, list, get, cancel one that has not filled."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from autopilot.api.deps import AccountIdQuery, ClientIdQuery, PageDep, PageSizeDep, ServicesDep
from autopilot.api.envelope import ok
from autopilot.api.openapi import errors
from autopilot.api.presenters import platform as shape
from autopilot.api.presenters.common import page
from autopilot.api.schemas.requests import OrderCreate
from autopilot.api.schemas.responses import Envelope, OrderPublic, Page
from autopilot.api.security import CallerDep, authorize, grant
from autopilot.domain.orders import OrderType, Side
from autopilot.services.access import Role
from autopilot.services.orders import PlaceOrder

router = APIRouter(prefix="/api/orders", tags=["orders"], dependencies=[Depends(authorize)])
OrderStatusName = Literal["Pending", "Submitted", "Filled", "Rejected", "Cancelled"]
One = Envelope[OrderPublic]


@router.post("", status_code=201, response_model=One, responses=errors(404, 409))
@grant("order.place", Role.CLIENT)
def place(body: OrderCreate, services: ServicesDep, caller: CallerDep) -> One:
    command = PlaceOrder(
        account_id=body.account_id,
        symbol=body.symbol,
        side=Side(body.side),
        order_type=OrderType(body.type),
        quantity=body.quantity,
        notional=body.notional,
        limit_price=body.limit_price,
    )
    return ok(shape.order(services.orders.place(command, caller=caller)))


@router.get("", response_model=Envelope[Page[OrderPublic]])
@grant("order.list", Role.OPERATOR, Role.CLIENT)
def search(
    services: ServicesDep,
    caller: CallerDep,
    client_id: ClientIdQuery = None,
    account_id: AccountIdQuery = None,
    status: Annotated[OrderStatusName | None, Query()] = None,
    symbol: Annotated[str | None, Query()] = None,
    automation_id: Annotated[str | None, Query(alias="automationId")] = None,
    page_number: PageDep = 1,
    page_size: PageSizeDep = 50,
) -> Envelope[Page[OrderPublic]]:
    records, total = services.orders.search(
        client_id=client_id,
        account_id=account_id,
        status=status,
        symbol=symbol.upper() if symbol else None,
        automation_id=automation_id,
        page=page_number,
        page_size=page_size,
        caller=caller,
    )
    return ok(page([shape.order(r) for r in records], total, page_number, page_size))


@router.get("/{order_id}", response_model=One, responses=errors(404))
@grant("order.get", Role.OPERATOR, Role.CLIENT)
def get(order_id: str, services: ServicesDep, caller: CallerDep) -> One:
    return ok(shape.order(services.orders.get(order_id, caller=caller)))


@router.post("/{order_id}/cancel", response_model=One, responses=errors(404, 409))
@grant("order.cancel", Role.CLIENT)
def cancel(order_id: str, services: ServicesDep, caller: CallerDep) -> One:
    return ok(shape.order(services.orders.cancel(order_id, caller=caller)))


@router.delete("/{order_id}", response_model=One, responses=errors(404, 409))
@grant("order.cancel", Role.CLIENT)
def delete(order_id: str, services: ServicesDep, caller: CallerDep) -> One:
    return ok(shape.order(services.orders.cancel(order_id, caller=caller)))
