from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from autopilot.domain.errors import InvalidInput
from autopilot.domain.rebalancing.batch import AccountSnapshot, DriftThreshold, drifted_accounts
from autopilot.domain.rebalancing.drift import (
    CASH,
    Holding,
    Target,
    drift_exceeds,
    measure_drift,
    to_pp,
    validate_targets,
    validate_threshold,
)
from autopilot.domain.rebalancing.plan import Plan, apply_plan, plan_trades, water_fill

D = Decimal
MODEL = (
    Target(symbol="VTI", weight=D(60)),
    Target(symbol="BND", weight=D(30)),
    Target(symbol="VXUS", weight=D(10)),
)


def holding(symbol: str, quantity: str, price: str, **flags: bool) -> Holding:
    return Holding(symbol=symbol, quantity=D(quantity), price=D(price), **flags)


def drifted_70_25_5() -> list[Holding]:
    # $100,000 at 70 / 25 / 5 against the 60 / 30 / 10 model
    return [
        holding("VTI", "280", "250.00"),
        holding("BND", "500", "50.00"),
        holding("VXUS", "80", "62.50"),
    ]


def plan(
    holdings: list[Holding],
    cash: str = "0",
    targets: tuple[Target, ...] = MODEL,
    *,
    min_trade: str = "1.00",
    allow_sells: bool = True,
    reserve: str = "0",
) -> Plan:
    return plan_trades(
        holdings,
        D(cash),
        targets,
        min_trade_amount=D(min_trade),
        allow_sells=allow_sells,
        cash_reserve=D(reserve),
    )


def as_rows(result: Plan) -> list[tuple[str, str, str, str]]:
    return [(t.symbol, t.side.value, str(t.quantity), str(t.amount)) for t in result.trades]


# --- drift -------------------------------------------------------------------------------------


def test_drift_is_weight_minus_target_and_the_account_drift_is_the_largest() -> None:
    drift = measure_drift(drifted_70_25_5(), D("0"), MODEL)
    assert drift.total_value == D("100000")
    assert [(h.symbol, h.weight, h.target, h.drift) for h in drift.holdings] == [
        ("VTI", D("70.00"), D(60), D("10.00")),
        ("BND", D("25.00"), D(30), D("-5.00")),
        ("VXUS", D("5.00"), D(10), D("-5.00")),
        (CASH, D("0.00"), D(0), D("0.00")),
    ]
    assert drift.drift == D("10.00")


def test_a_holding_outside_the_targets_has_target_zero_and_cash_counts_in_the_total() -> None:
    holdings = [holding("VTI", "10", "100"), holding("GME", "5", "20")]
    drift = measure_drift(holdings, D("900"), [Target(symbol="VTI", weight=D(100))])
    lines = {h.symbol: h for h in drift.holdings}
    assert drift.total_value == D(2000)
    assert lines["GME"].target == 0 and lines["GME"].drift == D("5.00")
    assert lines[CASH].weight == D("45.00")
    assert lines["VTI"].drift == D("-50.00")
    assert drift.drift == D("50.00")


def test_weights_are_shown_to_a_hundredth_of_a_point_rounded_half_away_from_zero() -> None:
    assert to_pp(Fraction(1, 3)) == D("0.33")
    assert to_pp(Fraction(1, 8)) == D("0.13")
    assert to_pp(Fraction(-1, 200)) == D("-0.01")


def test_an_empty_account_has_no_drift() -> None:
    drift = measure_drift([], D("0"), MODEL)
    assert drift.drift == 0 and drift.total_value == 0


def test_absolute_threshold_is_exclusive() -> None:
    drift = measure_drift(drifted_70_25_5(), D("0"), MODEL)  # exactly 10 points
    assert not drift_exceeds(drift, D(10))
    assert drift_exceeds(drift, D("9.99"))


def test_relative_band_measures_drift_against_the_target() -> None:
    drift = measure_drift(drifted_70_25_5(), D("0"), MODEL)  # VXUS: 5 points off a 10 target
    assert not drift_exceeds(drift, D(20), relative_threshold_pct=D(50))  # 50% exactly
    assert drift_exceeds(drift, D(20), relative_threshold_pct=D(49))


