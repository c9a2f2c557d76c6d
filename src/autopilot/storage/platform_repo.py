"""Clients, accounts, positions, securities and prices in the database."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from autopilot.domain.quotes import Quote
from autopilot.services.records import (
    AccountRecord,
    Balance,
    ClientRecord,
    PositionRecord,
    SecurityRecord,
)
from autopilot.storage.bulk import id_in, insert_rows, update_rows
from autopilot.storage.tables import accounts, clients, positions, prices, securities


class Clients:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def add(self, name: str, email: str | None, now: datetime) -> ClientRecord:
        new_id = self._c.execute(
            clients.insert().values(name=name, email=email, created_at=now).returning(clients.c.id)
        ).scalar_one()
        return ClientRecord(id=new_id, name=name, email=email, created_at=now)

    def get(self, client_id: int) -> ClientRecord | None:
        row = self._c.execute(select(clients).where(clients.c.id == client_id)).first()
        if row is None:
            return None
        return ClientRecord(id=row.id, name=row.name, email=row.email, created_at=row.created_at)


class Accounts:
    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._pg = connection.dialect.name == "postgresql"

    def add(self, client_id: int, currency: str, now: datetime) -> AccountRecord:
        values = {
            "client_id": client_id,
            "currency": currency,
            "cash": Decimal("0.00"),
            "held": Decimal("0.00"),
            "created_at": now,
            "updated_at": now,
        }
        new_id = self._c.execute(
            accounts.insert().values(**values).returning(accounts.c.id)
        ).scalar_one()
        return AccountRecord(
            id=new_id,
            client_id=client_id,
            currency=currency,
            cash=Decimal("0.00"),
            held=Decimal("0.00"),
            created_at=now,
            updated_at=now,
        )

    def get(self, account_id: int, *, lock: bool = False) -> AccountRecord | None:
        stmt = select(accounts).where(accounts.c.id == account_id)
        if lock and self._pg:
            stmt = stmt.with_for_update()
        row = self._c.execute(stmt).first()
        if row is None:
            return None
        return AccountRecord(
            id=row.id,
            client_id=row.client_id,
            currency=row.currency,
            cash=row.cash,
            held=row.held,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def lock_balances(self, account_ids: Iterable[int]) -> dict[int, Balance]:
        ids = sorted(set(account_ids))
        if not ids:
            return {}
        stmt = select(accounts.c.id, accounts.c.cash, accounts.c.held)
        stmt = stmt.where(id_in(self._c, accounts.c.id, ids)).order_by(accounts.c.id)
        if self._pg:
            stmt = stmt.with_for_update()
        rows = self._c.execute(stmt).all()  # one fetch, not one call per row
        return {i: Balance(cash, held) for i, cash, held in rows}

    def lock_available(self, account_ids: Iterable[int]) -> dict[int, Decimal]:
        return {a: b.available for a, b in self.lock_balances(account_ids).items()}

    def set_cash(self, cash: Mapping[int, Decimal], now: datetime) -> None:
        if not cash:
            return
        rows = [{"id": k, "cash": v, "updated_at": now} for k, v in sorted(cash.items())]
        update_rows(self._c, accounts, rows, key="id")

    def set_balances(self, balances: Mapping[int, Balance], now: datetime) -> None:
        if not balances:
            return
        rows = [
            {"id": k, "cash": v.cash, "held": v.held, "updated_at": now}
            for k, v in sorted(balances.items())
        ]
        update_rows(self._c, accounts, rows, key="id")

    def hold(self, amounts: Mapping[int, Decimal], now: datetime) -> None:
        self._add_to_holds(amounts, now, 1)

    def release(self, amounts: Mapping[int, Decimal], now: datetime) -> None:
        self._add_to_holds(amounts, now, -1)

    def _add_to_holds(self, amounts: Mapping[int, Decimal], now: datetime, sign: int) -> None:
        # In Python, not `held = held + x`: SQLite would do that sum in floating point.
        changed = {a: v for a, v in amounts.items() if v}
        if not changed:
            return
        rows = [
            {"id": a, "held": b.held + sign * changed[a], "updated_at": now}
            for a, b in self.lock_balances(changed).items()
        ]
        update_rows(self._c, accounts, rows, key="id")

    def positions(self, account_id: int) -> list[PositionRecord]:
        rows = self._c.execute(
            select(positions)
            .where(positions.c.account_id == account_id, positions.c.quantity != 0)
            .order_by(positions.c.symbol)
        )
        return [
            PositionRecord(symbol=r.symbol, quantity=r.quantity, cost_basis=r.cost_basis)
            for r in rows
        ]

    def positions_of(self, account_ids: Iterable[int]) -> dict[int, list[PositionRecord]]:
        """The non-zero positions of many accounts, in one query, by account."""
        ids = sorted(set(account_ids))
        found: dict[int, list[PositionRecord]] = {i: [] for i in ids}
        if not ids:
            return found
        p = positions.c
        rows = self._c.execute(
            select(p.account_id, p.symbol, p.quantity, p.cost_basis)
            .where(id_in(self._c, p.account_id, ids), p.quantity != 0)
            .order_by(p.account_id, p.symbol)
        ).all()  # one fetch, not one call per row: a pass reads ~10 rows per account
        for account_id, symbol, quantity, cost_basis in rows:
            found[account_id].append(
                PositionRecord(symbol=symbol, quantity=quantity, cost_basis=cost_basis)
            )
        return found

    def holdings(self, keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], PositionRecord]:
        wanted = set(keys)
        if not wanted:
            return {}
        account_ids = {a for a, _ in wanted}
        rows = self._c.execute(select(positions).where(positions.c.account_id.in_(account_ids)))
        return {
            (r.account_id, r.symbol): PositionRecord(
                symbol=r.symbol, quantity=r.quantity, cost_basis=r.cost_basis
            )
            for r in rows
            if (r.account_id, r.symbol) in wanted
        }

    def save_positions(self, rows: Mapping[tuple[int, str], PositionRecord], now: datetime) -> None:
        """Insert or overwrite the given positions (quantities already computed by the caller)."""
        if not rows:
            return
        values = [
            {
                "account_id": account_id,
                "symbol": symbol,
                "quantity": p.quantity,
                "cost_basis": p.cost_basis,
                "updated_at": now,
            }
            for (account_id, symbol), p in sorted(rows.items())
        ]
        insert_rows(self._c, positions, values, upsert_on=("account_id", "symbol"))


class Market:
    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._pg = connection.dialect.name == "postgresql"

    def quotes(self, symbols: Iterable[str]) -> dict[str, Quote]:
        wanted = sorted(set(symbols))
        if not wanted:
            return {}
        rows = self._c.execute(select(securities).where(securities.c.symbol.in_(wanted)))
        return {
            r.symbol: Quote(
                symbol=r.symbol,
                price=r.last_price,
                tradable=r.tradable,
                fractionable=r.fractionable,
            )
            for r in rows
        }

    def security(self, symbol: str) -> SecurityRecord | None:
        row = self._c.execute(select(securities).where(securities.c.symbol == symbol)).first()
        return None if row is None else SecurityRecord(**row._mapping)

    def known_symbols(self, symbols: Iterable[str]) -> set[str]:
        wanted = sorted(set(symbols))
        if not wanted:
            return set()
        rows = self._c.execute(select(securities.c.symbol).where(securities.c.symbol.in_(wanted)))
        return {r.symbol for r in rows}

    def upsert_security(self, symbol: str, *, tradable: bool, fractionable: bool) -> None:
        insert = pg_insert if self._pg else sqlite_insert
        stmt = insert(securities).values(
            symbol=symbol, tradable=tradable, fractionable=fractionable
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[securities.c.symbol],
            set_={"tradable": tradable, "fractionable": fractionable},
        )
        self._c.execute(stmt)

    def record_prices(self, ticks: Sequence[tuple[str, Decimal, datetime]]) -> None:
        """Store price ticks: history rows, and each symbol's latest price (newest as_of wins).

        A symbol seen for the first time is registered as a tradable, fractionable security.
        """
        if not ticks:
            return
        insert = pg_insert if self._pg else sqlite_insert
        latest: dict[str, tuple[Decimal, datetime]] = {}
        for symbol, price, as_of in ticks:
            if symbol not in latest or as_of >= latest[symbol][1]:
                latest[symbol] = (price, as_of)
        new = insert(securities).on_conflict_do_nothing(index_elements=[securities.c.symbol])
        self._c.execute(
            new,
            [{"symbol": s, "tradable": True, "fractionable": True} for s in sorted(latest)],
        )
        self._c.execute(
            prices.insert(), [{"symbol": s, "price": p, "as_of": a} for s, p, a in ticks]
        )
        newer = (
            update(securities)
            .where(securities.c.symbol == bindparam("sym"))
            .where(
                (securities.c.last_price_at.is_(None))
                | (securities.c.last_price_at <= bindparam("at"))
            )
            .values(last_price=bindparam("price"), last_price_at=bindparam("at"))
        )
        self._c.execute(
            newer,
            [{"sym": s, "price": p, "at": a} for s, (p, a) in sorted(latest.items())],
        )


def row_dict(row: Any) -> dict[str, Any]:
    return dict(row._mapping)
