"""Clients, accounts, deposits, prices and securities."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from autopilot.api.deps import IdPath, ServicesDep, SymbolPath
from autopilot.api.envelope import ok
from autopilot.api.openapi import errors
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
from autopilot.api.security import CallerDep, authorize, grant
from autopilot.services.access import Role
from autopilot.services.platform import PriceTick

router = APIRouter(prefix="/api", tags=["platform"], dependencies=[Depends(authorize)])
Account = Envelope[AccountPublic]
Client = Envelope[ClientPublic]


@router.post("/clients", status_code=201, response_model=Client)
@grant("client.create")
def create_client(body: ClientCreate, services: ServicesDep, caller: CallerDep) -> Client:
    return ok(shape.client(services.platform.create_client(body.name, body.email, caller=caller)))


@router.get("/clients/{client_id}", response_model=Client, responses=errors(404))
@grant("client.get", Role.OPERATOR, Role.CLIENT)
def get_client(client_id: IdPath, services: ServicesDep, caller: CallerDep) -> Client:
    return ok(shape.client(services.platform.get_client(client_id, caller=caller)))


@router.post("/accounts", status_code=201, response_model=Account, responses=errors(404))
@grant("account.create", Role.CLIENT)
def open_account(body: AccountCreate, services: ServicesDep, caller: CallerDep) -> Account:
    record = services.platform.open_account(body.client_id, body.currency, caller=caller)
    return ok(shape.account(services.platform.account(record.id, caller=caller)))


@router.get("/accounts/{account_id}", response_model=Account, responses=errors(404))
@grant("account.get", Role.OPERATOR, Role.CLIENT)
def get_account(account_id: IdPath, services: ServicesDep, caller: CallerDep) -> Account:
    return ok(shape.account(services.platform.account(account_id, caller=caller)))


@router.post(
    "/accounts/{account_id}/deposits",
    status_code=201,
    response_model=Account,
    responses=errors(404),
)
@grant("account.deposit", Role.CLIENT)
def deposit(
    account_id: IdPath, body: DepositCreate, services: ServicesDep, caller: CallerDep
) -> Account:
    services.platform.deposit(account_id, body.amount, caller=caller)
    return ok(shape.account(services.platform.account(account_id, caller=caller)))


@router.post("/market/prices", response_model=Envelope[PricesRecorded])
@grant("market.prices", Role.MARKET_DATA)
def post_prices(
    body: PricesPost, services: ServicesDep, caller: CallerDep
) -> Envelope[PricesRecorded]:
    ticks = [PriceTick(symbol=p.symbol, price=p.price, as_of=p.as_of) for p in body.prices]
    return ok(PricesRecorded(recorded=services.platform.record_prices(ticks, caller=caller)))


@router.put("/securities/{symbol}", response_model=Envelope[SecurityPublic])
@grant("security.update")
def put_security(
    symbol: SymbolPath, body: SecurityPut, services: ServicesDep, caller: CallerDep
) -> Envelope[SecurityPublic]:
    record = services.platform.set_security(
        symbol, tradable=body.tradable, fractionable=body.fractionable, caller=caller
    )
    return ok(shape.security(record))
