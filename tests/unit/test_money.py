from decimal import Decimal

import pytest

from autopilot.domain.money import CENT, floor_to, money, to_cents


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12.345", Decimal("12.345")), (" 7 ", Decimal("7")), (5, Decimal("5")), (CENT, CENT)],
)
def test_money_parses_strings_ints_and_decimals_without_rounding(
    value: object, expected: Decimal
) -> None:
    assert money(value) == expected


def test_money_keeps_every_digit() -> None:
    assert str(money("12.34567")) == "12.34567"


@pytest.mark.parametrize("value", [1.5, 0.0, True, False, None, [1]])
def test_money_refuses_floats_bools_and_other_types(value: object) -> None:
    with pytest.raises(TypeError):
        money(value)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-inf", "", "abc", "1,5", Decimal("NaN")])
def test_money_refuses_non_finite_and_unparsable_values(value: object) -> None:
    with pytest.raises(ValueError):
        money(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2.675", "2.68"), ("2.674", "2.67"), ("-0.005", "-0.01"), ("3", "3.00"), ("0.005", "0.01")],
)
def test_to_cents_rounds_halves_away_from_zero(value: str, expected: str) -> None:
    assert str(to_cents(Decimal(value))) == expected


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [("1.23999", 2, "1.23"), ("1.9", 0, "1"), ("-1.239", 2, "-1.23"), ("0.1234567", 6, "0.123456")],
)
def test_floor_to_cuts_toward_zero(value: str, places: int, expected: str) -> None:
    assert str(floor_to(Decimal(value), places)) == expected
