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

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from autopilot.services.records import StoredPrice
from autopilot.storage.bulk import key_in
from autopilot.storage.tables import UTCDateTime, securities
from autopilot.storage.tables import prices as p
from autopilot.storage.tables import trigger_price_floors as f

CHANNEL = "autopilot_prices"
"""The NOTIFY channel: a hint that prices were stored, for the workers' LISTEN."""
NO_FLOOR = 1  # rows stored before 0012 have revision 0 and count as evaluated

_UNSEEN = text(
    "prices.revision >= pg_snapshot_xmin(CAST(:s AS pg_snapshot))::text::bigint"
    " AND NOT pg_visible_in_snapshot(prices.revision::text::xid8, CAST(:s AS pg_snapshot))"
)


_RAISE_FLOORS = text(
    "INSERT INTO trigger_price_floors (symbol, revision, evaluated_by, updated_at)"
    " SELECT s, :floor, :by, :now FROM unnest(CAST(:symbols AS text[])) AS s"
    " ON CONFLICT (symbol) DO UPDATE SET"
    " revision = greatest(trigger_price_floors.revision, EXCLUDED.revision),"
    " evaluated_by = EXCLUDED.evaluated_by, updated_at = EXCLUDED.updated_at"
).bindparams(bindparam("now", type_=UTCDateTime()))


_ABOVE_FLOORS = text(
    "SELECT p.id, p.symbol, p.price, p.as_of"
    " FROM unnest(CAST(:symbols AS text[])) AS s(symbol)"
    " LEFT JOIN trigger_price_floors f ON f.symbol = s.symbol"
    " CROSS JOIN LATERAL (SELECT id, symbol, price, as_of FROM prices"
    "   WHERE prices.symbol = s.symbol AND prices.revision >= coalesce(f.revision, :none)) p"
    " ORDER BY p.id"
).columns(p.c.id, p.c.symbol, p.c.price, p.c.as_of)


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
        # One statement whatever the floors: each symbol's range of the (symbol, revision)
        # index from its own floor (a symbol without one has evaluated nothing yet).
        if self._pg:
            rows = self._c.execute(_ABOVE_FLOORS, {"symbols": wanted, "none": NO_FLOOR})
            return [_stored(r) for r in rows]
        column = p.c.id
        stmt = (
            select(p.c.id, p.c.symbol, p.c.price, p.c.as_of)
            .select_from(p.outerjoin(f, f.c.symbol == p.c.symbol))
            .where(
                key_in(self._c, p.c.symbol, wanted),
                column >= func.coalesce(f.c.revision, NO_FLOOR),
            )
            .order_by(p.c.id)
        )
        return [_stored(r) for r in self._c.execute(stmt)]

    def advance_floors(
        self, symbols: Iterable[str], cursor: object | None, evaluated_by: str, now: datetime
    ) -> None:
        wanted = sorted(set(symbols))  # one lock order for every writer: no deadlock
        if not wanted:
            return
        if cursor is None:
            cursor = self.cursor()
        floor = snapshot_xmin(cursor) if self._pg else int(str(cursor)) + 1
        if self._pg:  # one statement, compiled once, however many symbols: an array of them
            self._c.execute(
                _RAISE_FLOORS, {"symbols": wanted, "floor": floor, "by": evaluated_by, "now": now}
            )
            return
        insert = sqlite_insert
        stmt = insert(f).values(
            [
                {"symbol": s, "revision": floor, "evaluated_by": evaluated_by, "updated_at": now}
                for s in wanted
            ]
        )
        higher = func.max  # SQLite's two-argument max is scalar
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
