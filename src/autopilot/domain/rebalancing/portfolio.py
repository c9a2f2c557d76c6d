"""What the planner prepares once for every account of one model portfolio (issue 9, point 4).

A *portfolio* is the part of an account's picture that accounts following one model share: the
targets, and the securities held in a given order with their prices and flags. Preparing it turns
every weight and price into integers once, so planning an account is integer arithmetic on its
own quantities and cash only (:mod:`autopilot.domain.rebalancing.plan`).

Units: a weight ``w`` percent is ``weight / weight_scale`` of the account's total (exactly:
``weight_scale`` is 100 × the common denominator of the weights); a price is ``num / den``; one
unit of a security's quantity is ``1 / scale`` of a share (10⁻⁶, or a whole share when it is not
fractionable); ``money_scale`` is a common multiple of every ``den × scale``, so the value of any
quantity of any of the securities is a whole number of ``1 / money_scale``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from autopilot.domain.rebalancing.drift import CASH, Target

FRACTION_SCALE = 10**6
"""Units of a fractionable security per share: quantities go to 6 places."""
_LOTS = {FRACTION_SCALE: Decimal("0.000001"), 1: Decimal("1.000000")}


@dataclass(frozen=True, slots=True)
class Security:
    """One security of the portfolio, its price exact as ``num / den``."""

    symbol: str
    price: Decimal
    num: int
    den: int
    scale: int
    fractionable: bool
    tradable: bool
    step: int
    """``den × scale``: one unit of quantity is worth ``num / step``."""
    num100: int
    """``100 × num``: ``units × num100 // step`` is their value in cents, floored."""
    lot: Decimal
    """One unit as a quantity to 6 places: ``lot × units`` is the quantity a trade carries."""


@dataclass(frozen=True, slots=True)
class TargetSlot:
    """A target: its symbol, the index of its security among the holdings (-1: not held, so no
    price) and its weight in ``1 / weight_scale`` of the total."""

    symbol: str
    index: int
    weight: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Portfolio:
    targets: Sequence[Target]
    """The targets it was prepared for (kept so their ``id`` stays theirs while it lives)."""
    securities: tuple[Security, ...]
    """Aligned with the holdings; empty when ``valid`` is false."""
    slots: tuple[TargetSlot, ...]
    """The targets but ``CASH``, in target order."""
    others: tuple[int, ...]
    """Indices of the holdings outside the targets."""
    cash_weight: int
    weight_scale: int
    money_scale: int
    valid: bool
    """Symbols unique and none ``CASH``, prices finite and positive, weights finite: otherwise
    the planner hands the account to the validation (or the arithmetic) that refuses it."""


def prepare(
    targets: Sequence[Target],
    symbols: tuple[str, ...],
    prices: tuple[Decimal, ...],
    fractionable: tuple[bool, ...],
    tradable: tuple[bool, ...],
) -> Portfolio:
    # Same symbol twice among the targets: the last weight counts, at the first one's place,
    # as a dict built in target order has it.
    weights: dict[str, Decimal] = {t.symbol: t.weight for t in targets}
    cash_weight = weights.pop(CASH, Decimal(0))
    valid = (
        len(set(symbols)) == len(symbols)
        and CASH not in symbols
        and all(p.is_finite() and p > 0 for p in prices)
        and cash_weight.is_finite()
        and all(w.is_finite() for w in weights.values())
    )
    if not valid:
        return _invalid(targets)
    ratios = {s: w.as_integer_ratio() for s, w in weights.items()}
    cash_num, cash_den = cash_weight.as_integer_ratio()
    common = math.lcm(cash_den, *(d for _, d in ratios.values()))
    securities = tuple(map(_security, symbols, prices, fractionable, tradable))
    index = {s: i for i, s in enumerate(symbols)}
    return Portfolio(
        targets=targets,
        securities=securities,
        slots=tuple(
            TargetSlot(symbol=s, index=index.get(s, -1), weight=n * (common // d))
            for s, (n, d) in ratios.items()
        ),
        others=tuple(i for i, s in enumerate(symbols) if s not in weights),
        cash_weight=cash_num * (common // cash_den),
        weight_scale=100 * common,
        money_scale=math.lcm(1, *(s.step for s in securities)),
        valid=True,
    )


def _security(symbol: str, price: Decimal, fractionable: bool, tradable: bool) -> Security:
    num, den = price.as_integer_ratio()
    scale = FRACTION_SCALE if fractionable else 1
    return Security(
        symbol=symbol,
        price=price,
        num=num,
        den=den,
        scale=scale,
        fractionable=fractionable,
        tradable=tradable,
        step=den * scale,
        num100=100 * num,
        lot=_LOTS[scale],
    )


def _invalid(targets: Sequence[Target]) -> Portfolio:
    return Portfolio(
        targets=targets,
        securities=(),
        slots=(),
        others=(),
        cash_weight=0,
        weight_scale=1,
        money_scale=1,
        valid=False,
    )


PortfolioKey = tuple[int, tuple[str, ...], tuple[Decimal, ...], tuple[bool, ...], tuple[bool, ...]]


class Portfolios:
    """Prepared portfolios by (targets object, symbols, prices, flags), for one planner.

    Keyed by the targets' identity, not their value (hashing every target of every account
    would cost more than it saves): pass the *same* targets object for accounts of one model.
    """

    LIMIT = 4096

    def __init__(self) -> None:
        self._prepared: dict[PortfolioKey, Portfolio] = {}

    def get(
        self,
        targets: Sequence[Target],
        symbols: tuple[str, ...],
        prices: tuple[Decimal, ...],
        fractionable: tuple[bool, ...],
        tradable: tuple[bool, ...],
    ) -> Portfolio:
        key = (id(targets), symbols, prices, fractionable, tradable)
        found = self._prepared.get(key)
        if found is not None and found.targets is targets:
            return found
        if len(self._prepared) >= self.LIMIT:
            self._prepared.clear()
        made = prepare(targets, symbols, prices, fractionable, tradable)
        self._prepared[key] = made
        return made

    def __len__(self) -> int:
        return len(self._prepared)