def test_relative_band_is_breached_by_any_holding_outside_the_targets_but_not_by_cash() -> None:
    targets = [Target(symbol="VTI", weight=D(100))]
    with_cash = measure_drift([holding("VTI", "99", "10")], D("10"), targets)
    assert not drift_exceeds(with_cash, D(5), relative_threshold_pct=D(25))
    stray = measure_drift([holding("VTI", "99", "10"), holding("X", "1", "1")], D("0"), targets)
    assert drift_exceeds(stray, D(5), relative_threshold_pct=D(25))


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("targets", "field"),
    [
        ([Target(symbol="VTI", weight=D(60)), Target(symbol="BND", weight=D(30))], "targets"),
        (
            [Target(symbol="VTI", weight=D(110)), Target(symbol="BND", weight=D(-10))],
            "targets[0].weight",
        ),
        (
            [Target(symbol="VTI", weight=D(50)), Target(symbol="VTI", weight=D(50))],
            "targets[1].symbol",
        ),
        ([], "targets"),
    ],
)
def test_bad_targets_name_the_field(targets: list[Target], field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        validate_targets(targets)
    assert error.value.field == field


@pytest.mark.parametrize("value", [D(0), D(-1), D(100), D(150)])
def test_thresholds_must_lie_strictly_between_0_and_100(value: Decimal) -> None:
    with pytest.raises(InvalidInput) as error:
        validate_threshold(value)
    assert error.value.field == "drift_threshold"
    validate_threshold(D("0.5"))


# --- planning: examples ------------------------------------------------------------------------


def test_drifted_account_sells_the_overweight_and_buys_the_underweights_to_the_cent() -> None:
    result = plan(drifted_70_25_5())
    assert as_rows(result) == [
        ("VTI", "sell", "40.000000", "10000.00"),
        ("BND", "buy", "100.000000", "5000.00"),
        ("VXUS", "buy", "80.000000", "5000.00"),
    ]
    assert result.skipped == ()
    after, cash = apply_plan(drifted_70_25_5(), D(0), result)
    assert measure_drift(after, cash, MODEL).exact_drift == 0


def test_fractional_quantities_are_floored_to_six_places_and_cost_never_exceeds_the_amount() -> (
    None
):
    holdings = [holding("VTI", "3", "287.41"), holding("BND", "0", "72.55")]
    targets = (Target(symbol="VTI", weight=D(50)), Target(symbol="BND", weight=D(50)))
    result = plan(holdings, "1000.00", targets)
    buys = {t.symbol: t for t in result.buys}
    # total 1862.23: each side's target is 931.115
    assert buys["BND"].quantity == D("12.834045")  # 931.11 / 72.55 floored
    # VTI: 68.88 (931.115 - 862.23, cents cut) buys 0.239657; the cent left over then buys
    # up to 0.239675, worth 68.88498..., still under its 68.885 shortfall
    assert buys["VTI"].quantity == D("0.239675")
    assert sum(t.amount for t in result.buys) <= D("1000.00")


def test_a_holding_outside_the_targets_is_sold_entirely() -> None:
    holdings = [*drifted_70_25_5(), holding("GME", "2.5", "20.00", fractionable=False)]
    result = plan(holdings)
    sells = {t.symbol: t for t in result.sells}
    assert sells["GME"].quantity == D("2.5") and sells["GME"].amount == D("50.00")


def test_trades_below_the_minimum_are_skipped_and_listed() -> None:
    holdings = [
        holding("VTI", "240", "250"),
        holding("BND", "599", "50"),
        holding("VXUS", "160", "62.5"),
    ]
    result = plan(holdings, "50", min_trade="100")  # BND is $50 short
    assert [t.symbol for t in result.trades] == []
    assert [s.symbol for s in result.skipped] == ["BND"]
    assert "below the minimum trade amount 100" in result.skipped[0].reason


def test_the_cash_reserve_is_kept() -> None:
    holdings = [holding("VTI", "0", "250"), holding("BND", "0", "50"), holding("VXUS", "0", "62.5")]
    result = plan(holdings, "10000.00", reserve="1000.00")
    assert sum(t.amount for t in result.buys) == D("9000.00")
    # 9,000 to spend against shortfalls of 6,000 / 3,000 / 1,000: each is filled down to a
    # common 333.33 short; the two leftover cents go to the first of the tied shortfalls
    assert as_rows(result) == [
        ("VTI", "buy", "22.666720", "5666.68"),
        ("BND", "buy", "53.333200", "2666.66"),
        ("VXUS", "buy", "10.666560", "666.66"),
    ]


def test_whole_shares_and_the_leftover_goes_to_the_most_underweight_that_can_take_it() -> None:
    holdings = [
        holding("VTI", "0", "300", fractionable=False),
        holding("BND", "0", "70", fractionable=False),
        holding("VXUS", "0", "60", fractionable=False),
    ]
    result = plan(holdings, "1000")  # targets 600 / 300 / 100
    assert as_rows(result) == [
        ("VTI", "buy", "2.000000", "600.00"),
        ("BND", "buy", "4.000000", "280.00"),
        ("VXUS", "buy", "1.000000", "60.00"),
    ]
    # leftover 60: VXUS is then the most underweight (40 short), but a share would pass its
    # target; BND (20 short) cannot take a 70 share either, so 60 stays in cash.
    holdings[2] = holding("VXUS", "0", "30", fractionable=False)
    assert as_rows(plan(holdings, "1000"))[-1] == ("VXUS", "buy", "3.000000", "90.00")


def test_without_sells_only_buys_are_planned_most_underweight_first() -> None:
    result = plan(drifted_70_25_5(), "6000", allow_sells=False)
    # total 106,000: BND 31,800 short 6,800, VXUS 10,600 short 5,600. Water-filling takes BND
    # down to VXUS's shortfall first, then shares the rest: BND 3,600, VXUS 2,400.
    assert as_rows(result) == [
        ("BND", "buy", "72.000000", "3600.00"),
        ("VXUS", "buy", "38.400000", "2400.00"),
    ]
    assert [(s.symbol, s.reason) for s in result.skipped] == [
        ("VTI", "overweight, but sells are not allowed")
    ]


def test_cash_may_be_a_target_and_is_kept() -> None:
    targets = (Target(symbol="VTI", weight=D(90)), Target(symbol=CASH, weight=D(10)))
    result = plan([holding("VTI", "0", "100")], "10000", targets)
    assert as_rows(result) == [("VTI", "buy", "90.000000", "9000.00")]
    targets = (Target(symbol="VTI", weight=D(80)), Target(symbol=CASH, weight=D(20)))
    result = plan([holding("VTI", "100", "100")], "0", targets)
    assert as_rows(result) == [("VTI", "sell", "20.000000", "2000.00")]


def test_untradable_securities_are_skipped_with_a_reason() -> None:
    holdings = drifted_70_25_5()
    holdings[2] = holding("VXUS", "80", "62.50", tradable=False)
    result = plan(holdings)
    assert ("VXUS", "not tradable") in [(s.symbol, s.reason) for s in result.skipped]
    assert "VXUS" not in [t.symbol for t in result.trades]
    # VTI is sold only as far as BND can use the proceeds
    assert as_rows(result) == [
        ("VTI", "sell", "20.000000", "5000.00"),
        ("BND", "buy", "100.000000", "5000.00"),
    ]


def test_water_fill_cuts_the_largest_gaps_to_a_common_level() -> None:
    shares = water_fill({"A": Fraction(10), "B": Fraction(4), "C": Fraction(1)}, Fraction(8))
    assert shares == {"A": Fraction(7), "B": Fraction(1), "C": Fraction(0)}


# --- planning: properties ----------------------------------------------------------------------

SYMBOLS = ("AAA", "BBB", "CCC", "DDD", "EEE")


@st.composite
def accounts(draw: st.DrawFn, *, fractional_only: bool = False) -> dict[str, object]:
    count = draw(st.integers(1, 5))
    holdings = []
    for symbol in SYMBOLS[:count]:
        fractionable = fractional_only or draw(st.booleans())
        units = draw(st.integers(0, 2_000_000_000))
        quantity = D(units).scaleb(-6) if fractionable else D(units // 1_000_000)
        holdings.append(
            Holding(
                symbol=symbol,
                quantity=quantity,
                price=D(draw(st.integers(1, 100_000))).scaleb(-2),
                fractionable=fractionable,
                tradable=fractional_only or draw(st.integers(0, 9)) > 0,
            )
        )
    named = [h.symbol for h in holdings if draw(st.integers(0, 4)) > 0] or [holdings[0].symbol]
    if draw(st.booleans()):
        named.append(CASH)
    cuts = sorted(
        draw(st.lists(st.integers(0, 100), min_size=len(named) - 1, max_size=len(named) - 1))
    )
    weights = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
    return {
        "holdings": holdings,
        "cash": D(draw(st.integers(0, 10_000_000))).scaleb(-2),
        "targets": tuple(
            Target(symbol=s, weight=D(w)) for s, w in zip(named, weights, strict=True)
        ),
        "min_trade_amount": D(draw(st.integers(0, 5_000))).scaleb(-2),
        "allow_sells": fractional_only or draw(st.booleans()),
        "cash_reserve": D(draw(st.integers(0, 1_000_000))).scaleb(-2),
    }


def run(account: dict[str, object]) -> Plan:
    return plan_trades(**account)  # type: ignore[arg-type]


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(accounts())
def test_a_plan_never_spends_more_cash_than_there_is_nor_sells_more_than_is_held(
    account: dict[str, object],
) -> None:
    result = run(account)
    held = {h.symbol: h.quantity for h in account["holdings"]}  # type: ignore[attr-defined]
    cash: Decimal = account["cash"]  # type: ignore[assignment]
    reserve: Decimal = account["cash_reserve"]  # type: ignore[assignment]
    spent = sum((t.amount for t in result.buys), D(0))
    raised = sum((t.amount for t in result.sells), D(0))
    if result.buys:
        assert spent <= cash + raised - reserve
    for trade in result.trades:
        assert trade.quantity > 0
        assert trade.amount >= account["min_trade_amount"]  # type: ignore[operator]
    for sell in result.sells:
        assert sell.quantity <= held[sell.symbol]
    after, cash_after = apply_plan(account["holdings"], cash, result)  # type: ignore[arg-type]
    assert cash_after >= (min(cash, reserve) if result.buys else 0)
    assert all(h.quantity >= 0 for h in after)


@PROPERTY
@given(accounts())
def test_a_plan_never_makes_the_drift_larger(account: dict[str, object]) -> None:
    holdings: list[Holding] = account["holdings"]  # type: ignore[assignment]
    cash: Decimal = account["cash"]  # type: ignore[assignment]
    assume(cash >= account["cash_reserve"])  # type: ignore[operator]
    targets: tuple[Target, ...] = account["targets"]  # type: ignore[assignment]
    plan = run(account)
    before = measure_drift(holdings, cash, targets)
    after = measure_drift(*apply_plan(holdings, cash, plan), targets)
    # Trades are booked at quantity x price but planned in whole cents: the sub-cent difference
    # stays as cash. That rounding residue (the allowance) is all the drift may grow by.
    price = {h.symbol: h.price for h in holdings}
    residue = sum((abs(t.quantity * price[t.symbol] - t.amount) for t in plan.trades), D(0))
    slack = Fraction(residue) * 100 / Fraction(before.total_value) if before.total_value else 0
    assert after.exact_drift <= before.exact_drift + slack


@PROPERTY
@given(accounts(fractional_only=True))
def test_with_sells_and_fractions_the_drift_left_is_rounding_minimum_trade_and_reserve(
    account: dict[str, object],
) -> None:
    holdings: list[Holding] = account["holdings"]  # type: ignore[assignment]
    cash: Decimal = account["cash"]  # type: ignore[assignment]
    targets: tuple[Target, ...] = account["targets"]  # type: ignore[assignment]
    before = measure_drift(holdings, cash, targets)
    assume(before.total_value > 0)
    after = measure_drift(*apply_plan(holdings, cash, run(account)), targets)
    assert after.exact_drift <= residue_bound(account, before.total_value, targets)


def residue_bound(
    account: dict[str, object], total: Decimal, targets: tuple[Target, ...]
) -> Fraction:
    """What a plan may leave, in points: per position one minimum trade, a cent and a 10⁻⁶ share
    of rounding; plus the cash reserve above the cash target (kept back from the buys)."""
    holdings: list[Holding] = account["holdings"]  # type: ignore[assignment]
    per_trade = Fraction(account["min_trade_amount"]) + Fraction(1, 100)  # type: ignore[arg-type]
    per_trade += max(Fraction(h.price) for h in holdings) / 10**6
    cash_target = Fraction(sum((t.weight for t in targets if t.symbol == CASH), D(0))) / 100
    reserve = max(Fraction(account["cash_reserve"]) - cash_target * Fraction(total), Fraction(0))  # type: ignore[arg-type]
    return (reserve + (len(holdings) + 1) * per_trade) * 100 / Fraction(total)


# --- the batch check ---------------------------------------------------------------------------


@PROPERTY
@given(
    st.lists(accounts(), min_size=1, max_size=8),
    st.integers(1, 30),
    st.sampled_from([None, 10, 25]),
)
def test_the_batch_check_agrees_with_measuring_each_account(
    batch: list[dict[str, object]], absolute: int, relative: int | None
) -> None:
    threshold = DriftThreshold(
        absolute_pp=D(absolute), relative_pct=None if relative is None else D(relative)
    )
    snapshots, targets, prices, expected = [], {}, {}, []
    for account_id, account in enumerate(batch):
        holdings: list[Holding] = account["holdings"]  # type: ignore[assignment]
        prices.update({h.symbol: h.price for h in holdings})
        snapshots.append(
            AccountSnapshot(
                account_id=account_id,
                cash=account["cash"],  # type: ignore[arg-type]
                symbols=tuple(h.symbol for h in holdings),
                quantities=tuple(h.quantity for h in holdings),
            )
        )
        targets[account_id] = account["targets"]
        # every account is valued at the last price drawn for a symbol, as the batch sees it
    for snapshot in snapshots:
        holdings = [
            Holding(symbol=s, quantity=q, price=prices[s])
            for s, q in zip(snapshot.symbols, snapshot.quantities, strict=True)
        ]
        drift = measure_drift(holdings, snapshot.cash, targets[snapshot.account_id])  # type: ignore[arg-type]
        if drift_exceeds(drift, threshold.absolute_pp, threshold.relative_pct):
            expected.append(snapshot.account_id)
    thresholds = dict.fromkeys(targets, threshold)
    assert drifted_accounts(snapshots, targets, thresholds, prices) == expected  # type: ignore[arg-type]


def test_the_batch_check_shares_one_model_between_accounts_and_keeps_the_boundary() -> None:
    symbols = ("VTI", "BND", "VXUS")
    prices = {"VTI": D(250), "BND": D(50), "VXUS": D("62.5")}
    exact = AccountSnapshot(
        account_id=1, cash=D(0), symbols=symbols, quantities=(D(280), D(500), D(80))
    )
    above = AccountSnapshot(
        account_id=2, cash=D("0.01"), symbols=symbols, quantities=(D(281), D(500), D(80))
    )
    targets = dict.fromkeys((1, 2), MODEL)
    thresholds = dict.fromkeys((1, 2), DriftThreshold(absolute_pp=D(10)))
    assert drifted_accounts([exact, above], targets, thresholds, prices) == [2]


def test_a_holding_outside_the_targets_is_sold_to_the_last_fraction() -> None:
    # The buys are cut to the cent and the share, so they need a hair less than BND's proceeds;
    # selling "just enough" would leave 0.000137 BND nobody asked to keep.
    result = plan(
        [holding("BND", "55.172413", "72.50"), holding("VTI", "0", "287.41")],
        targets=(Target(symbol="VTI", weight=D(100)),),
    )

    (sell,) = result.sells
    assert (sell.symbol, sell.quantity) == ("BND", D("55.172413"))
    after, _ = apply_plan(
        [holding("BND", "55.172413", "72.50"), holding("VTI", "0", "287.41")], D(0), result
    )
    assert [h.quantity for h in after if h.symbol == "BND"] == [D(0)]


def test_an_account_worth_more_than_any_trade_can_move_is_refused_not_planned() -> None:
    # Found by fuzzing: its trades overflowed the order columns (a 500, or 5e23 written).
    huge = holding("XYZ", "999999999999", "999999999999.999999")
    with pytest.raises(InvalidInput) as refused:
        plan([huge, holding("VTI", "0", "250.00")])
    assert refused.value.field == "holdings[0]"
