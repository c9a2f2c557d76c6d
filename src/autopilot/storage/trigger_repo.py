"""Trigger orders in the database: mapping to JSON columns, conditional claims, set-based writes.

A trigger fires once because its claim is a conditional update (``… WHERE status = 'Active'``):
of two processes that both see it fire, the second finds the row no longer active and skips it;
a trigger paused, cancelled or expired meanwhile is skipped the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Select, and_, func, or_, select, text, update

from autopilot.domain.orders import OrderType, Side
from autopilot.domain.triggers.conditions import (
    OPEN_STATUSES,
    Condition,
    Direction,
    PercentChange,
    PriceAbove,
    PriceBelow,
    TrailingStop,
    Trigger,
    TriggerStatus,
)
from autopilot.domain.triggers.order import OrderTemplate
from autopilot.services.records import TriggerOrderRecord
from autopilot.storage.bulk import update_rows
from autopilot.storage.tables import trigger_orders as t

ACTIVE = TriggerStatus.ACTIVE.value
OPEN = sorted(s.value for s in OPEN_STATUSES)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def condition_json(condition: Condition) -> dict[str, Any]:
    """The condition as the API spells it (the trailing mark lives in its own column)."""
    match condition:
        case PriceAbove(level=level):
            return {"type": "priceAbove", "level": str(level)}
        case PriceBelow(level=level):
            return {"type": "priceBelow", "level": str(level)}
        case PercentChange():
            return {
                "type": "percentChange",
                "percent": str(condition.percent),
                "direction": condition.direction.value,
                "referencePrice": str(condition.reference_price),
            }
        case TrailingStop():
            return {
                "type": "trailingStop",
                "percent": _text(condition.percent),
                "amount": _text(condition.amount),
                "activationPrice": _text(condition.activation_price),
            }


def condition_from(data: dict[str, Any], side: Side, mark: Decimal | None) -> Condition:
    kind = data["type"]
    if kind == "priceAbove":
        return PriceAbove(level=Decimal(data["level"]))
    if kind == "priceBelow":
        return PriceBelow(level=Decimal(data["level"]))
    if kind == "percentChange":
        return PercentChange(
            percent=Decimal(data["percent"]),
            direction=Direction(data["direction"]),
            reference_price=Decimal(data["referencePrice"]),
        )
    return TrailingStop(
        side=side,
        percent=_dec(data.get("percent")),
        amount=_dec(data.get("amount")),
        activation_price=_dec(data.get("activationPrice")),
        mark=None if mark is None else mark.normalize().quantize(Decimal("0.0001")),
    )


def order_json(order: OrderTemplate) -> dict[str, Any]:
    quantity: str | None = "all" if order.sell_all else _text(order.quantity)
    return {
        "side": order.side.value,
        "type": order.order_type.value,
        "quantity": quantity,
        "notional": _text(order.notional),
        "limitPrice": _text(order.limit_price),
    }


def order_from(data: dict[str, Any]) -> OrderTemplate:
    quantity = data.get("quantity")
    return OrderTemplate(
        side=Side(data["side"]),
        order_type=OrderType(data["type"]),
        quantity=None if quantity in (None, "all") else Decimal(quantity),
        notional=_dec(data.get("notional")),
        sell_all=quantity == "all",
        limit_price=_dec(data.get("limitPrice")),
    )


def _mark(condition: Condition) -> Decimal | None:
    return condition.mark if isinstance(condition, TrailingStop) else None


def _record(row: Any) -> TriggerOrderRecord:
    side = Side(row.side)
    trigger = Trigger(
        id=row.id,
        account_id=row.account_id,
        symbol=row.symbol,
        condition=condition_from(row.condition, side, row.mark),
        oco_group=row.oco_group,
        expires_at=row.expires_at,
        status=TriggerStatus(row.status),
    )
    return TriggerOrderRecord(
        trigger=trigger,
        client_id=row.client_id,
        order=order_from(row.order),
        triggered_at=row.triggered_at,
        trigger_price=row.trigger_price,
        order_id=row.order_id,
        failure_reason=row.failure_reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class TriggerOrders:
    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._pg = connection.dialect.name == "postgresql"

    def add_many(self, records: Sequence[TriggerOrderRecord]) -> None:
        if not records:
            return
        rows = [
            {
                "id": r.trigger.id,
                "client_id": r.client_id,
                "account_id": r.trigger.account_id,
                "symbol": r.trigger.symbol,
                "side": r.order.side.value,
                "condition": condition_json(r.trigger.condition),
                "order": order_json(r.order),
                "oco_group": r.trigger.oco_group,
                "expires_at": r.trigger.expires_at,
                "status": r.trigger.status.value,
                "mark": _mark(r.trigger.condition),
                "created_at": r.created_at,
                "updated_at": r.updated_at,
            }
            for r in records
        ]
        self._c.execute(t.insert(), rows)

    def get(self, trigger_id: str, *, lock: bool = False) -> TriggerOrderRecord | None:
        stmt = select(t).where(t.c.id == trigger_id)
        if lock and self._pg:
            stmt = stmt.with_for_update()
        row = self._c.execute(stmt).first()
        return None if row is None else _record(row)

    def many(self, trigger_ids: Iterable[str]) -> dict[str, TriggerOrderRecord]:
        wanted = sorted(set(trigger_ids))
        if not wanted:
            return {}
        rows = self._c.execute(select(t).where(t.c.id.in_(wanted)))
        return {r.id: _record(r) for r in rows}

    def search(
        self,
        *,
        client_id: int | None = None,
        account_id: int | None = None,
        symbol: str | None = None,
        status: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[TriggerOrderRecord], int]:
        stmt: Select[Any] = select(t)
        for column, value in (
            (t.c.client_id, client_id),
            (t.c.account_id, account_id),
            (t.c.symbol, symbol),
            (t.c.status, status),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        total = self._c.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        rows = self._c.execute(stmt.order_by(t.c.created_at, t.c.id).offset(offset).limit(limit))
        return [_record(r) for r in rows], total

    def active(
        self, *, client_id: int | None = None, symbols: Iterable[str] | None = None
    ) -> list[TriggerOrderRecord]:
        """Every Active trigger (of one client, on ``symbols``), in id order: what the index is
        built from."""
        stmt = select(t).where(t.c.status == ACTIVE)
        if client_id is not None:
            stmt = stmt.where(t.c.client_id == client_id)
        if symbols is not None:
            stmt = stmt.where(t.c.symbol.in_(sorted(set(symbols))))
        return [_record(r) for r in self._c.execute(stmt.order_by(t.c.id))]

    def lock_for_fire(
        self, trigger_ids: Iterable[str], groups: Iterable[tuple[int, str]]
    ) -> dict[str, TriggerOrderRecord]:
        """The fired triggers and every member of their OCO groups, rows locked in id order.

        One statement locks them all (PostgreSQL), so two processes firing members of one group,
        or the same triggers in another order, queue behind each other instead of deadlocking;
        the second then finds its members claimed or cancelled.
        """
        ids = sorted(set(trigger_ids))
        keys = sorted(set(groups))
        if not ids:
            return {}
        matches = [t.c.id.in_(ids)] + [
            and_(t.c.client_id == client, t.c.oco_group == group) for client, group in keys
        ]
        stmt = select(t).where(or_(*matches)).order_by(t.c.id)
        if self._pg:
            stmt = stmt.with_for_update()
        return {r.id: _record(r) for r in self._c.execute(stmt)}

    def oco_members(
        self,
        client_id: int,
        oco_group: str,
        statuses: Iterable[TriggerStatus] = OPEN_STATUSES,
    ) -> list[TriggerOrderRecord]:
        """The members of a client's OCO group in ``statuses`` (by default Active or Paused)."""
        stmt = select(t).where(
            t.c.client_id == client_id,
            t.c.oco_group == oco_group,
            t.c.status.in_(sorted(s.value for s in statuses)),
        )
        return [_record(r) for r in self._c.execute(stmt.order_by(t.c.id))]

    def expiring(self, at: datetime) -> list[TriggerOrderRecord]:
        """The Active or Paused triggers whose expiry is at or before ``at``, in id order."""
        stmt = select(t).where(t.c.status.in_(OPEN), t.c.expires_at <= at)
        return [_record(r) for r in self._c.execute(stmt.order_by(t.c.id))]

    def next_expiry(self) -> datetime | None:
        """The earliest expiry of an Active or Paused trigger, or None."""
        stmt = select(func.min(t.c.expires_at)).where(t.c.status.in_(OPEN))
        value: datetime | None = self._c.execute(stmt).scalar_one_or_none()
        return value

    def claim(self, trigger_id: str, price: Decimal, now: datetime) -> bool:
        """Mark an Active trigger Triggered; False when it is no longer Active (claimed elsewhere,
        paused, cancelled or expired): the caller skips it."""
        result = self._c.execute(
            update(t)
            .where(t.c.id == trigger_id, t.c.status == ACTIVE)
            .values(
                status=TriggerStatus.TRIGGERED.value,
                triggered_at=now,
                trigger_price=price,
                updated_at=now,
            )
        )
        return result.rowcount == 1

    def set_outcome(
        self, trigger_id: str, now: datetime, *, order_id: str | None, failure: str | None
    ) -> None:
        """Record what a claimed trigger did: the order it placed, or why it failed."""
        values: dict[str, Any] = {"order_id": order_id, "updated_at": now}
        if failure is not None:
            values |= {"status": TriggerStatus.FAILED.value, "failure_reason": failure}
        self._c.execute(update(t).where(t.c.id == trigger_id).values(**values))

    def close_open(
        self, trigger_ids: Iterable[str], status: TriggerStatus, now: datetime
    ) -> list[str]:
        """Move the still Active or Paused ones of ``trigger_ids`` to ``status`` (Cancelled,
        Expired); the ids that moved."""
        return self.transition(trigger_ids, OPEN_STATUSES, status, now)

    def transition(
        self,
        trigger_ids: Iterable[str],
        sources: Iterable[TriggerStatus],
        target: TriggerStatus,
        now: datetime,
    ) -> list[str]:
        """Move those of ``trigger_ids`` still in one of ``sources`` to ``target``, in one
        conditional update (a row another process moved meanwhile is left alone); the ids that
        moved."""
        wanted = sorted(set(trigger_ids))
        if not wanted:
            return []
        stmt = (
            update(t)
            .where(t.c.id.in_(wanted), t.c.status.in_(sorted(s.value for s in sources)))
            .values(status=target.value, updated_at=now)
            .returning(t.c.id)
        )
        return sorted(r.id for r in self._c.execute(stmt))

    def save_marks(self, marks: Sequence[tuple[str, Decimal]], now: datetime) -> None:
        """Store trailing-stop marks, only ever ratcheting: a sell stop's mark never falls and a
        buy stop's never rises, whichever process's index (possibly behind) reports it."""
        if not marks:
            return
        wanted = dict(marks)
        rows = self._c.execute(select(t.c.id, t.c.side, t.c.mark).where(t.c.id.in_(sorted(wanted))))
        changed = []
        for row in rows:
            new = wanted[row.id]
            old = row.mark
            better = old is None or (new > old if row.side == Side.SELL.value else new < old)
            if better:
                changed.append({"id": row.id, "mark": new, "updated_at": now})
        update_rows(self._c, t, changed, key="id")

    def change_cursor(self) -> object:
        """Where the change feed stands now: what :meth:`changed_since` reads from next.

        Taken before the read it guards (the index's load, or the previous read of changes), so
        a change committed in between is read twice, never missed.
        """
        if self._pg:
            now = text("SELECT pg_current_snapshot()::text")
            snapshot: str = self._c.execute(now).scalar_one()
            return snapshot
        latest = select(func.coalesce(func.max(t.c.revision), 0))
        revision: int = self._c.execute(latest).scalar_one()
        return revision

    def changed_since(self, cursor: object) -> list[str]:
        """The ids of the triggers inserted or changed (beyond a trailing mark) by the
        transactions ``cursor`` did not see (migration 0008 sets the revisions)."""
        if self._pg:
            # Revisions are transaction ids: the ones below the snapshot's xmin had ended when
            # it was taken, and of the others, the ones it saw are read already.
            stmt = text(
                "SELECT id FROM trigger_orders"
                " WHERE revision >= pg_snapshot_xmin(CAST(:s AS pg_snapshot))::text::bigint"
                " AND NOT pg_visible_in_snapshot(revision::text::xid8, CAST(:s AS pg_snapshot))"
            )
            return sorted(self._c.execute(stmt, {"s": cursor}).scalars())
        assert isinstance(cursor, int)
        return sorted(self._c.execute(select(t.c.id).where(t.c.revision > cursor)).scalars())

    def replace(self, record: TriggerOrderRecord, now: datetime) -> None:
        """Write an edited trigger's condition, mark and expiry (PATCH)."""
        trigger = record.trigger
        self._c.execute(
            update(t)
            .where(t.c.id == trigger.id)
            .values(
                condition=condition_json(trigger.condition),
                mark=_mark(trigger.condition),
                expires_at=trigger.expires_at,
                updated_at=now,
            )
        )


def with_mark(record: TriggerOrderRecord, mark: Decimal | None) -> TriggerOrderRecord:
    """The record with its trailing stop at ``mark`` (records of other conditions unchanged)."""
    condition = record.trigger.condition
    if not isinstance(condition, TrailingStop):
        return record
    return replace(record, trigger=replace(record.trigger, condition=replace(condition, mark=mark)))
