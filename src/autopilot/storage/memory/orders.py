"""Orders, in memory."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from autopilot.domain.orders import OPEN_STATUSES, Order, OrderStatus
from autopilot.services.records import NewOrder, OrderChange, OrderRecord
from autopilot.storage.memory.tables import Tables, cash, micros, refused


def _stored(order: Order) -> Order:
    return replace(
        order,
        quantity=None if order.quantity is None else micros(order.quantity),
        notional=None if order.notional is None else cash(order.notional),
        limit_price=None if order.limit_price is None else micros(order.limit_price),
        reserved_amount=cash(order.reserved_amount),
    )


class MemoryOrders:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def add_many(self, new_orders: Sequence[NewOrder], now: datetime) -> None:
        for new in new_orders:
            if new.order.id in self._t.orders:
                raise refused(
                    f"duplicate key value violates unique constraint pk_orders: {new.order.id}"
                )
            self._t.orders[new.order.id] = OrderRecord(
                order=_stored(new.order),
                client_id=new.client_id,
                filled_quantity=None,
                filled_price=None,
                filled_amount=None,
                reject_reason=None,
                automation_type=new.automation_type,
                automation_id=new.automation_id,
                created_at=now,
                updated_at=now,
                submitted_at=None,
                filled_at=None,
            )

    def get(self, order_id: str) -> OrderRecord | None:
        return self._t.orders.get(order_id)

    def claim_open(self, order_ids: Iterable[str]) -> dict[str, OrderStatus]:
        found = (self._t.orders.get(i) for i in sorted(set(order_ids)))
        return {r.order.id: r.order.status for r in found if r and r.order.status in OPEN_STATUSES}

    def accounts_with_open_orders(self, account_ids: Iterable[int]) -> set[int]:
        wanted = set(account_ids)
        return {
            r.order.account_id
            for r in self._t.orders.values()
            if r.order.account_id in wanted and r.order.status in OPEN_STATUSES
        }

    def open_orders(
        self, *, status: OrderStatus, symbols: Iterable[str] | None = None, limit: int = 10_000
    ) -> list[Order]:
        wanted = None if symbols is None else set(symbols)
        found = [
            r
            for r in self._t.orders.values()
            if r.order.status is status and (wanted is None or r.order.symbol in wanted)
        ]
        found.sort(key=lambda r: (r.created_at, r.order.id))
        return [r.order for r in found[:limit]]

    def pending(self, *, after: Order | None, limit: int) -> list[Order]:
        def key(order: Order) -> tuple[int, int, str]:
            return (order.account_id, 0 if order.side.value == "sell" else 1, order.id)

        found = sorted(
            (r.order for r in self._t.orders.values() if r.order.status is OrderStatus.PENDING),
            key=key,
        )
        if after is not None:
            found = [o for o in found if key(o) > key(after)]
        return found[:limit]

    def mark(self, changes: Sequence[OrderChange], now: datetime) -> None:
        for change in changes:
            current = self._t.orders.get(change.id)
            if current is None:
                continue
            self._t.orders[change.id] = replace(
                current,
                order=replace(current.order, status=change.status),
                filled_quantity=None
                if change.filled_quantity is None
                else micros(change.filled_quantity),
                filled_price=None if change.filled_price is None else micros(change.filled_price),
                filled_amount=None if change.filled_amount is None else cash(change.filled_amount),
                reject_reason=change.reject_reason,
                updated_at=now,
                submitted_at=current.submitted_at or now,
                filled_at=now if change.status is OrderStatus.FILLED else None,
            )

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
        found = [
            r
            for r in self._t.orders.values()
            if (client_id is None or r.client_id == client_id)
            and (account_id is None or r.order.account_id == account_id)
            and (status is None or r.order.status.value == status)
            and (symbol is None or r.order.symbol == symbol)
            and (automation_id is None or r.automation_id == automation_id)
        ]
        # Newest first, then by id, as the SQL query orders them.
        found.sort(key=lambda r: r.order.id)
        found.sort(key=lambda r: r.created_at, reverse=True)
        return found[offset : offset + limit], len(found)
