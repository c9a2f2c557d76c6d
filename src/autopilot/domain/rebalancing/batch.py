"""The drift check of a scheduler pass, for many accounts at once (issue 3, point 5).

:func:`drifted_accounts` answers the same question as
``drift_exceeds(measure_drift(...), ...)`` for each account, with the same exact arithmetic and
the same boundaries, but without building per-holding objects: the weights, bands and prices an
account needs are prepared once per (targets, held symbols, threshold) combination and shared by
every account that has it (most accounts of a robo-advisor follow one of a few model portfolios),
and the per-holding arithmetic runs column-wise through ``map`` over ``Decimal`` vectors.

Exactness: ``|w - t| > θ`` is tested as ``|v - t/100 · T| > θ/100 · T`` (``v`` the holding's
value, ``T`` the total), which only multiplies and subtracts decimals. The work runs in a decimal
context of 60 digits that traps ``Inexact``, so no figure is ever rounded; an account whose figures
would need more digits falls back to the fraction arithmetic of :func:`measure_drift`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, Inexact, localcontext
from itertools import repeat
from operator import gt, mul, sub

from autopilot.domain.money import HUNDRED, ZERO
from autopilot.domain.rebalancing.drift import CASH, Holding, Target, drift_exceeds, measure_drift


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountSnapshot:
    """An account's cash and positions, as columns: ``quantities[i]`` of ``symbols[i]``.

    Build many snapshots with the *same* ``symbols`` tuple object where accounts hold the same
    symbols in the same order: the prepared vectors are then found without hashing the tuple.
    """

    account_id: int
    cash: Decimal
    symbols: tuple[str, ...]
    quantities: tuple[Decimal, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DriftThreshold:
    """A rule's drift trigger: absolute in percentage points, optional relative band in percent."""

    absolute_pp: Decimal
    relative_pct: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Model:
    """What every account with one (targets, symbols, threshold) needs, prepared once."""

    prices: tuple[Decimal, ...]
    weights: tuple[Decimal, ...]  # target / 100, aligned with the symbols
    bands: tuple[Decimal, ...] | None  # relative band × weight; None without a relative band
    cash_weight: Decimal
    cash_band: Decimal | None  # None: cash is exempt from the relative band
    limit: Decimal  # absolute threshold / 100
    always: bool  # an unheld target alone breaches the threshold


def drifted_accounts(
    accounts: Iterable[AccountSnapshot],
    targets_by_account: Mapping[int, Sequence[Target]],
    thresholds: Mapping[int, DriftThreshold],
    prices: Mapping[str, Decimal],
) -> list[int]:
    """Ids of the accounts whose drift exceeds their threshold, in the order given.

    Same rule and boundaries as :func:`drift_exceeds` (strictly greater; relative band optional;
    a target of 0 breaches the band when held; cash with target 0 exempt from the band); an
    account worth nothing never drifts. Pass the *same* targets sequence object for accounts that
    share a model portfolio, so its vectors are prepared once. ``prices`` holds the latest price
    of every symbol held (``KeyError`` otherwise); a symbol held in quantity 0 is harmless.
    """
    models: dict[tuple[int, Hashable, DriftThreshold], _Model] = {}
    drifted: list[int] = []
    with localcontext() as context:
        context.prec = 60
        context.traps[Inexact] = True
        for account in accounts:
            targets = targets_by_account[account.account_id]
            threshold = thresholds[account.account_id]
            key = (id(targets), account.symbols, threshold)
            model = models.get(key)
            if model is None:
                model = models[key] = _prepare(targets, account.symbols, threshold, prices)
            if _exceeds(account, model, targets, threshold, prices):
                drifted.append(account.account_id)
    return drifted


def _exceeds(
    account: AccountSnapshot,
    model: _Model,
    targets: Sequence[Target],
    threshold: DriftThreshold,
    prices: Mapping[str, Decimal],
) -> bool:
    try:
        return _exceeds_decimal(account, model)
    except Inexact:  # figures too long for 60 digits: decide with fractions instead
        holdings = [
            Holding(symbol=s, quantity=q, price=prices[s])
            for s, q in zip(account.symbols, account.quantities, strict=True)
        ]
        drift = measure_drift(holdings, account.cash, targets)
        return drift_exceeds(drift, threshold.absolute_pp, threshold.relative_pct)


def _exceeds_decimal(account: AccountSnapshot, model: _Model) -> bool:
    values = list(map(mul, account.quantities, model.prices))
    cash = account.cash
    total = sum(values, cash)
    if not total:
        return False
    if model.always:
        return True
    deviations = list(map(abs, map(sub, values, map(mul, model.weights, repeat(total)))))
    cash_deviation = abs(cash - model.cash_weight * total)
    limit = model.limit * total
    if cash_deviation > limit or (deviations and max(deviations) > limit):
        return True
    if model.bands is None:
        return False
    if model.cash_band is not None and cash_deviation > model.cash_band * total:
        return True
    return any(map(gt, deviations, map(mul, model.bands, repeat(total))))


def _prepare(
    targets: Sequence[Target],
    symbols: tuple[str, ...],
    threshold: DriftThreshold,
    prices: Mapping[str, Decimal],
) -> _Model:
    weights = {t.symbol: t.weight / HUNDRED for t in targets}
    cash_weight = weights.pop(CASH, ZERO)
    limit = threshold.absolute_pp / HUNDRED
    band = None if threshold.relative_pct is None else threshold.relative_pct / HUNDRED
    held = set(symbols)
    unheld = [w for s, w in weights.items() if s not in held and w > 0]
    aligned = tuple(weights.get(s, ZERO) for s in symbols)
    return _Model(
        prices=tuple(prices[s] for s in symbols),
        weights=aligned,
        bands=None if band is None else tuple(band * w for w in aligned),
        cash_weight=cash_weight,
        cash_band=None if band is None or cash_weight == 0 else band * cash_weight,
        limit=limit,
        always=any(w > limit or (band is not None and band < 1) for w in unheld),
    )
