"""A price file is checked whole before anything is written; each bad file gets one line naming
the line and the value, as the API's 422 would name the field."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from autopilot.market.csv_import import CsvError, read_price_file

NOW = datetime(2026, 11, 27, 21, 0, tzinfo=UTC)


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
        read_price_file(path, now=NOW)

    assert str(refused.value).startswith(f"{path}:3: ")
    assert says in str(refused.value)


def test_a_file_that_is_not_text_or_not_a_file_is_refused_in_one_line(tmp_path: Path) -> None:
    binary = tmp_path / "prices.csv"
    binary.write_bytes(b"symbol,price\nVTI,\xff\xfe250\n")

    with pytest.raises(CsvError, match="not a UTF-8 text file"):
        read_price_file(binary, now=NOW)
    with pytest.raises(CsvError, match="not a file"):
        read_price_file(tmp_path, now=NOW)
    with pytest.raises(CsvError, match="no such file"):
        read_price_file(tmp_path / "missing.csv", now=NOW)


def test_prices_with_up_to_six_decimals_are_read_exactly(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("symbol,price\nvti,250.123456\n")

    (tick,) = read_price_file(path, now=NOW)

    assert (tick.symbol, tick.price) == ("VTI", Decimal("250.123456"))


@pytest.mark.parametrize(
    ("stamp", "says"),
    [
        ("2026-11-28T21:00:00+00:00", "is in the future"),  # a day ahead: it would stay latest
        ("9999-12-31T23:59:59-14:00", "out of range"),
        ("1900-01-01T00:00:00+00:00", "must be from 1970-01-01"),
    ],
)
def test_an_as_of_in_the_future_or_out_of_range_is_refused_naming_its_line(
    tmp_path: Path, stamp: str, says: str
) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(
        f"symbol,price,as_of\nVTI,250.00,2026-11-27T16:00:00-05:00\nBND,72.50,{stamp}\n"
    )

    with pytest.raises(CsvError) as refused:
        read_price_file(path, now=NOW)

    assert str(refused.value).startswith(f"{path}:3: ") and says in str(refused.value)
