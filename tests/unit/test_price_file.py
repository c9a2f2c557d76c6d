"""A price file is checked whole before anything is written; each bad file gets one line naming
the line and the value, as the API's 422 would name the field."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from autopilot.market.csv_import import CsvError, read_price_file


@pytest.mark.parametrize(
    ("price", "says"),
    [
        ("abc", "is not a number"),
        ("0", "must be positive"),
        ("0.0000001", "at most six decimals"),  # stored, it would become a price of zero
        ("1e30", "below 1,000,000,000,000"),
        ("99999999999999999999", "below 1,000,000,000,000"),
        ("NaN", "is not a number"),
    ],
)
def test_a_price_the_database_could_not_hold_exactly_is_refused_naming_its_line(
    tmp_path: Path, price: str, says: str
) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(f"symbol,price\nVTI,250.00\nBND,{price}\n")

    with pytest.raises(CsvError) as refused:
        read_price_file(path)

    assert str(refused.value).startswith(f"{path}:3: ")
    assert says in str(refused.value)


def test_a_file_that_is_not_text_or_not_a_file_is_refused_in_one_line(tmp_path: Path) -> None:
    binary = tmp_path / "prices.csv"
    binary.write_bytes(b"symbol,price\nVTI,\xff\xfe250\n")

    with pytest.raises(CsvError, match="not a UTF-8 text file"):
        read_price_file(binary)
    with pytest.raises(CsvError, match="not a file"):
        read_price_file(tmp_path)
    with pytest.raises(CsvError, match="no such file"):
        read_price_file(tmp_path / "missing.csv")


def test_prices_with_up_to_six_decimals_are_read_exactly(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("symbol,price\nvti,250.123456\n")

    (tick,) = read_price_file(path)

    assert (tick.symbol, tick.price) == ("VTI", Decimal("250.123456"))
