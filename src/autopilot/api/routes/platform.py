"""Clients, accounts, deposits, prices and securities."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from autopilot.api.deps import IdPath, ServicesDep
from autopilot.api.envelope import ok
from autopilot.api.presenters import common as presenters
from autopilot.api.schemas import (
    AccountCreate,
    ClientCreate,
    DepositCreate,
    PricesPost,
    SecurityPut,
)
from autopilot.services.platform import PriceTick

router = APIRouter(prefix="/api", tags=["platform"])


@router.post("/clients")
def create_client(body: ClientCreate, services: ServicesDep) -> JSONResponse:
    return ok(presenters.client(services.platform.create_client(body.name, body.email)), 201)


@router.get("/clients/{client_id}")
def get_client(client_id: IdPath, services: ServicesDep) -> JSONResponse:
    return ok(presenters.client(services.platform.get_client(client_id)))


@router.post("/accounts")
def open_account(body: AccountCreate, services: ServicesDep) -> JSONResponse:
    record = services.platform.open_account(body.client_id, body.currency)
    return ok(presenters.account_view(services.platform.account(record.id)), 201)


@router.get("/accounts/{account_id}")
def get_account(account_id: IdPath, services: ServicesDep) -> JSONResponse:
    return ok(presenters.account_view(services.platform.account(account_id)))


@router.post("/accounts/{account_id}/deposits")
def deposit(account_id: IdPath, body: DepositCreate, services: ServicesDep) -> JSONResponse:
    services.platform.deposit(account_id, body.amount)
    return ok(presenters.account_view(services.platform.account(account_id)), 201)


@router.post("/market/prices")
def post_prices(body: PricesPost, services: ServicesDep) -> JSONResponse:
    ticks = [PriceTick(symbol=p.symbol, price=p.price, as_of=p.as_of) for p in body.prices]
    return ok({"recorded": services.platform.record_prices(ticks)})


@router.put("/securities/{symbol}")
def put_security(symbol: str, body: SecurityPut, services: ServicesDep) -> JSONResponse:
    record = services.platform.set_security(
        symbol, tradable=body.tradable, fractionable=body.fractionable
    )
    return ok(presenters.security(record))
