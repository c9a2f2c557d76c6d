"""The order service: every order, manual or automated, is written Pending, then submitted."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from autopilot.domain.errors import Conflict, InvalidInput, NotFound
from autopilot.domain.orders import Order, OrderStatus, OrderType, Side, reserve_for_buy
from autopilot.services import telemetry, validation
from autopilot.services.access import SYSTEM, Caller, Nobody
from autopilot.services.audit import Named, audit, plain
from autopilot.services.ids import new_id
from autopilot.services.ownership import visible_account
from autopilot.services.ports import Broker, Clock, UnitOfWorkFactory, market_today
from autopilot.services.records import NewOrder, OrderChange, OrderRecord
from autopilot.services.submission import submit_committed


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceOrder:
    account_id: int
    symbol: str
    side: Side
    order_type: OrderType
    quantity: Decimal | None = None
    notional: Decimal | None = None
    limit_price: Decimal | None = None


class OrderService:
    def __init__(
        self, *, uow: UnitOfWorkFactory, broker: Broker, clock: Clock, zone: ZoneInfo
    ) -> None:
        self._uow = uow
        self._broker = broker
        self._clock = clock
        self._zone = zone

    def place(self, command: PlaceOrder, *, caller: Caller = SYSTEM) -> OrderRecord:
        """Validate, hold the cash a buy needs, write the order Pending, submit it."""
        now = self._clock.now()
        with self._uow() as uow:
            visible_account(uow, caller, command.account_id)
            symbol, quantity, notional, limit = _check(command)
            account = uow.accounts.get(command.account_id, lock=True)
            if account is None:
                raise InvalidInput("account_id", f"account {command.account_id} does not exist")
            quote = uow.market.quotes([symbol]).get(symbol)
            if quote is None:
                raise InvalidInput("symbol", f"unknown symbol {symbol}")
            reserve = Decimal("0.00")
            if command.side is Side.BUY:
                price = limit if limit is not None else quote.price
                reserve = reserve_for_buy(quantity=quantity, notional=notional, price=price)
                if reserve > account.available:
                    raise Conflict(
                        f"insufficient cash: the order needs {reserve},"
                        f" available {account.available}"
                    )
                uow.accounts.hold({account.id: reserve}, now)
            order = Order(
                id=new_id("ORD", market_today(self._clock, self._zone)),
                account_id=account.id,
                symbol=symbol,
                side=command.side,
                order_type=command.order_type,
                quantity=quantity,
                notional=notional,
                limit_price=limit,
                reserved_amount=reserve,
                status=OrderStatus.PENDING,
            )
            uow.orders.add_many([NewOrder(order=order, client_id=account.client_id)], now)
            uow.after_commit(lambda: telemetry.sink().orders([OrderStatus.PENDING]))
            audit(uow, caller, "order.place", Named(order.id, account.client_id), now, plain(order))
        # The order is placed once it is written; a broker that cannot take it now gets it
        # from the next scheduler pass, and the caller sees it Pending.
        submit_committed(self._broker, [order])
        return self.get(order.id, caller=caller)

    def get(self, order_id: str, *, caller: Caller = SYSTEM) -> OrderRecord:
        with self._uow(read_only=True) as uow:
            record = uow.orders.get(order_id)
        if record is None:
            raise NotFound("order", order_id)
        caller.own(record.client_id, "order", order_id)
        return record

    def search(
        self,
        *,
        client_id: int | None = None,
        account_id: int | None = None,
        status: str | None = None,
        symbol: str | None = None,
        automation_id: str | None = None,
        page: int = 1,
        page_size: int = 50,
        caller: Caller = SYSTEM,
    ) -> tuple[list[OrderRecord], int]:
        scope = caller.scope(client_id)
        if isinstance(scope, Nobody):
            return [], 0
        with self._uow(read_only=True) as uow:
            return uow.orders.search(
                client_id=scope,
                account_id=account_id,
                status=status,
                symbol=symbol,
                automation_id=automation_id,
                offset=(page - 1) * page_size,
                limit=page_size,
            )

    def cancel(self, order_id: str, *, caller: Caller = SYSTEM) -> OrderRecord:
        """Cancel an order that has not filled; the cash held for it is released."""
        now = self._clock.now()
        with self._uow() as uow:
            seen = uow.orders.get(order_id)
            if seen is None:
                raise NotFound("order", order_id)
            caller.own(seen.client_id, "order", order_id)
            open_now = uow.orders.claim_open([order_id])
            if not open_now:
                state = uow.orders.get(order_id)
                assert state is not None
                raise Conflict(f"order {order_id} is {state.order.status.value}; cannot cancel")
            record = uow.orders.get(order_id)
            assert record is not None
            order = record.order
            uow.accounts.release({order.account_id: order.reserved_amount}, now)
            uow.orders.mark([OrderChange(id=order.id, status=OrderStatus.CANCELLED)], now)
            uow.after_commit(lambda: telemetry.sink().orders([OrderStatus.CANCELLED]))
            changes = {"status": {"before": order.status.value, "after": "Cancelled"}}
            audit(uow, caller, "order.cancel", Named(order.id, record.client_id), now, changes)
        return self.get(order_id, caller=caller)


def _check(
    command: PlaceOrder,
) -> tuple[str, Decimal | None, Decimal | None, Decimal | None]:
    symbol = validation.security("symbol", command.symbol)
    if (command.quantity is None) == (command.notional is None):
        raise InvalidInput("quantity", "give exactly one of quantity or notional")
    quantity = command.quantity
    if quantity is not None:
        validation.positive("quantity", quantity)
        if quantity != quantity.quantize(Decimal("0.000001")):
            raise InvalidInput("quantity", "at most 6 decimals")
    notional = command.notional
    if notional is not None:
        notional = validation.positive_cents("notional", notional)
        if command.side is Side.SELL:
            raise InvalidInput("notional", "sell orders take a quantity")
        if command.order_type is OrderType.LIMIT:
            raise InvalidInput("notional", "limit orders take a quantity")
    limit = command.limit_price
    if command.order_type is OrderType.LIMIT:
        if limit is None:
            raise InvalidInput("limit_price", "a limit order needs a limit price")
        validation.positive("limit_price", limit)
    elif limit is not None:
        raise InvalidInput("limit_price", "only limit orders take a limit price")
    return symbol, quantity, notional, limit
