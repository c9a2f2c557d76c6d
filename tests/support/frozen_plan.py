"""A frozen copy of ``plan_trades`` as it was before the planner moved to integer arithmetic
(commit 4237196, ``src/autopilot/domain/rebalancing/plan.py``): the oracle the property test holds
the planner to. Do not change it to follow the planner: a difference is the planner's bug, or a
change of rule that must be made on purpose, here and in the domain together.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from autopilot.domain.money import CENT
from autopilot.domain.orders import QUANTITY_STEP, Side
from autopilot.domain.rebalancing.drift import CASH, Holding, Target, validate_holdings
from autopilot.domain.rebalancing.plan import Plan, SkippedTrade, Trade


@dataclass(frozen=True, slots=True, kw_only=True)
class _Position:
    """A security of the account: ``gap`` is target value − value (positive: underweight)."""

    symbol: str
    holding: Holding | None
    targeted: bool
    gap: Fraction


def frozen_plan_trades(
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
    """
    validate_holdings(holdings, cash)
    total = Fraction(sum((h.value for h in holdings), cash))
    if total == 0:
        return Plan(trades=(), skipped=())
    positions, cash_target = _positions(holdings, targets, total)
    keep = max(Fraction(cash_reserve), cash_target)
    skipped: list[SkippedTrade] = []
    sellable = _sellable(positions, allow_sells, skipped)
    buyable = _buyable(positions, skipped)
    full_sells, full_skips = _sells(sellable, None, min_trade_amount)
    budget = _floor_cents(Fraction(cash) + _sum_amounts(full_sells) - keep)
    buys, buy_skips = _buys(buyable, budget, min_trade_amount)
    spent = _sum_amounts(buys)
    need = spent + keep - Fraction(cash) if buys else cash_target - Fraction(cash)
    sells, sell_skips = _sells(sellable, need, min_trade_amount)
    if _sum_amounts(sells) < need:  # trimming fell short: the full sells cover any need
        sells, sell_skips = full_sells, full_skips
    return Plan(trades=tuple(sells + buys), skipped=tuple(skipped + sell_skips + buy_skips))


def _positions(
    holdings: Iterable[Holding], targets: Sequence[Target], total: Fraction
) -> tuple[list[_Position], Fraction]:
    by_symbol = {h.symbol: h for h in holdings}
    weights = {t.symbol: Fraction(t.weight) for t in targets}
    cash_target = total * weights.pop(CASH, Fraction(0)) / 100
    positions = [
        _Position(
            symbol=symbol,
            holding=by_symbol.get(symbol),
            targeted=True,
            gap=total * weight / 100 - _value(by_symbol.get(symbol)),
        )
        for symbol, weight in weights.items()
    ]
    positions += [
        _Position(symbol=h.symbol, holding=h, targeted=False, gap=-Fraction(h.value))
        for h in by_symbol.values()
        if h.symbol not in weights and h.quantity > 0
    ]
    return positions, cash_target


def _value(holding: Holding | None) -> Fraction:
    return Fraction(0) if holding is None else Fraction(holding.value)


def _sellable(
    positions: Iterable[_Position], allow_sells: bool, skipped: list[SkippedTrade]
) -> list[_Position]:
    overweight = [p for p in positions if p.gap < 0 and p.holding is not None]
    if not allow_sells:
        skipped += [_not_sold(p) for p in overweight]
        return []
    skipped += [_untradable(p) for p in overweight if not _tradable(p)]
    return [p for p in overweight if _tradable(p)]


def _buyable(positions: Iterable[_Position], skipped: list[SkippedTrade]) -> list[_Position]:
    underweight = [p for p in positions if p.gap > 0]
    for p in underweight:
        if p.holding is None:
            skipped.append(SkippedTrade(symbol=p.symbol, reason="no price"))
        elif not p.holding.tradable:
            skipped.append(_untradable(p))
    return [p for p in underweight if _tradable(p)]


def _not_sold(position: _Position) -> SkippedTrade:
    return SkippedTrade(symbol=position.symbol, reason="overweight, but sells are not allowed")


def _tradable(position: _Position) -> bool:
    return position.holding is not None and position.holding.tradable


def _untradable(position: _Position) -> SkippedTrade:
    return SkippedTrade(symbol=position.symbol, reason="not tradable")


def _sells(
    sellable: Sequence[_Position], need: Fraction | None, min_trade: Decimal
) -> tuple[list[Trade], list[SkippedTrade]]:
    """Sells of every excess (``need`` None, floored) or of ``need``, largest excess first
    (shares rounded up so the proceeds cover it, but never past a target)."""
    excess = {p.symbol: -p.gap for p in sellable}
    wanted = excess if need is None else _trimmed(excess, need, Fraction(min_trade))
    trades: list[Trade] = []
    skipped: list[SkippedTrade] = []
    for p in sellable:
        quantity = _sell_quantity(p, wanted[p.symbol], round_up=need is not None)
        if quantity <= 0:
            continue
        trade = _trade(p, Side.SELL, quantity)
        if trade.amount < min_trade:
            skipped.append(_below_minimum(p.symbol, trade.amount, min_trade))
        else:
            trades.append(trade)
    return trades, skipped


def _trimmed(
    excess: Mapping[str, Fraction], need: Fraction, floor: Fraction
) -> dict[str, Fraction]:
    # A needed sell below the minimum trade is raised to it (within the excess) rather than
    # skipped, so the trimmed sells still cover the need.
    shares = water_fill(excess, max(need, Fraction(0)))
    return {
        s: min(max(share, floor), excess[s]) if share else Fraction(0)
        for s, share in shares.items()
    }


