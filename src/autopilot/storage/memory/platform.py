"""Clients, accounts, positions, securities and prices, in memory."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from autopilot.domain.money import ZERO
from autopilot.domain.quotes import Quote
from autopilot.services.records import (
    AccountRecord,
    Balance,
    ClientRecord,
    PositionRecord,
    SecurityRecord,
    StoredPrice,
)
from autopilot.storage.memory.tables import Tables, cash, micros


class MemoryClients:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def add(self, name: str, email: str | None, now: datetime) -> ClientRecord:
        record = ClientRecord(id=self._t.next_client, name=name, email=email, created_at=now)
        self._t.clients[record.id] = record
        self._t.next_client += 1
        return record

    def get(self, client_id: int) -> ClientRecord | None:
        return self._t.clients.get(client_id)


class MemoryAccounts:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def add(self, client_id: int, currency: str, now: datetime) -> AccountRecord:
        record = AccountRecord(
            id=self._t.next_account,
            client_id=client_id,
            currency=currency,
            cash=ZERO,
            created_at=now,
            updated_at=now,
        )
        self._t.accounts[record.id] = record
        self._t.next_account += 1
        return record

    def get(self, account_id: int, *, lock: bool = False) -> AccountRecord | None:
        return self._t.accounts.get(account_id)

    def lock_balances(self, account_ids: Iterable[int]) -> dict[int, Balance]:
        accounts = self._t.accounts
        return {
            i: Balance(accounts[i].cash, accounts[i].held)
            for i in sorted(set(account_ids))
            if i in accounts
        }

    def lock_available(self, account_ids: Iterable[int]) -> dict[int, Decimal]:
        return {a: b.available for a, b in self.lock_balances(account_ids).items()}

    def set_cash(self, amounts: Mapping[int, Decimal], now: datetime) -> None:
        for account_id, value in sorted(amounts.items()):
            current = self._t.accounts.get(account_id)
            if current is not None:
                self._t.accounts[account_id] = replace(current, cash=cash(value), updated_at=now)

    def set_balances(self, balances: Mapping[int, Balance], now: datetime) -> None:
        for account_id, value in sorted(balances.items()):
            current = self._t.accounts.get(account_id)
            if current is not None:
                self._t.accounts[account_id] = replace(
                    current, cash=cash(value.cash), held=cash(value.held), updated_at=now
                )

    def hold(self, amounts: Mapping[int, Decimal], now: datetime) -> None:
        self._add_to_holds(amounts, now, 1)

    def release(self, amounts: Mapping[int, Decimal], now: datetime) -> None:
        self._add_to_holds(amounts, now, -1)

    def _add_to_holds(self, amounts: Mapping[int, Decimal], now: datetime, sign: int) -> None:
        for account_id, value in sorted(amounts.items()):
            current = self._t.accounts.get(account_id)
            if current is not None and value:
                self._t.accounts[account_id] = replace(
                    current, held=cash(current.held + sign * value), updated_at=now
                )

    def positions(self, account_id: int) -> list[PositionRecord]:
        return self.positions_of([account_id])[account_id]

    def positions_of(self, account_ids: Iterable[int]) -> dict[int, list[PositionRecord]]:
        found: dict[int, list[PositionRecord]] = {i: [] for i in sorted(set(account_ids))}
        for (account_id, _), position in sorted(self._t.positions.items()):
            if account_id in found and position.quantity != 0:
                found[account_id].append(position)
        return found

    def holdings(self, keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], PositionRecord]:
        return {k: self._t.positions[k] for k in set(keys) if k in self._t.positions}

    def save_positions(self, rows: Mapping[tuple[int, str], PositionRecord], now: datetime) -> None:
        for key, position in rows.items():
            self._t.positions[key] = replace(
                position, quantity=micros(position.quantity), cost_basis=cash(position.cost_basis)
            )


class MemoryMarket:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def quotes(self, symbols: Iterable[str]) -> dict[str, Quote]:
        found = (self._t.securities.get(s) for s in sorted(set(symbols)))
        return {
            s.symbol: Quote(
                symbol=s.symbol,
                price=s.last_price,
                tradable=s.tradable,
                fractionable=s.fractionable,
            )
            for s in found
            if s is not None
        }

    def security(self, symbol: str) -> SecurityRecord | None:
        return self._t.securities.get(symbol)

    def known_symbols(self, symbols: Iterable[str]) -> set[str]:
        return {s for s in symbols if s in self._t.securities}

    def upsert_security(self, symbol: str, *, tradable: bool, fractionable: bool) -> None:
        current = self._t.securities.get(symbol) or SecurityRecord(
            symbol=symbol, tradable=True, fractionable=True, last_price=None, last_price_at=None
        )
        self._t.securities[symbol] = replace(current, tradable=tradable, fractionable=fractionable)

    def record_prices(self, ticks: Sequence[tuple[str, Decimal, datetime]]) -> None:
        latest: dict[str, tuple[Decimal, datetime]] = {}
        for symbol, price, as_of in ticks:
            self._t.prices.append((symbol, micros(price), as_of))
            if symbol not in latest or as_of >= latest[symbol][1]:
                latest[symbol] = (price, as_of)
        for symbol, (price, as_of) in sorted(latest.items()):
            current = self._t.securities.get(symbol) or SecurityRecord(
                symbol=symbol, tradable=True, fractionable=True, last_price=None, last_price_at=None
            )
            if current.last_price_at is None or current.last_price_at <= as_of:
                current = replace(current, last_price=micros(price), last_price_at=as_of)
            self._t.securities[symbol] = current


class MemoryPriceFeed:
    """The price feed over the list of prices: a price's id is its place in it (one
    transaction at a time, so stored order is commit order)."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def cursor(self) -> object:
        return len(self._t.prices)

    def since(self, cursor: object) -> list[StoredPrice]:
        assert isinstance(cursor, int)
        return [self._stored(i) for i in range(cursor, len(self._t.prices))]

    def from_floors(self, symbols: Iterable[str]) -> list[StoredPrice]:
        wanted = set(symbols)
        floors = self._t.price_floors
        return [
            self._stored(i)
            for i, (symbol, _, _) in enumerate(self._t.prices)
            if symbol in wanted and i >= floors.get(symbol, 0)
        ]

    def advance_floors(
        self, symbols: Iterable[str], cursor: object | None, evaluated_by: str, now: datetime
    ) -> None:
        floor = len(self._t.prices) if cursor is None else cursor
        assert isinstance(floor, int)
        for symbol in symbols:
            self._t.price_floors[symbol] = max(self._t.price_floors.get(symbol, 0), floor)

    def symbols(self) -> list[str]:
        return sorted(self._t.securities)

    def signal(self) -> None:
        return None

    def _stored(self, i: int) -> StoredPrice:
        symbol, price, as_of = self._t.prices[i]
        return StoredPrice(id=i + 1, symbol=symbol, price=price, as_of=as_of)
