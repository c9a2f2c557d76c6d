"""Rebalancing: targets, holdings, drift and the drift trigger (DESIGN §5 "Rebalancing").

Weights are percentages of the account's total value, cash included. The drift of a holding is
its weight minus its target in percentage points (pp); a holding outside the targets has target 0,
and cash is a holding under the symbol ``CASH`` (which may also stand among the targets). The
account's drift is the largest absolute drift of its holdings.

Precision: every decision (:func:`drift_exceeds`, the planner in
:mod:`autopilot.domain.rebalancing.plan`, the batch check in
:mod:`autopilot.domain.rebalancing.batch`) uses the exact weights, as fractions. The ``weight`` and
``drift`` shown to people are those exact figures rounded half away from zero to 0.01 pp, so an
account shown at exactly the threshold may be just above it and count as drifted.

Trades are planned in :mod:`autopilot.domain.rebalancing.plan`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from autopilot.domain.errors import InvalidInput
from autopilot.domain.money import HUNDRED
from autopilot.domain.orders import MAX_ORDER_AMOUNT

CASH = "CASH"
PP_STEP = Decimal("0.01")


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """A target weight in percent of the account's total value; ``CASH`` targets cash."""

    symbol: str
    weight: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class Holding:
    """A position valued at ``price``; ``quantity`` ≥ 0 and ``price`` > 0."""

    symbol: str
    quantity: Decimal
    price: Decimal
    fractionable: bool = True
    tradable: bool = True

    @property
    def value(self) -> Decimal:
        """``quantity × price``, unrounded (exact for quantities to 6 and prices to 8 places)."""
        return self.quantity * self.price


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldingDrift:
    """One line of an account's drift: ``weight`` and ``drift`` are shown to 0.01 pp.

    ``exact_weight`` and ``exact_drift`` (pp, as fractions) are what decisions use.
    """

    symbol: str
    value: Decimal
    weight: Decimal
    target: Decimal
    drift: Decimal
    exact_weight: Fraction
    exact_drift: Fraction


@dataclass(frozen=True, slots=True, kw_only=True)
class Drift:
    """An account's drift: ``drift`` is the largest absolute holding drift, shown to 0.01 pp."""

    total_value: Decimal
    drift: Decimal
    exact_drift: Fraction
    holdings: tuple[HoldingDrift, ...]


def measure_drift(holdings: Sequence[Holding], cash: Decimal, targets: Sequence[Target]) -> Drift:
    """Weights, targets and drift of every holding, and the account's drift.

    Lines come in target order, then the holdings outside the targets in the order given, then
    ``CASH`` if it is not a target (cash is always listed). ``value`` is ``quantity × price``
    unrounded (round to the cent with :func:`autopilot.domain.money.to_cents` for display);
    ``total_value`` is their sum plus cash. A target the account does not hold has value 0 and
    drift ``-target``. An account worth nothing has every weight and drift 0: there is nothing
    to rebalance. Raises :class:`InvalidInput` for bad holdings (see :func:`validate_holdings`).
    """
    validate_holdings(holdings, cash)
    values = _values_by_symbol(holdings, cash)
    weights = {t.symbol: t.weight for t in targets}
    symbols = [t.symbol for t in targets]
    symbols += [s for s in values if s not in weights]
    total = sum(values.values(), Decimal(0))
    lines = tuple(
        _line(s, values.get(s, Decimal(0)), weights.get(s, Decimal(0)), total) for s in symbols
    )
    worst = max((abs(line.exact_drift) for line in lines), default=Fraction(0))
    return Drift(total_value=total, drift=to_pp(worst), exact_drift=worst, holdings=lines)


def _values_by_symbol(holdings: Iterable[Holding], cash: Decimal) -> dict[str, Decimal]:
    values = {h.symbol: h.value for h in holdings}
    values[CASH] = cash
    return values


def _line(symbol: str, value: Decimal, target: Decimal, total: Decimal) -> HoldingDrift:
    weight = Fraction(value) * 100 / Fraction(total) if total else Fraction(0)
    drift = weight - Fraction(target) if total else Fraction(0)
    return HoldingDrift(
        symbol=symbol,
        value=value,
        weight=to_pp(weight),
        target=target,
        drift=to_pp(drift),
        exact_weight=weight,
        exact_drift=drift,
    )