def _sell_quantity(position: _Position, amount: Fraction, *, round_up: bool) -> Decimal:
    holding = position.holding
    assert holding is not None
    if not position.targeted and amount > 0:
        # Outside the targets: sold entirely, fractions included, even where a smaller sell
        # would cover the need — a trimmed sell would leave dust of a holding nobody wants.
        return holding.quantity
    places = _places(holding)
    most = _units(-position.gap, holding.price, places, up=False)
    wanted = _units(amount, holding.price, places, up=round_up)
    return min(wanted, most, holding.quantity)


def _buys(
    buyable: Sequence[_Position], budget: Decimal, min_trade: Decimal
) -> tuple[list[Trade], list[SkippedTrade]]:
    """Buys spreading ``budget`` (cents) over the shortfalls, then its leftover (plan_trades)."""
    shares = water_fill({p.symbol: p.gap for p in buyable}, Fraction(max(budget, Decimal(0))))
    quantities: dict[str, Decimal] = {}
    pool = max(budget, Decimal(0))
    for p in sorted(buyable, key=lambda p: -p.gap):
        quantity = _buy_quantity(p, min(_floor_cents(shares[p.symbol]), pool))
        cost = _trade(p, Side.BUY, quantity).amount
        if quantity > 0 and cost >= min_trade:
            quantities[p.symbol] = quantity
            pool -= cost
    _spend_leftover(buyable, quantities, pool, min_trade)
    trades = [_trade(p, Side.BUY, quantities[p.symbol]) for p in buyable if p.symbol in quantities]
    skipped = [
        _unbought(p, shares[p.symbol], min_trade) for p in buyable if p.symbol not in quantities
    ]
    return trades, skipped


def _spend_leftover(
    buyable: Sequence[_Position], quantities: dict[str, Decimal], pool: Decimal, min_trade: Decimal
) -> None:
    """Give ``pool`` to the most underweight position that can still take some, until none can."""
    while True:
        for p in sorted(buyable, key=lambda p: -_remaining_gap(p, quantities)):
            old = quantities.get(p.symbol, Decimal(0))
            old_cost = _trade(p, Side.BUY, old).amount if old else Decimal(0)
            new = _buy_quantity(p, old_cost + pool)
            cost = _trade(p, Side.BUY, new).amount
            if new > old and (old > 0 or cost >= min_trade):
                quantities[p.symbol] = new
                pool -= cost - old_cost
                break
        else:
            return


def _remaining_gap(position: _Position, quantities: Mapping[str, Decimal]) -> Fraction:
    assert position.holding is not None
    bought = quantities.get(position.symbol, Decimal(0)) * position.holding.price
    return position.gap - Fraction(bought)


def _buy_quantity(position: _Position, cents: Decimal) -> Decimal:
    """The most ``cents`` buys without passing the target: floored, 6 places or whole shares."""
    holding = position.holding
    assert holding is not None
    places = _places(holding)
    affordable = _units(Fraction(cents), holding.price, places, up=False)
    return min(affordable, _units(position.gap, holding.price, places, up=False))


def _unbought(position: _Position, share: Fraction, min_trade: Decimal) -> SkippedTrade:
    holding = position.holding
    assert holding is not None
    amount = _floor_cents(share)
    if amount <= 0:
        reason = "no cash left after sells and the cash reserve"
    elif not holding.fractionable and Fraction(amount) < Fraction(holding.price):
        reason = f"{amount} buys no whole share at {holding.price}"
    else:
        return _below_minimum(position.symbol, amount, min_trade)
    return SkippedTrade(symbol=position.symbol, reason=reason)


def _below_minimum(symbol: str, amount: Decimal, min_trade: Decimal) -> SkippedTrade:
    return SkippedTrade(
        symbol=symbol, reason=f"{amount} is below the minimum trade amount {min_trade}"
    )


def _trade(position: _Position, side: Side, quantity: Decimal) -> Trade:
    holding = position.holding
    assert holding is not None
    value = Fraction(quantity * holding.price)
    amount = _ceil_cents(value) if side is Side.BUY else _floor_cents(value)
    return Trade(
        symbol=position.symbol, side=side, quantity=quantity.quantize(QUANTITY_STEP), amount=amount
    )


def water_fill(gaps: Mapping[str, Fraction], amount: Fraction) -> dict[str, Fraction]:
    """Spread ``amount`` over ``gaps`` largest first: every gap above a common level is cut to it.

    The shares sum to ``min(amount, sum(gaps))`` exactly and none exceeds its gap; ties share
    equally. This is "most underweight first" (and, for sells, "most overweight first") in the
    sense that minimises the largest gap left.
    """
    total = sum(gaps.values(), Fraction(0))
    if amount >= total:
        return dict(gaps)
    ordered = sorted(gaps.values(), reverse=True)
    prefix, level = Fraction(0), Fraction(0)
    for k, gap in enumerate(ordered, start=1):
        prefix += gap
        level = (prefix - amount) / k
        if k == len(ordered) or level >= ordered[k]:
            break
    return {symbol: max(gap - level, Fraction(0)) for symbol, gap in gaps.items()}


def _places(holding: Holding) -> int:
    return 6 if holding.fractionable else 0


def _units(amount: Fraction, price: Decimal, places: int, *, up: bool) -> Decimal:
    """``amount / price`` rounded down (or up) to ``places`` decimals, exactly."""
    scaled = amount / Fraction(price) * 10**places
    units = math.ceil(scaled) if up else math.floor(scaled)
    return Decimal(max(units, 0)).scaleb(-places)


def _floor_cents(value: Fraction) -> Decimal:
    return Decimal(math.floor(value * 100)) * CENT


def _ceil_cents(value: Fraction) -> Decimal:
    return Decimal(math.ceil(value * 100)) * CENT


def _sum_amounts(trades: Iterable[Trade]) -> Fraction:
    return Fraction(sum((t.amount for t in trades), Decimal(0)))
