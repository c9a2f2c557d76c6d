"""Shaping records as the API's JSON: camelCase, money and quantities as strings."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from autopilot.domain.money import to_cents
from autopilot.services.platform import AccountView
from autopilot.services.records import (
    AccountRecord,
    ClientRecord,
    LogRecord,
    OrderRecord,
    RuleRecord,
    SecurityRecord,
)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def text(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return str(abs(value) if value == 0 else value)  # "-0" given as input shows as 0.00


def day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def moment(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def page(items: list[dict[str, Any]], total: int, number: int, size: int) -> dict[str, Any]:
    return {"items": items, "total": total, "page": number, "pageSize": size}


def client(record: ClientRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "email": record.email,
        "createdAt": moment(record.created_at),
    }


def account(record: AccountRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "clientId": record.client_id,
        "currency": record.currency,
        "cash": text(record.cash),
        "createdAt": moment(record.created_at),
        "updatedAt": moment(record.updated_at),
    }


def account_view(view: AccountView) -> dict[str, Any]:
    positions = []
    invested = Decimal("0.00")
    for position, price in view.positions:
        value = None if price is None else to_cents(position.quantity * price)
        invested += value or 0
        positions.append(
            {
                "symbol": position.symbol,
                "quantity": text(position.quantity),
                "costBasis": text(position.cost_basis),
                "price": text(price),
                "marketValue": text(value),
            }
        )
    return {
        **account(view.account),
        "positions": positions,
        "totalValue": text(view.account.cash + invested),
    }


def security(record: SecurityRecord) -> dict[str, Any]:
    return {
        "symbol": record.symbol,
        "tradable": record.tradable,
        "fractionable": record.fractionable,
        "lastPrice": text(record.last_price),
        "lastPriceAt": moment(record.last_price_at),
    }


def rule(record: RuleRecord) -> dict[str, Any]:
    r = record.rule
    s = r.schedule
    return {
        "id": r.id,
        "clientId": r.client_id,
        "accountId": r.account_id,
        "name": r.name,
        "amount": text(r.amount),
        "allocations": [{"symbol": a.symbol, "weight": text(a.weight)} for a in r.allocations],
        "frequency": s.frequency.value,
        # The day it really runs on, also where the client left it to the start date.
        "dayOfWeek": None if s.weekday is None else WEEKDAYS[s.weekday],
        "dayOfMonth": s.month_day,
        "holidayRule": s.holiday_rule.value,
        "startDate": day(s.start_date),
        "endDate": day(s.end_date),
        "maxTotalAmount": text(r.max_total_amount),
        "status": r.status.value,
        "isEnabled": r.is_enabled,
        "nextExecutionDate": day(r.next_execution_date),
        "executionCount": r.execution_count,
        "totalInvested": text(r.total_invested),
        "createdAt": moment(record.created_at),
        "updatedAt": moment(record.updated_at),
    }


def execution_log(record: LogRecord) -> dict[str, Any]:
    e = record.entry
    return {
        "id": record.id,
        "automationType": e.automation_type.value,
        "automationId": e.automation_id,
        "clientId": e.client_id,
        "executionDate": day(e.execution_date),
        "status": e.status.value,
        "orderIds": list(e.order_ids),
        "message": e.message,
        "error": e.error,
        "details": e.details,
        "triggeredBy": e.triggered_by,
        "attempt": e.attempt,
        "startedAt": moment(e.started_at),
        "finishedAt": moment(e.finished_at),
        "createdAt": moment(record.created_at),
    }


def order(record: OrderRecord) -> dict[str, Any]:
    o = record.order
    return {
        "id": o.id,
        "accountId": o.account_id,
        "clientId": record.client_id,
        "symbol": o.symbol,
        "side": o.side.value,
        "type": o.order_type.value,
        "quantity": text(o.quantity),
        "notional": text(o.notional),
        "limitPrice": text(o.limit_price),
        "status": o.status.value,
        "reservedAmount": text(o.reserved_amount),
        "filledQuantity": text(record.filled_quantity),
        "filledPrice": text(record.filled_price),
        "filledAmount": text(record.filled_amount),
        "rejectReason": record.reject_reason,
        "automationType": None if record.automation_type is None else record.automation_type.value,
        "automationId": record.automation_id,
        "createdAt": moment(record.created_at),
        "updatedAt": moment(record.updated_at),
        "submittedAt": moment(record.submitted_at),
        "filledAt": moment(record.filled_at),
    }
