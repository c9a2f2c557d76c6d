"""What rebalancing needs of an account: its cash and holdings valued at the latest prices,
the orders a plan becomes, and the log details of an execution."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from autopilot.domain.errors import Conflict
from autopilot.domain.money import ZERO
from autopilot.domain.orders import Order, OrderStatus, OrderType, Side
from autopilot.domain.quotes import Quote
from autopilot.domain.rebalancing.drift import CASH, Drift, Holding, measure_drift
from autopilot.domain.rebalancing.plan import Plan, SkippedTrade, Trade, TradePlanner
from autopilot.domain.rebalancing.rule import RebalancingRule
from autopilot.services.ids import new_ids
from autopilot.services.records import PositionRecord

if TYPE_CHECKING:
    from autopilot.services.ports import UnitOfWork


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountPicture:
    """An account as rebalancing sees it.

    ``holdings`` are the positions held, then a zero-quantity holding for each priced target the
    account does not hold yet (the planner takes its price and flags from there);
    ``unpriced`` names held symbols without a price, which make the account's value unknown.
    """

    cash: Decimal
    holdings: tuple[Holding, ...]
    unpriced: tuple[str, ...]

    @property
    def prices(self) -> dict[str, Decimal]:
        return {h.symbol: h.price for h in self.holdings}

    def require_prices(self) -> None:
        if self.unpriced:
            raise Conflict(f"no price for held symbol(s) {', '.join(self.unpriced)}")

    def drift(self, rule: RebalancingRule) -> Drift:
        self.require_prices()
        return measure_drift(self.holdings, self.cash, rule.targets)

    def drift_and_plan(self, rule: RebalancingRule, planner: TradePlanner) -> tuple[Decimal, Plan]:
        """The account's drift as ``self.drift(rule).drift`` shows it, without the per-holding
        lines (what a pass logs), and ``self.plan(rule, planner)``: the account read once."""
        self.require_prices()
        return planner.drift_and_plan(
            self.holdings,
            self.cash,
            rule.targets,
            min_trade_amount=rule.min_trade_amount,
            allow_sells=rule.allow_sells,
            cash_reserve=rule.cash_reserve,
        )

    def plan(self, rule: RebalancingRule, planner: TradePlanner | None = None) -> Plan:
        """The rule's plan for the account; give one ``planner`` to every account of a batch,
        so that accounts of one model portfolio share its preparation."""
        self.require_prices()
        return (planner or TradePlanner()).plan(
            self.holdings,
            self.cash,
            rule.targets,
            min_trade_amount=rule.min_trade_amount,
            allow_sells=rule.allow_sells,
            cash_reserve=rule.cash_reserve,
        )


def picture(
    cash: Decimal,
    positions: Sequence[PositionRecord],
    target_symbols: Iterable[str],
    quotes: Mapping[str, Quote],
) -> AccountPicture:
    holdings: list[Holding] = []
    unpriced: list[str] = []
    for position in positions:
        quote = quotes.get(position.symbol)
        if quote is None or quote.price is None:
            unpriced.append(position.symbol)
        else:
            holdings.append(_holding(quote, position.quantity))
    held = {p.symbol for p in positions}
    for symbol in target_symbols:
        quote = quotes.get(symbol)
        if symbol != CASH and symbol not in held and quote is not None and quote.price:
            holdings.append(_holding(quote, Decimal(0)))
    return AccountPicture(cash=cash, holdings=tuple(holdings), unpriced=tuple(unpriced))


def _holding(quote: Quote, quantity: Decimal) -> Holding:
    assert quote.price is not None
    return Holding(
        symbol=quote.symbol,
        quantity=quantity,
        price=quote.price,
        fractionable=quote.fractionable,
        tradable=quote.tradable,
    )


def pictures(
    uow: UnitOfWork,
    rules: Sequence[RebalancingRule],
    cash: Mapping[int, Decimal],
    known: Mapping[int, Sequence[PositionRecord]] | None = None,
) -> dict[str, AccountPicture]:
    """Each rule's account, read set-based: one query for positions, one for prices.

    ``known``: positions already read in this transaction, by account (not read again)."""
    known = known or {}
    positions = dict(known)
    positions.update(
        uow.accounts.positions_of(r.account_id for r in rules if r.account_id not in known)
    )
    symbols = {p.symbol for held in positions.values() for p in held}
    symbols |= {t.symbol for r in rules for t in r.targets}
    quotes = uow.market.quotes(symbols)
    return {
        r.id: picture(
            cash[r.account_id],
            positions.get(r.account_id, []),
            (t.symbol for t in r.targets),
            quotes,
        )
        for r in rules
    }


def orders_for(rule: RebalancingRule, trades: Sequence[Trade], today: date) -> list[Order]:
    """Market orders for the trades, sells first.

    Every order takes a quantity; a buy holds its planned amount (quantity × price rounded up
    to the cent), which is what the paper broker charges at that price.
    """
    ordered = sorted(trades, key=lambda x: x.side is Side.BUY)
    return [
        Order(
            id=order_id,
            account_id=rule.account_id,
            symbol=trade.symbol,
            side=trade.side,
            order_type=OrderType.MARKET,
            quantity=trade.quantity,
            notional=None,
            limit_price=None,
            reserved_amount=trade.amount if trade.side is Side.BUY else ZERO,
            status=OrderStatus.PENDING,
        )
        for order_id, trade in zip(new_ids("ORD", today, len(ordered)), ordered, strict=True)
    ]


def trades_json(trades: Iterable[Trade]) -> list[dict[str, str]]:
    return [
        {
            "symbol": t.symbol,
            "side": t.side.value,
            "quantity": str(t.quantity),
            "amount": str(t.amount),
        }
        for t in trades
    ]


def skipped_json(skipped: Iterable[SkippedTrade]) -> list[dict[str, str]]:
    return [{"symbol": s.symbol, "reason": s.reason} for s in skipped]


def details(drift_before: Decimal, plan: Plan, **extra: Any) -> dict[str, Any]:
    return {
        "driftBefore": str(drift_before),
        "trades": trades_json(plan.trades),
        "skipped": skipped_json(plan.skipped),
        **extra,
    }


def plan_fits(plan: Plan, picture: AccountPicture, cash_reserve: Decimal) -> bool:
    """Whether a stored plan can still be executed as it is: no sell beyond what is held, no
    buys beyond the cash there is (with the sells, at the current prices, after the reserve)."""
    held = {h.symbol: h for h in picture.holdings}
    proceeds = Decimal(0)
    cost = Decimal(0)
    for trade in plan.trades:
        holding = held.get(trade.symbol)
        if holding is None or not holding.tradable:
            return False
        value = trade.quantity * holding.price
        if trade.side is Side.SELL:
            if trade.quantity > holding.quantity:
                return False
            proceeds += value
        else:
            cost += value
    return cost <= picture.cash + proceeds - cash_reserve
