"""Trigger orders: create (one, or a list such as a bracket), list, get, update, pause, resume,
cancel."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from autopilot.api.deps import AccountIdQuery, ClientIdQuery, PageDep, PageSizeDep, ServicesDep
from autopilot.api.envelope import ok
from autopilot.api.openapi import errors
from autopilot.api.presenters import triggers as shape
from autopilot.api.presenters.common import page
from autopilot.api.schemas.requests import TriggerCreate, TriggerUpdate
from autopilot.api.schemas.responses import Envelope, Page, TriggerOrderPublic
from autopilot.api.security import CallerDep, authorize, grant
from autopilot.domain.orders import OrderType, Side
from autopilot.domain.triggers.conditions import Direction
from autopilot.domain.triggers.order import OrderTemplate
from autopilot.services.access import Role
from autopilot.services.triggers.orders import ConditionSpec, TriggerChange, TriggerSpec

router = APIRouter(
    prefix="/api/automation/trigger-orders",
    tags=["trigger orders"],
    dependencies=[Depends(authorize)],
)
StatusName = Literal["Active", "Paused", "Triggered", "Cancelled", "Expired", "Failed"]
One = Envelope[TriggerOrderPublic]
Created = Envelope[TriggerOrderPublic | list[TriggerOrderPublic]]
_CREATE = TypeAdapter(TriggerCreate | list[TriggerCreate])


def _inlined(node: Any, defs: dict[str, Any]) -> Any:
    """``node`` (part of a JSON schema) with ``#/$defs/…`` references replaced by their
    definitions (the trigger models are not recursive)."""
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return _inlined(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inlined(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inlined(item, defs) for item in node]
    return node


def _create_body_schema() -> dict[str, Any]:
    """The create body for OpenAPI: one trigger order or a list of them. The route reads the raw
    body (to keep the error of the shape the client chose), so FastAPI cannot derive it; the
    schema is self-contained, as the operation cannot add its models to the components."""
    schema = _CREATE.json_schema(by_alias=True)
    inlined: dict[str, Any] = _inlined(schema, schema.get("$defs", {}))
    description = "One trigger order, or a list created together (a bracket shares an ocoGroup)."
    return {"title": "TriggerCreateBody", "description": description, **inlined}


_CREATE_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": _create_body_schema()}},
    }
}


def _spec(body: TriggerCreate) -> TriggerSpec:
    c, o = body.condition, body.order
    return TriggerSpec(
        client_id=body.client_id,
        account_id=body.account_id,
        symbol=body.symbol,
        condition=ConditionSpec(
            type=c.type,
            level=c.level,
            percent=c.percent,
            amount=c.amount,
            reference_price=c.reference_price,
            direction=None if c.direction is None else Direction(c.direction),
            activation_price=c.activation_price,
        ),
        order=OrderTemplate(
            side=Side(o.side),
            order_type=OrderType(o.type),
            quantity=o.quantity if isinstance(o.quantity, Decimal) else None,
            notional=o.notional,
            sell_all=o.quantity == "all",
            limit_price=o.limit_price,
        ),
        oco_group=body.oco_group,
        expires_at=body.expires_at,
    )


@router.post(
    "",
    status_code=201,
    response_model=Created,
    openapi_extra=_CREATE_OPENAPI,
    responses=errors(404, 409),
)
@grant("trigger_order.create", Role.CLIENT)
def create(services: ServicesDep, caller: CallerDep, body: Annotated[Any, Body()]) -> Created:
    """One trigger order, or a list created together (a bracket shares one ``ocoGroup``)."""
    try:
        parsed = _CREATE.validate_python(body)
    except ValidationError as exc:
        # Union branches put their type name in loc; keep the branch the body's shape chose.
        branch = "list[TriggerCreate]" if isinstance(body, list) else "TriggerCreate"
        errors = [
            {**e, "loc": tuple(p for p in e["loc"] if p != branch)}
            for e in exc.errors()
            if not e["loc"] or e["loc"][0] == branch
        ]
        raise RequestValidationError(errors or exc.errors()) from exc
    bodies = parsed if isinstance(parsed, list) else [parsed]
    records = services.trigger_orders.create([_spec(b) for b in bodies], caller=caller)
    shaped = [shape.trigger_order(r) for r in records]
    return ok(shaped if isinstance(parsed, list) else shaped[0])


@router.get("", response_model=Envelope[Page[TriggerOrderPublic]])
@grant("trigger_order.list", Role.OPERATOR, Role.CLIENT)
def search(
    services: ServicesDep,
    caller: CallerDep,
    client_id: ClientIdQuery = None,
    account_id: AccountIdQuery = None,
    symbol: Annotated[str | None, Query(max_length=16)] = None,
    status: Annotated[StatusName | None, Query()] = None,
    page_number: PageDep = 1,
    page_size: PageSizeDep = 50,
) -> Envelope[Page[TriggerOrderPublic]]:
    records, total = services.trigger_orders.search(
        client_id=client_id,
        account_id=account_id,
        symbol=symbol,
        status=status,
        page=page_number,
        page_size=page_size,
        caller=caller,
    )
    items = [shape.trigger_order(r) for r in records]
    return ok(page(items, total, page_number, page_size))


@router.get("/{trigger_id}", response_model=One, responses=errors(404))
@grant("trigger_order.get", Role.OPERATOR, Role.CLIENT)
def get(trigger_id: str, services: ServicesDep, caller: CallerDep) -> One:
    return ok(shape.trigger_order(services.trigger_orders.get(trigger_id, caller=caller)))


# PUT and PATCH both change only the fields given; each has its own OpenAPI operation.
@router.put(
    "/{trigger_id}",
    operation_id="update_trigger_order_put",
    response_model=One,
    responses=errors(404, 409),
)
@router.patch(
    "/{trigger_id}",
    operation_id="update_trigger_order",
    response_model=One,
    responses=errors(404, 409),
)
@grant("trigger_order.update", Role.CLIENT)
def update(trigger_id: str, body: TriggerUpdate, services: ServicesDep, caller: CallerDep) -> One:
    c = body.condition
    change = TriggerChange(
        level=None if c is None else c.level,
        percent=None if c is None else c.percent,
        amount=None if c is None else c.amount,
        reference_price=None if c is None else c.reference_price,
        activation_price=None if c is None else c.activation_price,
        expires_at=body.expires_at,
    )
    return ok(
        shape.trigger_order(services.trigger_orders.update(trigger_id, change, caller=caller))
    )


@router.post("/{trigger_id}/pause", response_model=One, responses=errors(404, 409))
@grant("trigger_order.pause", Role.CLIENT)
def pause(trigger_id: str, services: ServicesDep, caller: CallerDep) -> One:
    """Pause the trigger (and its OCO group): it does not fire until resumed."""
    return ok(shape.trigger_order(services.trigger_orders.pause(trigger_id, caller=caller)))


@router.post("/{trigger_id}/resume", response_model=One, responses=errors(404, 409))
@grant("trigger_order.resume", Role.CLIENT)
def resume(trigger_id: str, services: ServicesDep, caller: CallerDep) -> One:
    """Resume a paused trigger (and its OCO group); a trailing stop's mark catches up."""
    return ok(shape.trigger_order(services.trigger_orders.resume(trigger_id, caller=caller)))


@router.post("/{trigger_id}/cancel", response_model=One, responses=errors(404, 409))
@grant("trigger_order.cancel", Role.CLIENT)
def cancel(trigger_id: str, services: ServicesDep, caller: CallerDep) -> One:
    return ok(shape.trigger_order(services.trigger_orders.cancel(trigger_id, caller=caller)))


@router.delete("/{trigger_id}", response_model=One, responses=errors(404, 409))
@grant("trigger_order.cancel", Role.CLIENT)
def delete(trigger_id: str, services: ServicesDep, caller: CallerDep) -> One:
    return ok(shape.trigger_order(services.trigger_orders.cancel(trigger_id, caller=caller)))