def to_pp(value: Fraction) -> Decimal:
    """``value`` rounded to 0.01 exactly, halves away from zero (0.125 → 0.13, -0.005 → -0.01)."""
    hundredths, remainder = divmod(abs(value.numerator) * 100, value.denominator)
    if 2 * remainder >= value.denominator:
        hundredths += 1
    sign = -1 if value < 0 else 1
    return (Decimal(sign * hundredths) * PP_STEP).quantize(PP_STEP)


def drift_exceeds(
    drift: Drift,
    absolute_threshold_pp: Decimal,
    relative_threshold_pct: Decimal | None = None,
) -> bool:
    """Whether the account is due for a drift rebalance.

    Absolute: some holding has ``|w - t| > absolute_threshold_pp``, strictly (a drift equal to
    the threshold does not trigger). Relative band (optional, either band triggers): some holding
    has ``|w - t| / t > relative_threshold_pct / 100``, strictly; a security with target 0 breaches
    it as soon as the account holds any of it. Cash with target 0 is exempt from the relative
    band (any cash at all, a reserve or rounding change, would breach it); the absolute band
    covers it. Both compare the exact weights, not the 0.01 pp figures shown.
    """
    if drift.exact_drift > Fraction(absolute_threshold_pp):
        return True
    if relative_threshold_pct is None:
        return False
    band = Fraction(relative_threshold_pct) / 100
    return any(_outside_band(line, band) for line in drift.holdings)


def _outside_band(line: HoldingDrift, band: Fraction) -> bool:
    if line.target == 0:
        return line.symbol != CASH and line.exact_weight > 0
    return abs(line.exact_drift) > band * Fraction(line.target)


def validate_targets(targets: Sequence[Target], field: str = "targets") -> None:
    """Raise :class:`InvalidInput` naming the field unless the targets make a whole account.

    At least one target; no symbol twice; each weight finite and within 0–100 inclusive (a 0
    target is allowed: the holding is to be sold); weights summing to exactly 100.
    """
    if not targets:
        raise InvalidInput(field, "must name at least one symbol")
    seen: set[str] = set()
    for i, target in enumerate(targets):
        if not target.symbol:
            raise InvalidInput(f"{field}[{i}].symbol", "must not be empty")
        if target.symbol in seen:
            raise InvalidInput(f"{field}[{i}].symbol", f"{target.symbol} appears twice")
        seen.add(target.symbol)
        weight = target.weight
        if not weight.is_finite() or weight < 0 or weight > HUNDRED:
            raise InvalidInput(f"{field}[{i}].weight", f"must be 0 to 100, got {weight}")
    total = sum((t.weight for t in targets), Decimal(0))
    if total != HUNDRED:
        raise InvalidInput(field, f"weights must sum to 100, got {total}")


def validate_threshold(value: Decimal, field: str = "drift_threshold") -> None:
    """Raise :class:`InvalidInput` unless ``0 < value < 100`` (both bounds exclusive)."""
    if not value.is_finite() or value <= 0 or value >= HUNDRED:
        raise InvalidInput(field, f"must be greater than 0 and less than 100, got {value}")


def validate_holdings(holdings: Sequence[Holding], cash: Decimal, field: str = "holdings") -> None:
    """Raise :class:`InvalidInput` for negative cash, a duplicate or ``CASH`` symbol, a negative
    quantity or a price that is not positive: the drift of such an account means nothing."""
    if not cash.is_finite() or cash < 0:
        raise InvalidInput("cash", f"must not be negative, got {cash}")
    seen: set[str] = set()
    for i, holding in enumerate(holdings):
        if holding.symbol == CASH:
            raise InvalidInput(f"{field}[{i}].symbol", "CASH is the account's cash, not a holding")
        if holding.symbol in seen:
            raise InvalidInput(f"{field}[{i}].symbol", f"{holding.symbol} appears twice")
        seen.add(holding.symbol)
        if not holding.quantity.is_finite() or holding.quantity < 0:
            raise InvalidInput(f"{field}[{i}].quantity", "must not be negative")
        if not holding.price.is_finite() or holding.price <= 0:
            raise InvalidInput(f"{field}[{i}].price", "must be positive")
        if holding.value >= MAX_ORDER_AMOUNT:  # its trades could not be written or filled
            raise InvalidInput(
                f"{field}[{i}]",
                f"{holding.symbol} is worth {holding.value:.2E}, beyond the largest amount"
                f" a trade can have ({MAX_ORDER_AMOUNT:.0E})",
            )
