"""Shaping clients, accounts, securities and orders."""

from __future__ import annotations

from decimal import Decimal

from autopilot.api.presenters.common import amount, at, moment, text
from autopilot.api.schemas.responses import (
    AccountPublic,
    ClientPublic,
    OrderPublic,
    PositionPublic,
    SecurityPublic,
)
from autopilot.domain.money import ZERO, to_cents
from autopilot.services.platform import AccountView
from autopilot.services.records import ClientRecord, OrderRecord, SecurityRecord


def client(record: ClientRecord) -> ClientPublic:
    return ClientPublic(
        id=record.id, name=record.name, email=record.email, created_at=at(record.created_at)
    )


def account(view: AccountView) -> AccountPublic:
    positions = []
    invested: Decimal = ZERO
    for position, price in view.positions:
        value = None if price is None else to_cents(position.quantity * price)
        invested += value or 0
        positions.append(
            PositionPublic(
                symbol=position.symbol,
                quantity=amount(position.quantity),
                cost_basis=amount(position.cost_basis),
                price=text(price),
                market_value=text(value),
            )
        )
    record = view.account
    return AccountPublic(
        id=record.id,
        client_id=record.client_id,
        currency=record.currency,
        cash=amount(record.cash),
        held_cash=amount(record.held),
        available_cash=amount(record.available),
        created_at=at(record.created_at),
        updated_at=at(record.updated_at),
        positions=positions,
        total_value=amount(record.cash + invested),
    )


def security(record: SecurityRecord) -> SecurityPublic:
    return SecurityPublic(
        symbol=record.symbol,
        tradable=record.tradable,
        fractionable=record.fractionable,
        last_price=text(record.last_price),
        last_price_at=moment(record.last_price_at),
    )


def order(record: OrderRecord) -> OrderPublic:
    o = record.order
    return OrderPublic(
        id=o.id,
        account_id=o.account_id,
        client_id=record.client_id,
        symbol=o.symbol,
        side=o.side.value,
        type=o.order_type.value,
        quantity=text(o.quantity),
        notional=text(o.notional),
        limit_price=text(o.limit_price),
        status=o.status.value,
        reserved_amount=amount(o.reserved_amount),
        filled_quantity=text(record.filled_quantity),
        filled_price=text(record.filled_price),
        filled_amount=text(record.filled_amount),
        reject_reason=record.reject_reason,
        automation_type=None if record.automation_type is None else record.automation_type.value,
        automation_id=record.automation_id,
        created_at=at(record.created_at),
        updated_at=at(record.updated_at),
        submitted_at=moment(record.submitted_at),
        filled_at=moment(record.filled_at),
    )
