"""Planning the trades that bring an account back to its targets (DESIGN §5 "Rebalancing").

:func:`plan_trades` is pure: holdings valued at the prices given, the account's cash and the
targets in, a :class:`Plan` out. :func:`apply_plan` fills a plan at those same prices, for tests and
previews. Money decisions are exact; rounding happens only where a trade is made: quantities to 6
places (whole shares for securities that are not fractionable) and amounts to the cent.

Exact arithmetic, in integers: an account's money (cash, values, gaps, the minimum trade, the
reserve) is counted in ``1 / unit`` of the currency, ``unit`` a common multiple of every
denominator in sight (:mod:`autopilot.domain.rebalancing.portfolio`), so sums, comparisons and the
roundings to the cent or the share are integer operations. The one place a fraction arises, the
level the water-filling cuts the gaps to, is kept as a numerator over the number of gaps cut.
A :class:`TradePlanner` prepares what accounts of one model portfolio share once, and reuses it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction
from operator import attrgetter, mul
from typing import NamedTuple

from autopilot.domain.money import CENT, ZERO
from autopilot.domain.orders import MAX_ORDER_AMOUNT, QUANTITY_STEP, Side
from autopilot.domain.rebalancing.drift import PP_STEP, Holding, Target, validate_holdings
from autopilot.domain.rebalancing.portfolio import Portfolio, Portfolios, Security


class Trade(NamedTuple):
    """A market order to place: ``quantity`` to 6 places, ``amount`` its value to the cent.

    A buy's amount is ``quantity × price`` rounded up and a sell's rounded down, so the plan's
    cash arithmetic in cents never flatters it.

    A value, immutable as a frozen dataclass would be; a named tuple because a pass makes one
    per order of thousands of plans, and a frozen dataclass costs about four times as much to
    make (each field set through ``object.__setattr__``).
    """

    symbol: str
    side: Side
    quantity: Decimal
    amount: Decimal


class SkippedTrade(NamedTuple):
    """A trade the targets called for but the plan does not make, and why (a value, as
    :class:`Trade`)."""

    symbol: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """Sells first, then buys; ``skipped`` names what was left out and why."""

    trades: tuple[Trade, ...]
    skipped: tuple[SkippedTrade, ...]

    @property
    def sells(self) -> tuple[Trade, ...]:
        return tuple(t for t in self.trades if t.side is Side.SELL)

    @property
    def buys(self) -> tuple[Trade, ...]:
        return tuple(t for t in self.trades if t.side is Side.BUY)


EMPTY = Plan(trades=(), skipped=())
NO_DRIFT = Decimal("0.00")
_SYMBOL = attrgetter("symbol")
_PRICE = attrgetter("price")
_QUANTITY = attrgetter("quantity")
_FRACTIONABLE = attrgetter("fractionable")
_TRADABLE = attrgetter("tradable")


def plan_trades(
    holdings: Sequence[Holding],
    cash: Decimal,
    targets: Sequence[Target],
    *,
    min_trade_amount: Decimal,
    allow_sells: bool,
    cash_reserve: Decimal,
) -> Plan:
    """The trades that bring the account back toward ``targets`` at the holdings' prices.

    Give a :class:`Holding` (quantity 0) for every target the account does not hold yet: its
    price and flags come from there; a target without one is skipped with "no price".

    Buys go to the underweight securities, most underweight first: the cash available
    (cash + sell proceeds - what is kept) is spread so the largest shortfalls are filled down to
    a common level, never past a target. What is kept is the larger of ``cash_reserve`` and the
    ``CASH`` target's value. Quantities are floored (6 places, or whole shares), each buy's
    amount is cut to the cent before its quantity is computed, so cost never exceeds it; cash left
    by rounding and skipped buys goes to the most underweight position that can still take it
    (a whole share, or a fraction), repeatedly, never past its target.

    With ``allow_sells`` the overweight securities, and holdings outside the targets, are sold
    first: as much as the buys and the ``CASH`` target need, taken from the largest excesses
    first (all of them whenever their proceeds can be reinvested, which is the usual case).
    Sells never go past a target (floored quantities) nor past the holding; a holding outside
    the targets is sold entirely. Without ``allow_sells`` only buys are planned, from cash.

    A trade whose amount is under ``min_trade_amount`` is skipped and listed, as are
    untradable securities. Guarantees, in cents: the buys' amounts never exceed cash + the
    sells' amounts - ``cash_reserve`` (nothing is bought when cash is at or below what is kept),
    and no sell exceeds its holding. An account worth nothing gets an empty plan.

    To plan many accounts, call :meth:`TradePlanner.plan` on one planner: the same plans, with
    the work accounts of one model portfolio share done once.
    """
    return TradePlanner().plan(
        holdings,
        cash,
        targets,
        min_trade_amount=min_trade_amount,
        allow_sells=allow_sells,
        cash_reserve=cash_reserve,
    )


class TradePlanner:
    """:func:`plan_trades` for many accounts: the targets' weights and the securities' prices
    are turned into integers once per model portfolio (the targets object, and the symbols,
    prices and flags of the holdings in their order) and reused by every account that has it.
    Pass the *same* targets object for accounts of one model. Not thread-safe: one per batch."""

    def __init__(self) -> None:
        self._portfolios = Portfolios()

    def plan(
        self,
        holdings: Sequence[Holding],
        cash: Decimal,
        targets: Sequence[Target],
        *,
        min_trade_amount: Decimal,
        allow_sells: bool,
        cash_reserve: Decimal,
    ) -> Plan:
        """:func:`plan_trades`, exactly."""
        account = self._account(holdings, cash, targets, min_trade_amount, cash_reserve)
        return EMPTY if account is None else account.plan(allow_sells)

    def plan_columns(
        self,
        symbols: tuple[str, ...],
        quantities: tuple[Decimal, ...],
        prices: tuple[Decimal, ...],
        cash: Decimal,
        targets: Sequence[Target],
        *,
        fractionable: tuple[bool, ...] | None = None,
        tradable: tuple[bool, ...] | None = None,
        min_trade_amount: Decimal,
        allow_sells: bool,
        cash_reserve: Decimal,
    ) -> Plan:
        """:meth:`plan` of the holdings given as columns (``quantities[i]`` of ``symbols[i]`` at
        ``prices[i]``; the flags all true unless given), without building a :class:`Holding`
        per line: what a batch that reads its accounts column-wise calls."""
        width = len(symbols)
        given = (quantities, prices, fractionable or symbols, tradable or symbols)
        if any(len(column) != width for column in given):
            raise ValueError("the columns of an account's holdings differ in length")
        every = _ALL_TRUE.get(width) or _all_true(width)
        account = self._columns(
            symbols,
            quantities,
            prices,
            every if fractionable is None else fractionable,
            every if tradable is None else tradable,
            cash,
            targets,
            min_trade_amount,
            cash_reserve,
        )
        return EMPTY if account is None else account.plan(allow_sells)

    def drift(
        self, holdings: Sequence[Holding], cash: Decimal, targets: Sequence[Target]
    ) -> Decimal:
        """The account's drift as ``measure_drift(holdings, cash, targets).drift`` shows it (the
        largest absolute holding drift, cash included, to 0.01 pp, halves away from zero),
        exactly, without the per-line figures."""
        account = self._account(holdings, cash, targets, ZERO, ZERO)
        return NO_DRIFT if account is None else account.largest_drift()

    def drift_and_plan(
        self,
        holdings: Sequence[Holding],
        cash: Decimal,
        targets: Sequence[Target],
        *,
        min_trade_amount: Decimal,
        allow_sells: bool,
        cash_reserve: Decimal,
    ) -> tuple[Decimal, Plan]:
        """``(self.drift(...), self.plan(...))`` with the account turned into integers once."""
        account = self._account(holdings, cash, targets, min_trade_amount, cash_reserve)
        if account is None:
            return NO_DRIFT, EMPTY
        return account.largest_drift(), account.plan(allow_sells)

    def _account(
        self,
        holdings: Sequence[Holding],
        cash: Decimal,
        targets: Sequence[Target],
        min_trade: Decimal,
        reserve: Decimal,
    ) -> _Account | None:
        return self._columns(
            tuple(map(_SYMBOL, holdings)),
            tuple(map(_QUANTITY, holdings)),
            tuple(map(_PRICE, holdings)),
            tuple(map(_FRACTIONABLE, holdings)),
            tuple(map(_TRADABLE, holdings)),
            cash,
            targets,
            min_trade,
            reserve,
        )

    def _columns(
        self,
        symbols: tuple[str, ...],
        quantities: tuple[Decimal, ...],
        prices: tuple[Decimal, ...],
        fractionable: tuple[bool, ...],
        tradable: tuple[bool, ...],
        cash: Decimal,
        targets: Sequence[Target],
        min_trade: Decimal,
        reserve: Decimal,
    ) -> _Account | None:
        """The account in integers; None when it is worth nothing."""
        portfolio = self._portfolios.get(targets, symbols, prices, fractionable, tradable)
        values = list(map(mul, quantities, prices))
        if not _plainly_valid(portfolio, cash, quantities, values):
            holdings = [  # only to name the first bad field, as the line-by-line check does
                Holding(symbol=s, quantity=q, price=p, fractionable=f, tradable=t)
                for s, q, p, f, t in zip(
                    symbols, quantities, prices, fractionable, tradable, strict=True
                )
            ]
            validate_holdings(holdings, cash)  # raises, naming the first bad field
        total = sum(values, cash)
        if total == 0:
            return None
        if not portfolio.valid:  # weights that are no numbers: refused as the arithmetic does
            for target in targets:
                target.weight.as_integer_ratio()
        return _Account(portfolio, quantities, values, cash, total, min_trade, reserve)


_ALL_TRUE: dict[int, tuple[bool, ...]] = {}


def _all_true(width: int) -> tuple[bool, ...]:
    made = _ALL_TRUE[width] = (True,) * width
    return made


def _plainly_valid(
    portfolio: Portfolio, cash: Decimal, quantities: tuple[Decimal, ...], values: list[Decimal]
) -> bool:
    """What :func:`validate_holdings` checks, at once for the whole account (any doubt: False)."""
    try:
        return (
            portfolio.valid
            and cash.is_finite()
            and cash >= 0
            and all(map(Decimal.is_finite, quantities))
            and (not quantities or (min(quantities) >= 0 and max(values) < MAX_ORDER_AMOUNT))
        )
    except ArithmeticError:  # a NaN compared
        return False


_Position = tuple[str, int, bool, int]
"""symbol, index of its security among the holdings (-1: none, no price), whether it is among
the targets, and its gap: target value − value in money units (positive: underweight)."""


class _Account:
    """One account being planned; money in ``1 / unit`` of the currency, ``cent`` units a cent."""

    __slots__ = (
        "cash",
        "cash_target",
        "cent",
        "keep",
        "min_trade",
        "minimum",
        "positions",
        "quantities",
        "securities",
        "total",
        "unit",
        "values",
    )

    def __init__(
        self,
        portfolio: Portfolio,
        quantities: tuple[Decimal, ...],
        values: list[Decimal],
        cash: Decimal,
        total: Decimal,
        min_trade: Decimal,
        reserve: Decimal,
    ) -> None:
        ratios = [v.as_integer_ratio() for v in values]
        cash_n, cash_d = cash.as_integer_ratio()
        total_n, total_d = total.as_integer_ratio()
        min_n, min_d = min_trade.as_integer_ratio()
        reserve_n, reserve_d = reserve.as_integer_ratio()
        dens = (d for _, d in ratios)
        common = math.lcm(portfolio.money_scale, cash_d, total_d, min_d, reserve_d, *dens)
        scale = portfolio.weight_scale
        self.unit = unit = common * scale
        self.cent = unit // 100
        self.values = value = [n * (common // d * scale) for n, d in ratios]
        self.cash = cash_n * (common // cash_d * scale)
        whole = total_n * (common // total_d)  # × a weight (in 1 / scale): money units
        self.total = whole * scale
        self.cash_target = whole * portfolio.cash_weight
        self.keep = max(reserve_n * (common // reserve_d * scale), self.cash_target)
        self.minimum = min_n * (common // min_d * scale)
        self.min_trade = min_trade
        self.quantities = quantities
        self.securities = securities = portfolio.securities
        positions: list[_Position] = [
            (s.symbol, s.index, True, whole * s.weight - (value[s.index] if s.index >= 0 else 0))
            for s in portfolio.slots
        ]
        positions += [
            (securities[i].symbol, i, False, -value[i])
            for i in portfolio.others
            if quantities[i] > 0
        ]
        self.positions = positions

    def largest_drift(self) -> Decimal:
        """The largest |weight − target| in points, to 0.01 halves up: a position's drift is
        −gap / total, cash's (cash − its target) / total; a holding outside the targets that the
        account holds none of drifts 0."""
        worst = max((abs(p[3]) for p in self.positions), default=0)
        worst = max(worst, abs(self.cash - self.cash_target))
        hundredths, rest = divmod(10_000 * worst, self.total)
        if 2 * rest >= self.total:
            hundredths += 1
        return (Decimal(hundredths) * PP_STEP).quantize(PP_STEP)

    def plan(self, allow_sells: bool) -> Plan:
        skipped: list[SkippedTrade] = []
        sellable: list[_Position] = []
        buyable: list[_Position] = []
        securities = self.securities
        for p in self.positions:
            symbol, index, _, gap = p
            if gap < 0 and index >= 0:
                if not allow_sells:
                    skipped.append(SkippedTrade(symbol=symbol, reason=_NOT_SOLD))
                elif securities[index].tradable:
                    sellable.append(p)
                else:
                    skipped.append(SkippedTrade(symbol=symbol, reason=_UNTRADABLE))
        for p in self.positions:
            symbol, index, _, gap = p
            if gap > 0:
                if index < 0:
                    skipped.append(SkippedTrade(symbol=symbol, reason="no price"))
                elif securities[index].tradable:
                    buyable.append(p)
                else:
                    skipped.append(SkippedTrade(symbol=symbol, reason=_UNTRADABLE))
        cent = self.cent
        excess = [-p[3] for p in sellable]
        full = self._sells(sellable, excess, None)
        budget = (self.cash + self._raised(full) * cent - self.keep) // cent
        buys, buy_skips, spent = self._buys(buyable, budget)
        need = spent * cent + self.keep - self.cash if buys else self.cash_target - self.cash
        if need >= sum(excess):  # all of every excess: rounding up changes nothing, as a
            sells = full  # quantity never passes the excess floored
        elif need <= 0:  # nothing needed: nothing sold, nothing skipped
            sells = []
        else:
            sells = self._sells(sellable, excess, need)
            if self._raised(sells) * cent < need:  # trimming fell short: the full sells cover it
                sells = full
        sold, sell_skips = self._sell_trades(sellable, sells)
        return Plan(trades=tuple(sold + buys), skipped=tuple(skipped + sell_skips + buy_skips))

    def _sells(
        self, sellable: Sequence[_Position], excess: list[int], need: int | None
    ) -> list[tuple[int, int, int]]:
        """Sells of every excess (``need`` None, floored) or of ``need``, largest excess first
        (shares rounded up so the proceeds cover it, but never past a target): for each, its
        place in ``sellable``, its units (``_ALL``: the whole holding) and its amount in cents."""
        if need is None:
            wanted, over = excess, 1
        else:
            wanted, over = self._trimmed(excess, need)
        picked: list[tuple[int, int, int]] = []
        cent, unit, securities = self.cent, self.unit, self.securities
        for j, (_, index, targeted, gap) in enumerate(sellable):
            amount = wanted[j]
            if not targeted and amount > 0:
                # Outside the targets: sold entirely, fractions included, even where a smaller
                # sell would cover the need — a trimmed sell would leave dust nobody wants.
                picked.append((j, _ALL, self.values[index] // cent))
                continue
            s = securities[index]
            # Never past the target, and so never past the holding: the excess is at most its
            # value.
            most = -gap * s.step // (unit * s.num)  # the gap is negative, the amount not
            units = most if need is None else -(-amount * s.step // (over * unit * s.num))
            if units > most:
                units = most
            if units > 0:
                picked.append((j, units, units * s.num100 // s.step))
        return picked

    def _raised(self, sells: Iterable[tuple[int, int, int]]) -> int:
        """The cents the sells at or above the minimum trade raise."""
        cent, minimum = self.cent, self.minimum
        return sum(cents for _, _, cents in sells if cents * cent >= minimum)

    def _sell_trades(
        self, sellable: Sequence[_Position], sells: Iterable[tuple[int, int, int]]
    ) -> tuple[list[Trade], list[SkippedTrade]]:
        trades: list[Trade] = []
        skipped: list[SkippedTrade] = []
        for j, units, cents in sells:
            symbol, index, _, _ = sellable[j]
            if cents * self.cent < self.minimum:
                skipped.append(self._below_minimum(symbol, cents))
                continue
            if units == _ALL:
                quantity = self.quantities[index].quantize(QUANTITY_STEP)
            else:
                quantity = self.securities[index].lot * units
            trades.append(
                Trade(symbol=symbol, side=Side.SELL, quantity=quantity, amount=CENT * cents)
            )
        return trades, skipped

    def _trimmed(self, excess: list[int], need: int) -> tuple[list[int], int]:
        """The amounts to sell, as numerators over a common denominator: the water-filled
        shares of ``need``; a share below the minimum trade is raised to it (within the excess)
        rather than skipped, so the trimmed sells still cover the need."""
        shares, over = _water_fill(excess, need)
        floor = self.minimum * over
        return [
            min(max(share, floor), gap * over) if share else 0
            for share, gap in zip(shares, excess, strict=True)
        ], over

    def _buys(
        self, buyable: Sequence[_Position], budget: int
    ) -> tuple[list[Trade], list[SkippedTrade], int]:
        """Buys spreading ``budget`` (cents) over the shortfalls, then its leftover; and what
        they cost in cents."""
        cent, unit, minimum = self.cent, self.unit, self.minimum
        pool = max(budget, 0)
        gaps = [p[3] for p in buyable]
        shares, over = _water_fill(gaps, pool * cent)
        share_cents = [share // (over * cent) for share in shares]
        securities = [self.securities[p[1]] for p in buyable]
        # the most each may buy: up to its target, floored
        caps = [g * s.step // (unit * s.num) for s, g in zip(securities, gaps, strict=True)]
        bought = [0] * len(buyable)
        # Nothing here goes below 0: gaps, shares and the pool are not negative (a cost is at
        # most the cents it was bought with), so neither are the quantities floored from them.
        for j in sorted(range(len(buyable)), key=gaps.__getitem__, reverse=True):  # stable
            s = securities[j]
            units = min(share_cents[j], pool) * s.step // s.num100
            if units > caps[j]:
                units = caps[j]
            cost = -(-units * s.num100 // s.step)
            if units > 0 and cost * cent >= minimum:
                bought[j] = units
                pool -= cost
        self._spend_leftover(securities, gaps, caps, bought, pool)
        trades: list[Trade] = []
        skipped: list[SkippedTrade] = []
        spent = 0
        for j, (symbol, *_) in enumerate(buyable):
            s = securities[j]
            units = bought[j]
            if units:
                cost = -(-units * s.num100 // s.step)
                spent += cost
                trades.append(
                    Trade(
                        symbol=symbol,
                        side=Side.BUY,
                        quantity=s.lot * units,
                        amount=CENT * cost,
                    )
                )
            else:
                skipped.append(self._unbought(symbol, s, share_cents[j]))
        return trades, skipped, spent

    def _spend_leftover(
        self,
        securities: Sequence[Security],
        gaps: Sequence[int],
        caps: Sequence[int],
        bought: list[int],
        pool: int,
    ) -> None:
        """Give ``pool`` (cents) to the most underweight position that can still take some
        (``bought`` grows), until none can."""
        cent, minimum = self.cent, self.minimum
        per_unit = [self.unit // s.step * s.num for s in securities]  # one unit's value
        places = range(len(gaps))
        while True:
            # most underweight first: the gap left after what is bought (ties: in order)
            left = [g - b * v for g, b, v in zip(gaps, bought, per_unit, strict=True)]
            for j in sorted(places, key=left.__getitem__, reverse=True):
                s = securities[j]
                old = bought[j]
                old_cost = -(-old * s.num100 // s.step)
                units = (old_cost + pool) * s.step // s.num100
                if units > caps[j]:
                    units = caps[j]
                if units <= old:
                    continue
                cost = -(-units * s.num100 // s.step)
                if old > 0 or cost * cent >= minimum:
                    bought[j] = units
                    pool -= cost - old_cost
                    break
            else:
                return

    def _unbought(self, symbol: str, security: Security, cents: int) -> SkippedTrade:
        if cents <= 0:
            reason = "no cash left after sells and the cash reserve"
        elif not security.fractionable and cents * security.den < 100 * security.num:
            reason = f"{_money(cents)} buys no whole share at {security.price}"
        else:
            return self._below_minimum(symbol, cents)
        return SkippedTrade(symbol=symbol, reason=reason)

    def _below_minimum(self, symbol: str, cents: int) -> SkippedTrade:
        return SkippedTrade(
            symbol=symbol,
            reason=f"{_money(cents)} is below the minimum trade amount {self.min_trade}",
        )


_ALL = -1
"""A sell of the whole holding, whatever its quantity's places."""


