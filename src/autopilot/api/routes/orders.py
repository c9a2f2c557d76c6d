"""Orders: place one through the order service, list, get, cancel one that has not filled."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from autopilot.api.deps import AccountIdQuery, ClientIdQuery, PageDep, PageSizeDep, ServicesDep
from autopilot.api.envelope import ok
from autopilot.api.presenters import common as presenters
from autopilot.api.schemas import OrderCreate
from autopilot.domain.orders import OrderType, Side
from autopilot.services.orders import PlaceOrder

router = APIRouter(prefix="/api/orders", tags=["orders"])
OrderStatusName = Literal["Pending", "Submitted", "Filled", "Rejected", "Cancelled"]


@router.post("")
def place(body: OrderCreate, services: ServicesDep) -> JSONResponse:
    command = PlaceOrder(
        account_id=body.account_id,
        symbol=body.symbol,
        side=Side(body.side),
        order_type=OrderType(body.type),
        quantity=body.quantity,
        notional=body.notional,
        limit_price=body.limit_price,
    )
    return ok(presenters.order(services.orders.place(command)), 201)


@router.get("")
def search(
    services: ServicesDep,
    client_id: ClientIdQuery = None,
    account_id: AccountIdQuery = None,
    status: Annotated[OrderStatusName | None, Query()] = None,
    symbol: Annotated[str | None, Query()] = None,
    automation_id: Annotated[str | None, Query(alias="automationId")] = None,
    page: PageDep = 1,
    page_size: PageSizeDep = 50,
) -> JSONResponse:
    records, total = services.orders.search(
        client_id=client_id,
        account_id=account_id,
        status=status,
        symbol=symbol.upper() if symbol else None,
        automation_id=automation_id,
        page=page,
        page_size=page_size,
    )
    return ok(presenters.page([presenters.order(r) for r in records], total, page, page_size))


@router.get("/{order_id}")
def get(order_id: str, services: ServicesDep) -> JSONResponse:
    return ok(presenters.order(services.orders.get(order_id)))


@router.post("/{order_id}/cancel")
def cancel(order_id: str, services: ServicesDep) -> JSONResponse:
    return ok(presenters.order(services.orders.cancel(order_id)))


@router.delete("/{order_id}")
def delete(order_id: str, services: ServicesDep) -> JSONResponse:
    return ok(presenters.order(services.orders.cancel(order_id)))
