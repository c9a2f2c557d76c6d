"""The integer planner makes exactly the plans of the fraction planner it replaced.

``tests/support/frozen_plan.py`` is that planner, frozen: same trades (symbol, side, quantity and
amount to the digit, in order) and same skipped trades with the same reasons, over generated
holdings, cash, targets, minimum trades, reserves, ``allow_sells`` and the securities' flags.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from autopilot.domain.errors import InvalidInput
from autopilot.domain.rebalancing.drift import CASH, Holding, Target, measure_drift
from autopilot.domain.rebalancing.plan import Plan, TradePlanner, plan_trades
from tests.support.frozen_plan import frozen_plan_trades

D = Decimal
SYMBOLS = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH")
PRICE_PLACES = st.sampled_from([0, 1, 2, 2, 2, 4, 6])


@st.composite
def prices(draw: st.DrawFn) -> Decimal:
    places = draw(PRICE_PLACES)
    return D(draw(st.integers(1, 10 ** (5 + places)))).scaleb(-places)


@st.composite
def holdings(draw: st.DrawFn, symbols: tuple[str, ...], size: int) -> list[Holding]:
    made = []
    for symbol in symbols:
        fractionable = draw(st.booleans())
        price = draw(prices())
        worth = D(draw(st.integers(0, size)))  # about what the holding is worth
        if draw(st.integers(0, 5)) == 0:
            quantity = D(0)  # a target not held yet, or sold out
        elif fractionable:
            quantity = (worth / price).quantize(D("0.000001"))
        else:
            quantity = (worth / price).quantize(D(1))
        made.append(
            Holding(
                symbol=symbol,
                quantity=quantity,
                price=price,
                fractionable=fractionable,
                tradable=draw(st.integers(0, 7)) > 0,
            )
        )
    return made


@st.composite
def weights(draw: st.DrawFn, count: int) -> list[Decimal]:
    """``count`` weights summing to 100: whole points, or to 2 places (33.33, ...)."""
    places = draw(st.sampled_from([0, 0, 1, 2]))
    whole = 100 * 10**places
    cuts = sorted(draw(st.lists(st.integers(0, whole), min_size=count - 1, max_size=count - 1)))
    return [D(b - a).scaleb(-places) for a, b in zip([0, *cuts], [*cuts, whole], strict=True)]


@st.composite
def accounts(draw: st.DrawFn) -> dict[str, object]:
    universe = list(SYMBOLS[: draw(st.integers(1, len(SYMBOLS)))])
    held = draw(st.lists(st.sampled_from(universe), unique=True, max_size=len(universe)))
    targeted = draw(st.lists(st.sampled_from(universe), unique=True, min_size=1))
    if draw(st.integers(0, 3)) == 0:
        targeted.append(CASH)
    # a target the account does not hold mostly comes with a price (quantity 0), or not
    priced = held + [s for s in targeted if s not in held and s != CASH and draw(st.integers(0, 4))]
    size = draw(st.sampled_from([10, 1_000, 100_000, 10_000_000, 10**10]))
    cash_places = draw(st.sampled_from([0, 2, 2, 3]))
    reserve_places = draw(st.sampled_from([0, 2]))
    return {
        "holdings": draw(holdings(tuple(priced), size)),
        "cash": D(draw(st.integers(0, size * 10**cash_places // 4))).scaleb(-cash_places),
        "targets": tuple(
            Target(symbol=s, weight=w)
            for s, w in zip(targeted, draw(weights(len(targeted))), strict=True)
        ),
        "min_trade_amount": D(draw(st.sampled_from([0, 1, 100, 100, 2_500, 100_000, 333]))).scaleb(
            -2
        ),
        "allow_sells": draw(st.integers(0, 3)) > 0,
        "cash_reserve": D(
            draw(st.integers(0, size * 10**reserve_places // 10) | st.just(0))
        ).scaleb(-reserve_places),
    }


def as_text(plan: Plan) -> tuple[list[tuple[str, ...]], list[tuple[str, str]]]:
    """The plan to the digit: ``Decimal("5") == Decimal("5.000000")``, but not in a log row."""
    return (
        [(t.symbol, t.side.value, str(t.quantity), str(t.amount)) for t in plan.trades],
        [(s.symbol, s.reason) for s in plan.skipped],
    )


ORACLE = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@ORACLE
@given(accounts())
@example(  # a holding outside the targets, sold to the last fraction
    {
        "holdings": [
            Holding(symbol="BND", quantity=D("55.172413"), price=D("72.50")),
            Holding(symbol="VTI", quantity=D(0), price=D("287.41")),
        ],
        "cash": D(0),
        "targets": (Target(symbol="VTI", weight=D(100)),),
        "min_trade_amount": D("1.00"),
        "allow_sells": True,
        "cash_reserve": D(0),
    }
)
@example(  # the leftover buys a whole share costing exactly the minimum trade
    {
        "holdings": [
            Holding(symbol="AAA", quantity=D(0), price=D("3.00"), fractionable=False),
            Holding(symbol="BBB", quantity=D(0), price=D("1.00"), fractionable=False),
            Holding(symbol="CCC", quantity=D("99.6"), price=D(1)),
        ],
        "cash": D("100.40"),
        "targets": (
            Target(symbol="AAA", weight=D(50)),
            Target(symbol="BBB", weight=D("0.75")),
            Target(symbol="CCC", weight=D("49.25")),
        ),
        "min_trade_amount": D("1.00"),
        "allow_sells": False,
        "cash_reserve": D(0),
    }
)
def test_the_planner_makes_the_frozen_planners_plans(account: dict[str, object]) -> None:
    expected = frozen_plan_trades(**account)  # type: ignore[arg-type]
    got = plan_trades(**account)  # type: ignore[arg-type]
    assert as_text(got) == as_text(expected)
    assert got == expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(accounts(), st.lists(st.lists(st.integers(0, 10**9), max_size=8), min_size=1, max_size=6))
def test_one_planner_shares_a_portfolio_between_accounts_and_still_plans_each_exactly(
    model: dict[str, object], quantities: list[list[int]]
) -> None:
    planner = TradePlanner()
    targets: tuple[Target, ...] = model["targets"]  # type: ignore[assignment]
    base: list[Holding] = model["holdings"]  # type: ignore[assignment]
    for i, units in enumerate(quantities):
        account = dict(model)
        account["holdings"] = [
            Holding(
                symbol=h.symbol,
                quantity=D(u).scaleb(-6) if h.fractionable else D(u // 10**6),
                price=h.price,
                fractionable=h.fractionable,
                tradable=h.tradable,
            )
            for h, u in zip(base, units + [0] * len(base), strict=False)
        ]
        account["cash"] = D(i * 1234567).scaleb(-2)
        expected = frozen_plan_trades(**account)  # type: ignore[arg-type]
        got = planner.plan(**account)  # type: ignore[arg-type]
        assert as_text(got) == as_text(expected)
    assert targets is model["targets"]


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(accounts())
def test_the_planners_drift_is_the_drift_measured_line_by_line(
    account: dict[str, object],
) -> None:
    holdings: list[Holding] = account["holdings"]  # type: ignore[assignment]
    cash: Decimal = account["cash"]  # type: ignore[assignment]
    targets: tuple[Target, ...] = account["targets"]  # type: ignore[assignment]
    shown = measure_drift(holdings, cash, targets).drift
    assert str(TradePlanner().drift(holdings, cash, targets)) == str(shown)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(accounts())
def test_planning_columns_or_both_figures_at_once_makes_the_same_plans(
    account: dict[str, object],
) -> None:
    """What a batch calls (the holdings as columns; the drift and the plan from one reading)
    plans as :func:`plan_trades` does, and refuses what it refuses with the same message."""
    holdings: list[Holding] = account["holdings"]  # type: ignore[assignment]
    cash: Decimal = account["cash"]  # type: ignore[assignment]
    targets: tuple[Target, ...] = account["targets"]  # type: ignore[assignment]
    rules = {k: account[k] for k in ("min_trade_amount", "allow_sells", "cash_reserve")}
    expected = plan_trades(**account)  # type: ignore[arg-type]
    columns = TradePlanner().plan_columns(
        tuple(h.symbol for h in holdings),
        tuple(h.quantity for h in holdings),
        tuple(h.price for h in holdings),
        cash,
        targets,
        fractionable=tuple(h.fractionable for h in holdings),
        tradable=tuple(h.tradable for h in holdings),
        **rules,  # type: ignore[arg-type]
    )
    assert as_text(columns) == as_text(expected)
    drift, plan = TradePlanner().drift_and_plan(holdings, cash, targets, **rules)  # type: ignore[arg-type]
    assert as_text(plan) == as_text(expected)
    assert str(drift) == str(TradePlanner().drift(holdings, cash, targets))


def test_columns_default_to_fractionable_and_tradable_and_must_line_up() -> None:
    rules = {"min_trade_amount": D("1.00"), "allow_sells": True, "cash_reserve": D(0)}
    targets = (Target(symbol="AAA", weight=D(60)), Target(symbol="BBB", weight=D(40)))
    holdings = [
        Holding(symbol="AAA", quantity=D("1.5"), price=D("100.00")),
        Holding(symbol="BBB", quantity=D(0), price=D("33.33")),
    ]
    planner = TradePlanner()
    columns = planner.plan_columns(
        ("AAA", "BBB"), (D("1.5"), D(0)), (D("100.00"), D("33.33")), D(250), targets, **rules
    )
    assert as_text(columns) == as_text(plan_trades(holdings, D(250), targets, **rules))
    assert columns.trades  # something to buy: the flags defaulted to what a Holding has
    with pytest.raises(ValueError, match="differ in length"):
        planner.plan_columns(("AAA", "BBB"), (D(1),), (D(1), D(1)), D(0), targets, **rules)
    with pytest.raises(InvalidInput, match=r"holdings\[0\]\.quantity: must not be negative"):
        planner.plan_columns(("AAA",), (D(-1),), (D(1),), D(0), targets, **rules)
