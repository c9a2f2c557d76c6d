"""The paper broker: fills orders against the latest stored prices, in the same database.

`submit` is idempotent by order id: an order is acted on only while the database, under a row
lock, still has it `Pending`, so submitting twice (a retry, a crash between writing and
submitting) fills once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from autopilot.domain.money import ZERO, to_cents
from autopilot.domain.orders import (
    NO_QUANTITY,
    Fill,
    Order,
    OrderStatus,
    Rejection,
    Resting,
    Side,
    decide_fill,
)
from autopilot.services import telemetry
from autopilot.services.ports import Clock, UnitOfWork, UnitOfWorkFactory
from autopilot.services.records import Balance, OrderChange, PositionRecord


@dataclass(slots=True)
class _Book:
    """Cash, holds and holdings of the accounts a batch of orders touches, changed in memory."""

    cash: dict[int, Decimal]
    held: dict[int, Decimal]
    holdings: dict[tuple[int, str], PositionRecord]

    @classmethod
    def of(
        cls, balances: dict[int, Balance], holdings: dict[tuple[int, str], PositionRecord]
    ) -> _Book:
        return cls(
            cash={a: b.cash for a, b in balances.items()},
            held={a: b.held for a, b in balances.items()},
            holdings=holdings,
        )

    def balances(self) -> dict[int, Balance]:
        return {a: Balance(self.cash[a], self.held[a]) for a in self.cash}

    def available(self, account_id: int) -> Decimal:
        return self.cash[account_id] - self.held[account_id]

    def held_quantity(self, account_id: int, symbol: str) -> Decimal:
        position = self.holdings.get((account_id, symbol))
        return position.quantity if position else NO_QUANTITY

    def apply(self, order: Order, fill: Fill) -> None:
        """A fill: a buy's hold becomes the debit of what it cost; a sell's proceeds are cash."""
        key = (order.account_id, order.symbol)
        current = self.holdings.get(key) or PositionRecord(
            symbol=order.symbol, quantity=NO_QUANTITY, cost_basis=ZERO
        )
        if order.side is Side.BUY:
            self.release(order)
            self.cash[order.account_id] -= fill.amount
            self.holdings[key] = PositionRecord(
                symbol=order.symbol,
                quantity=current.quantity + fill.quantity,
                cost_basis=current.cost_basis + fill.amount,
            )
            return
        self.cash[order.account_id] += fill.amount
        left = current.quantity - fill.quantity
        basis = ZERO
        if current.quantity > 0 and left > 0:
            basis = to_cents(current.cost_basis * left / current.quantity)
        self.holdings[key] = PositionRecord(symbol=order.symbol, quantity=left, cost_basis=basis)

    def release(self, order: Order) -> None:
        self.held[order.account_id] -= order.reserved_amount


class PaperBroker:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def submit(self, orders: Sequence[Order]) -> None:
        with self._uow() as uow:
            self._process(uow, orders, OrderStatus.PENDING)

    def on_prices(self, symbols: Sequence[str]) -> None:
        # Looked for first in a read-only unit: most prices find no order resting, and a write
        # unit would queue behind every writer (on SQLite, behind a whole batch of a pass) to
        # learn that. An order that starts resting after this look was submitted after the
        # prices were stored, so its own submission saw them.
        with self._uow(read_only=True) as uow:
            if not uow.orders.open_orders(status=OrderStatus.SUBMITTED, symbols=symbols, limit=1):
                return
        with self._uow() as uow:
            resting = uow.orders.open_orders(status=OrderStatus.SUBMITTED, symbols=symbols)
            self._process(uow, resting, OrderStatus.SUBMITTED)

    def _process(self, uow: UnitOfWork, given: Sequence[Order], expected: OrderStatus) -> None:
        unique = {o.id: o for o in given}
        current = uow.orders.claim_open(unique)
        # Sells first: a rebalance's buys may be paid for by its sells' proceeds.
        orders = sorted(
            (o for i, o in unique.items() if current.get(i) is expected),
            key=lambda o: o.side is Side.BUY,
        )
        if not orders:
            return
        book = _Book.of(
            uow.accounts.lock_balances(o.account_id for o in orders),
            uow.accounts.holdings((o.account_id, o.symbol) for o in orders),
        )
        quotes = uow.market.quotes(o.symbol for o in orders)
        touched: set[tuple[int, str]] = set()
        updates: list[OrderChange] = []
        for order in orders:
            held = book.held_quantity(order.account_id, order.symbol)
            decision = decide_fill(order, quotes.get(order.symbol), held)
            if order.side is Side.BUY and book.available(order.account_id) < 0:
                # The account holds more than it has: the sells whose proceeds this buy was
                # counting on did not fill. Cash never goes negative; the buy is refused and its
                # hold released.
                decision = Rejection(
                    order_id=order.id,
                    reason="insufficient cash: the sells funding this buy did not fill",
                )
            if isinstance(decision, Fill):
                book.apply(order, decision)
                touched.add((order.account_id, order.symbol))
                updates.append(
                    OrderChange(
                        id=order.id,
                        status=OrderStatus.FILLED,
                        filled_quantity=decision.quantity,
                        filled_price=decision.price,
                        filled_amount=decision.amount,
                    )
                )
            elif isinstance(decision, Rejection):
                if order.side is Side.BUY:
                    book.release(order)
                updates.append(
                    OrderChange(
                        id=order.id, status=OrderStatus.REJECTED, reject_reason=decision.reason
                    )
                )
            elif isinstance(decision, Resting) and order.status is OrderStatus.PENDING:
                updates.append(OrderChange(id=order.id, status=OrderStatus.SUBMITTED))
        now = self._clock.now()
        uow.orders.mark(updates, now)
        reached = [u.status for u in updates]
        uow.after_commit(lambda: telemetry.sink().orders(reached))
        uow.accounts.set_balances(book.balances(), now)
        uow.accounts.save_positions({k: book.holdings[k] for k in touched}, now)
