"""The prices stored since a cursor, the symbols' floors, and the workers' wake-up (0012).

PostgreSQL: a price's ``revision`` is its transaction's id and a cursor is a snapshot
(``pg_current_snapshot()``), exactly as in the triggers' change feed (``trigger_repo``): the
prices below the snapshot's xmin had ended when it was taken, and of the others it saw those it
saw. A floor is the xmin of a snapshot every price of which was evaluated, so "below the floor"
is "evaluated" even for transactions that committed out of id order.

SQLite (no workers): one writer at a time commits ids in order, so the largest id seen is the
cursor and a floor is the next id.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from autopilot.services.records import StoredPrice
from autopilot.storage.tables import prices as p
from autopilot.storage.tables import securities
from autopilot.storage.tables import trigger_price_floors as f

CHANNEL = "autopilot_prices"
"""The NOTIFY channel: a hint that prices were stored, for the workers' LISTEN."""
NO_FLOOR = 1  # rows stored before 0012 have revision 0 and count as evaluated

_UNSEEN = text(
    "prices.revision >= pg_snapshot_xmin(CAST(:s AS pg_snapshot))::text::bigint"
    " AND NOT pg_visible_in_snapshot(prices.revision::text::xid8, CAST(:s AS pg_snapshot))"
)


def snapshot_xmin(cursor: object) -> int:
    """The oldest transaction a PostgreSQL snapshot (``xmin:xmax:xip,…``) still saw running."""
    assert isinstance(cursor, str)
    return int(cursor.split(":", 1)[0])


class PriceFeed:
    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._pg = connection.dialect.name == "postgresql"

    def cursor(self) -> object:
        if self._pg:
            snapshot: str = self._c.execute(text("SELECT pg_current_snapshot()::text")).scalar_one()
            return snapshot
        latest: int = self._c.execute(select(func.coalesce(func.max(p.c.id), 0))).scalar_one()
        return latest

    def since(self, cursor: object) -> list[StoredPrice]:
        stmt = select(p.c.id, p.c.symbol, p.c.price, p.c.as_of)
        if self._pg:
            stmt = stmt.where(_UNSEEN.bindparams(s=cursor)).order_by(p.c.revision, p.c.id)
        else:
            assert isinstance(cursor, int)
            stmt = stmt.where(p.c.id > cursor).order_by(p.c.id)
        return [_stored(r) for r in self._c.execute(stmt)]

    def from_floors(self, symbols: Iterable[str]) -> list[StoredPrice]:
        wanted = sorted(set(symbols))
        if not wanted:
            return []
        floors = dict(
            self._c.execute(select(f.c.symbol, f.c.revision).where(f.c.symbol.in_(wanted))).all()
        )
        # Floors are written for many symbols at once, so few distinct values: one range per
        # value (the (symbol, revision) index), not one statement per symbol.
        by_floor: dict[int, list[str]] = defaultdict(list)
        for symbol in wanted:
            by_floor[int(floors.get(symbol, NO_FLOOR))].append(symbol)
        column = p.c.revision if self._pg else p.c.id
        found: list[StoredPrice] = []
        for floor, group in sorted(by_floor.items()):
            stmt = select(p.c.id, p.c.symbol, p.c.price, p.c.as_of).where(
                p.c.symbol.in_(group), column >= floor
            )
            found.extend(_stored(r) for r in self._c.execute(stmt))
        return sorted(found, key=lambda s: s.id)

    def advance_floors(
        self, symbols: Iterable[str], cursor: object | None, evaluated_by: str, now: datetime
    ) -> None:
        wanted = sorted(set(symbols))  # one lock order for every writer: no deadlock
        if not wanted:
            return
        if cursor is None:
            cursor = self.cursor()
        floor = snapshot_xmin(cursor) if self._pg else int(str(cursor)) + 1
        insert = pg_insert if self._pg else sqlite_insert
        stmt = insert(f).values(
            [
                {"symbol": s, "revision": floor, "evaluated_by": evaluated_by, "updated_at": now}
                for s in wanted
            ]
        )
        higher = func.greatest if self._pg else func.max  # SQLite's two-argument max is scalar
        stmt = stmt.on_conflict_do_update(
            index_elements=[f.c.symbol],
            set_={
                "revision": higher(f.c.revision, stmt.excluded.revision),
                "evaluated_by": stmt.excluded.evaluated_by,
                "updated_at": stmt.excluded.updated_at,
            },
        )
        self._c.execute(stmt)

    def symbols(self) -> list[str]:
        return list(
            self._c.execute(select(securities.c.symbol).order_by(securities.c.symbol)).scalars()
        )

    def signal(self) -> None:
        if self._pg:
            self._c.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


def _stored(row: Any) -> StoredPrice:
    return StoredPrice(id=row.id, symbol=row.symbol, price=row.price, as_of=row.as_of)
