"""Orders in the database: batched inserts, fills and queries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, func, or_, select

from autopilot.domain.orders import Order, OrderStatus, OrderType, Side
from autopilot.domain.outcomes import AutomationType
from autopilot.services.records import NewOrder, OrderChange, OrderRecord
from autopilot.storage.bulk import id_in, insert_rows, key_in, update_rows
from autopilot.storage.tables import open_order, pending_order
from autopilot.storage.tables import orders as t

_SIDES = {s.value: s for s in Side}
_TYPES = {t.value: t for t in OrderType}
_STATUSES = {s.value: s for s in OrderStatus}
# What an Order is made of: the submission stage reads these alone, not the fill and timestamps.
_ORDER_COLUMNS = [
    t.c[n]
    for n in (
        "id",
        "account_id",
        "symbol",
        "side",
        "order_type",
        "quantity",
        "notional",
        "limit_price",
        "reserved_amount",
        "status",
    )
]


def _order(row: Any) -> Order:
    return Order(
        id=row.id,
        account_id=row.account_id,
        symbol=row.symbol,
        side=_SIDES[row.side],
        order_type=_TYPES[row.order_type],
        quantity=row.quantity,
        notional=row.notional,
        limit_price=row.limit_price,
        reserved_amount=row.reserved_amount,
        status=_STATUSES[row.status],
    )


def _automation_type(value: str | None) -> AutomationType | None:
    return None if value is None else AutomationType(value)


def _record(row: Any) -> OrderRecord:
    return OrderRecord(
        order=_order(row),
        client_id=row.client_id,
        filled_quantity=row.filled_quantity,
        filled_price=row.filled_price,
        filled_amount=row.filled_amount,
        reject_reason=row.reject_reason,
        automation_type=None
        if row.automation_type is None
        else AutomationType(row.automation_type),
        automation_id=row.automation_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        submitted_at=row.submitted_at,
        filled_at=row.filled_at,
    )


class Orders:
    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._pg = connection.dialect.name == "postgresql"

    def add_many(self, new_orders: Sequence[NewOrder], now: datetime) -> None:
        if not new_orders:
            return
        # An enum's value read as `_value_`, the attribute behind `.value` (whose descriptor
        # is a Python call: a pass writes a few hundred thousand of these).
        rows = [
            {
                "id": (o := n.order).id,
                "account_id": o.account_id,
                "client_id": n.client_id,
                "symbol": o.symbol,
                "side": o.side._value_,
                "order_type": o.order_type._value_,
                "quantity": o.quantity,
                "notional": o.notional,
                "limit_price": o.limit_price,
                "reserved_amount": o.reserved_amount,
                "status": o.status._value_,
                "automation_type": None if n.automation_type is None else n.automation_type._value_,
                "automation_id": n.automation_id,
                "created_at": now,
                "updated_at": now,
            }
            for n in new_orders
        ]
        insert_rows(self._c, t, rows)

    def get(self, order_id: str) -> OrderRecord | None:
        row = self._c.execute(select(t).where(t.c.id == order_id)).first()
        return None if row is None else _record(row)

    def claim_open(self, order_ids: Iterable[str]) -> dict[str, OrderStatus]:
        """Lock those of the given orders that are still open; their current status by id.

        The lock (PostgreSQL; SQLite has one writer at a time) is what makes a submission
        idempotent: whoever holds it sees the order's true status before changing it.
        """
        ids = sorted(set(order_ids))
        if not ids:
            return {}
        stmt = select(t.c.id, t.c.status).where(
            t.c.status.in_([s.value for s in _OPEN]), key_in(self._c, t.c.id, ids)
        )
        if self._pg:
            stmt = stmt.with_for_update()
        rows = self._c.execute(stmt.order_by(t.c.id)).all()
        return {row.id: _STATUSES[row.status] for row in rows}

    def accounts_with_open_orders(self, account_ids: Iterable[int]) -> set[int]:
        """Those of the accounts that have an order still Pending or Submitted."""
        ids = sorted(set(account_ids))
        if not ids:
            return set()
        stmt = (
            select(t.c.account_id)
            .distinct()
            .where(id_in(self._c, t.c.account_id, ids), t.c.status.in_([s.value for s in _OPEN]))
        )
        return set(self._c.execute(stmt).scalars())

    def open_orders(
        self, *, status: OrderStatus, symbols: Iterable[str] | None = None, limit: int = 10_000
    ) -> list[Order]:
        """Up to `limit` orders in `status` (optionally of `symbols`), oldest first."""
        if status not in _OPEN:
            raise ValueError(f"not an open status: {status.value}")
        stmt = select(*_ORDER_COLUMNS).where(open_order(t), t.c.status == status.value)
        if symbols is not None:
            stmt = stmt.where(t.c.symbol.in_(sorted(set(symbols))))
        stmt = stmt.order_by(t.c.created_at, t.c.id).limit(limit)
        return [_order(r) for r in self._c.execute(stmt).all()]

    def pending(self, *, after: Order | None, limit: int) -> list[Order]:
        """Up to `limit` Pending orders past `after`, an account's orders together, sells first
        (a rebalance's buys count on its sells' proceeds): a range of ``ix_orders_pending``."""
        stmt = select(*_ORDER_COLUMNS).where(pending_order(t))
        if after is not None:
            a, side, i = after.account_id, after.side.value, after.id
            stmt = stmt.where(
                t.c.account_id >= a,  # where the range starts; the rest skips a's first orders
                or_(
                    t.c.account_id > a,
                    t.c.side < side,
                    and_(t.c.side == side, t.c.id > i),
                ),
            )
        stmt = stmt.order_by(t.c.account_id, t.c.side.desc(), t.c.id).limit(limit)
        return [_order(r) for r in self._c.execute(stmt).all()]

    def mark(self, changes: Sequence[OrderChange], now: datetime) -> None:
        if not changes:
            return
        rows = [
            {
                "id": u.id,
                "status": u.status.value,
                "filled_quantity": u.filled_quantity,
                "filled_price": u.filled_price,
                "filled_amount": u.filled_amount,
                "reject_reason": u.reject_reason,
                "updated_at": now,
                "submitted_at": now,
                "filled_at": now if u.status is OrderStatus.FILLED else None,
            }
            for u in changes
        ]
        update_rows(self._c, t, rows, key="id", keep_set=("submitted_at",))

    def search(
        self,
        *,
        client_id: int | None,
        account_id: int | None,
        status: str | None,
        symbol: str | None,
        automation_id: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[OrderRecord], int]:
        stmt: Select[Any] = select(t)
        for column, value in (
            (t.c.client_id, client_id),
            (t.c.account_id, account_id),
            (t.c.status, status),
            (t.c.symbol, symbol),
            (t.c.automation_id, automation_id),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        total = self._c.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        rows = self._c.execute(
            stmt.order_by(t.c.created_at.desc(), t.c.id).offset(offset).limit(limit)
        )
        return [_record(r) for r in rows], total


_OPEN = (OrderStatus.PENDING, OrderStatus.SUBMITTED)
