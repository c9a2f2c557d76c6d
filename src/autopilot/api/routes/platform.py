"""Clients, accounts, deposits, prices and securities."""

from __future__ import annotations

from fastapi import APIRouter

from autopilot.api.deps import IdPath, ServicesDep
from autopilot.api.envelope import ok
from autopilot.api.presenters import platform as shape
from autopilot.api.schemas.requests import (
    AccountCreate,
    ClientCreate,
    DepositCreate,
    PricesPost,
    SecurityPut,
)
from autopilot.api.schemas.responses import (
    AccountPublic,
    ClientPublic,
    Envelope,
    PricesRecorded,
    SecurityPublic,
)
from autopilot.services.platform import PriceTick

router = APIRouter(prefix="/api", tags=["platform"])
Account = Envelope[AccountPublic]
Client = Envelope[ClientPublic]


@router.post("/clients", status_code=201, response_model=Client)
def create_client(body: ClientCreate, services: ServicesDep) -> Client:
    return ok(shape.client(services.platform.create_client(body.name, body.email)))


@router.get("/clients/{client_id}", response_model=Client)
def get_client(client_id: IdPath, services: ServicesDep) -> Client:
    return ok(shape.client(services.platform.get_client(client_id)))


@router.post("/accounts", status_code=201, response_model=Account)
def open_account(body: AccountCreate, services: ServicesDep) -> Account:
    record = services.platform.open_account(body.client_id, body.currency)
    return ok(shape.account(services.platform.account(record.id)))


@router.get("/accounts/{account_id}", response_model=Account)
def get_account(account_id: IdPath, services: ServicesDep) -> Account:
    return ok(shape.account(services.platform.account(account_id)))


@router.post("/accounts/{account_id}/deposits", status_code=201, response_model=Account)
def deposit(account_id: IdPath, body: DepositCreate, services: ServicesDep) -> Account:
    services.platform.deposit(account_id, body.amount)
    return ok(shape.account(services.platform.account(account_id)))


@router.post("/market/prices", response_model=Envelope[PricesRecorded])
def post_prices(body: PricesPost, services: ServicesDep) -> Envelope[PricesRecorded]:
    ticks = [PriceTick(symbol=p.symbol, price=p.price, as_of=p.as_of) for p in body.prices]
    return ok(PricesRecorded(recorded=services.platform.record_prices(ticks)))


@router.put("/securities/{symbol}", response_model=Envelope[SecurityPublic])
def put_security(symbol: str, body: SecurityPut, services: ServicesDep) -> Envelope[SecurityPublic]:
    record = services.platform.set_security(
        symbol, tradable=body.tradable, fractionable=body.fractionable
    )
    return ok(shape.security(record))