_NOT_SOLD = "overweight, but sells are not allowed"
_UNTRADABLE = "not tradable"


def _money(cents: int) -> Decimal:
    return Decimal(cents) * CENT


def _water_fill(gaps: Sequence[int], amount: int) -> tuple[list[int], int]:
    """:func:`water_fill` in integers: the shares as numerators over the denominator returned."""
    if amount >= sum(gaps):
        return list(gaps), 1
    ordered = sorted(gaps, reverse=True)
    prefix = 0
    cut = 0  # the level is cut / k
    k = 0
    for k, gap in enumerate(ordered, start=1):
        prefix += gap
        cut = prefix - amount
        if k == len(ordered) or cut >= ordered[k] * k:
            break
    return [share if (share := gap * k - cut) > 0 else 0 for gap in gaps], k


def water_fill(gaps: Mapping[str, Fraction], amount: Fraction) -> dict[str, Fraction]:
    """Spread ``amount`` over ``gaps`` largest first: every gap above a common level is cut to it.

    The shares sum to ``min(amount, sum(gaps))`` exactly and none exceeds its gap; ties share
    equally. This is "most underweight first" (and, for sells, "most overweight first") in the
    sense that minimises the largest gap left.
    """
    if amount >= sum(gaps.values(), Fraction(0)):
        return dict(gaps)
    common = math.lcm(amount.denominator, *(g.denominator for g in gaps.values()))
    scaled = [int(g * common) for g in gaps.values()]
    shares, over = _water_fill(scaled, int(amount * common))
    return {s: Fraction(share, over * common) for s, share in zip(gaps, shares, strict=True)}


def apply_plan(
    holdings: Sequence[Holding], cash: Decimal, plan: Plan
) -> tuple[tuple[Holding, ...], Decimal]:
    """Holdings and cash after filling ``plan`` at the holdings' prices.

    Cash moves by exactly ``quantity × price`` (not by the cent-rounded ``amount``; a broker's
    cent rounding moves it by less than a cent per trade more), so the account's total value is
    unchanged. A holding sold out stays, with quantity 0. Raises ``ValueError`` for a trade in a
    symbol that is not among ``holdings``.
    """
    by_symbol = {h.symbol: h for h in holdings}
    for trade in plan.trades:
        holding = by_symbol.get(trade.symbol)
        if holding is None:
            raise ValueError(f"no holding of {trade.symbol} to trade at")
        signed = trade.quantity if trade.side is Side.BUY else -trade.quantity
        by_symbol[trade.symbol] = replace(holding, quantity=holding.quantity + signed)
        cash -= signed * holding.price
    return tuple(by_symbol.values()), cash
