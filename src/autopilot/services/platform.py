"""Clients, accounts, deposits, securities and prices: the platform rules run on."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from autopilot.domain.errors import InvalidInput, NotFound
from autopilot.services import telemetry, validation
from autopilot.services.access import SYSTEM, Caller
from autopilot.services.audit import Named, audit
from autopilot.services.ownership import own_client, visible_account
from autopilot.services.ports import Broker, Clock, UnitOfWorkFactory
from autopilot.services.records import AccountRecord, ClientRecord, PositionRecord, SecurityRecord

log = logging.getLogger("autopilot.market")


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountView:
    account: AccountRecord
    positions: list[tuple[PositionRecord, Decimal | None]]  # with the latest price


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceTick:
    symbol: str
    price: Decimal
    as_of: datetime | None = None


PriceListener = Callable[[Sequence[tuple[str, Decimal, datetime]]], object]


class PlatformService:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        broker: Broker,
        clock: Clock,
        on_prices: PriceListener | None = None,
    ) -> None:
        self._uow = uow
        self._broker = broker
        self._clock = clock
        self._on_prices = on_prices

    def create_client(
        self, name: str, email: str | None, *, caller: Caller = SYSTEM
    ) -> ClientRecord:
        if not name.strip():
            raise InvalidInput("name", "must not be empty")
        now = self._clock.now()
        with self._uow() as uow:
            client = uow.clients.add(name.strip(), email, now)
            changes = {"name": client.name, "email": email}
            audit(uow, caller, "client.create", Named(client.id, client.id), now, changes)
        return client

    def get_client(self, client_id: int, *, caller: Caller = SYSTEM) -> ClientRecord:
        own_client(caller, client_id)
        with self._uow(read_only=True) as uow:
            client = uow.clients.get(client_id)
        if client is None:
            raise NotFound("client", client_id)
        return client

    def open_account(
        self, client_id: int, currency: str, *, caller: Caller = SYSTEM
    ) -> AccountRecord:
        own_client(caller, client_id)
        code = currency.strip().upper()
        if len(code) != 3 or not (code.isascii() and code.isalpha()):  # "ÄÖÜ" is no ISO code
            raise InvalidInput(
                "currency", f"must be a three-letter currency code, got {currency!r}"
            )
        now = self._clock.now()
        with self._uow() as uow:
            if uow.clients.get(client_id) is None:
                raise InvalidInput("client_id", f"client {client_id} does not exist")
            account = uow.accounts.add(client_id, code, now)
            changes = {"currency": code}
            audit(uow, caller, "account.create", account, now, changes)
        return account

    def deposit(
        self, account_id: int, amount: Decimal, *, caller: Caller = SYSTEM
    ) -> AccountRecord:
        amount = validation.positive_cents("amount", amount)
        now = self._clock.now()
        with self._uow() as uow:
            visible_account(uow, caller, account_id)
            account = uow.accounts.get(account_id, lock=True)
            if account is None:
                raise NotFound("account", account_id)
            uow.accounts.set_cash({account_id: account.cash + amount}, now)
            changes = {"amount": str(amount), "cash": {"before": str(account.cash)}}
            audit(uow, caller, "account.deposit", account, now, changes)
            updated = uow.accounts.get(account_id)
        assert updated is not None
        return updated

    def account(self, account_id: int, *, caller: Caller = SYSTEM) -> AccountView:
        with self._uow(read_only=True) as uow:
            account = visible_account(uow, caller, account_id)
            if account is None:
                raise NotFound("account", account_id)
            positions = uow.accounts.positions(account_id)
            quotes = uow.market.quotes(p.symbol for p in positions)
        return AccountView(
            account=account,
            positions=[
                (p, quotes[p.symbol].price if p.symbol in quotes else None) for p in positions
            ],
        )

    def record_prices(self, ticks: Sequence[PriceTick], *, caller: Caller = SYSTEM) -> int:
        """Store prices (registering new symbols), let the broker fill resting orders, then hand
        the updates, in the order given, to the trigger evaluator."""
        if not ticks:
            raise InvalidInput("prices", "must contain at least one price")
        now = self._clock.now()
        rows = []
        for i, tick in enumerate(ticks):
            symbol = validation.security(f"prices[{i}].symbol", tick.symbol)
            price = validation.price(f"prices[{i}].price", tick.price)
            as_of = validation.past(f"prices[{i}].as_of", tick.as_of or now, now)
            rows.append((symbol, price, as_of))
        with self._uow() as uow:
            uow.market.record_prices(rows)
            symbols = sorted({symbol for symbol, _, _ in rows})
            changes = {"prices": len(rows), "symbols": symbols[:50]}
            audit(uow, caller, "market.prices", Named(None), now, changes)
            count = len(rows)
            uow.after_commit(lambda: telemetry.sink().price_updates(count))
        self._react(rows)
        return len(rows)

    def _react(self, rows: Sequence[tuple[str, Decimal, datetime]]) -> None:
        # The prices are stored: a failure from here on is logged, not the caller's error, and
        # the next scheduler pass evaluates resting orders and triggers against them again.
        # Each reaction on its own: a broker that fails must not keep stop-losses from firing.
        try:
            self._broker.on_prices(sorted({s for s, _, _ in rows}))
        except Exception:
            log.exception(
                "the broker failed on %d new price(s); the next pass retries resting orders",
                len(rows),
                extra={"action": "prices.broker_failed"},
            )
        if self._on_prices is None:
            return
        try:
            self._on_prices(rows)
        except Exception:
            log.exception(
                "evaluating triggers on %d new price(s) failed; the next pass evaluates them",
                len(rows),
                extra={"action": "prices.triggers_failed"},
            )

    def set_security(
        self, symbol: str, *, tradable: bool, fractionable: bool, caller: Caller = SYSTEM
    ) -> SecurityRecord:
        code = validation.security("symbol", symbol)
        now = self._clock.now()
        with self._uow() as uow:
            before = uow.market.security(code)
            uow.market.upsert_security(code, tradable=tradable, fractionable=fractionable)
            record = uow.market.security(code)
            changes = {"tradable": tradable, "fractionable": fractionable, "new": before is None}
            audit(uow, caller, "security.update", Named(code), now, changes)
        assert record is not None
        return record
