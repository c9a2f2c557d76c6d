from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autopilot.domain.allocation import split_amount

D = Decimal


def test_leftover_cents_go_to_the_largest_remainders() -> None:
    assert split_amount(D("10.00"), [D("70"), D("20"), D("10")]) == [D("7"), D("2"), D("1")]
    assert split_amount(D("1.00"), [D("1"), D("2")]) == [D("0.33"), D("0.67")]


def test_ties_give_the_leftover_cent_to_the_earlier_leg() -> None:
    assert split_amount(D("100.00"), [D("1"), D("1"), D("1")]) == [
        D("33.34"),
        D("33.33"),
        D("33.33"),
    ]
    assert split_amount(D("0.02"), [D("1")] * 3) == [D("0.01"), D("0.01"), D("0.00")]


def test_legs_are_quantized_to_the_cent_and_zero_weights_get_nothing() -> None:
    legs = split_amount(D("50"), [D("0"), D("100")])
    assert legs == [D("0"), D("50")]
    assert all(leg.as_tuple().exponent == -2 for leg in legs)


def test_zero_amount_splits_into_zero_legs() -> None:
    assert split_amount(D("0.00"), [D("60"), D("40")]) == [D("0"), D("0")]


@pytest.mark.parametrize(
    ("amount", "weights"),
    [
        (D("10.001"), [D("1")]),
        (D("-1.00"), [D("1")]),
        (D("NaN"), [D("1")]),
        (D("1.00"), []),
        (D("1.00"), [D("0"), D("0")]),
        (D("1.00"), [D("2"), D("-1")]),
    ],
)
def test_split_refuses_bad_amounts_and_weights(amount: Decimal, weights: list[Decimal]) -> None:
    with pytest.raises(ValueError):
        split_amount(amount, weights)


cents = st.integers(min_value=0, max_value=10**9).map(lambda c: Decimal(c).scaleb(-2))
weight = st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False, allow_infinity=False)
weights = st.lists(weight, min_size=1, max_size=12).filter(lambda ws: sum(ws) > 0)


@given(amount=cents, weights=weights)
def test_legs_sum_exactly_to_the_amount_and_each_is_within_a_cent_of_its_share(
    amount: Decimal, weights: list[Decimal]
) -> None:
    legs = split_amount(amount, weights)

    assert sum(legs, Decimal(0)) == amount
    total = sum(Fraction(w) for w in weights)
    for leg, w in zip(legs, weights, strict=True):
        exact = Fraction(amount) * Fraction(w) / total
        assert abs(Fraction(leg) - exact) < Fraction(1, 100)
        assert leg >= 0
