"""Prices from CSV files: `symbol,price[,as_of]`, checked whole before anything is written."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from rich.progress import Progress

from autopilot.domain.errors import InvalidInput
from autopilot.domain.money import money
from autopilot.services import validation
from autopilot.services.platform import PlatformService, PriceTick

CHUNK = 1000


class CsvError(Exception):
    """A price file that cannot be imported; str() names the line and the value."""


def read_price_file(path: Path, *, now: datetime, require_as_of: bool = False) -> list[PriceTick]:
    """Every row of the file as a tick, in file order; the first bad row raises
    :class:`CsvError`. ``require_as_of`` (a replay) refuses rows without an as_of; an as_of
    after ``now`` is refused (it would stay the latest price until then)."""
    if not path.is_file():
        raise CsvError(f"{path}: {'not a file' if path.exists() else 'no such file'}")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return _read(path, csv.DictReader(handle), now=now, require_as_of=require_as_of)
    except UnicodeDecodeError as exc:
        raise CsvError(f"{path}: not a UTF-8 text file (byte {exc.start})") from None
    except csv.Error as exc:
        raise CsvError(f"{path}: not a readable CSV file ({exc})") from None


def _read(
    path: Path, reader: csv.DictReader[str], *, now: datetime, require_as_of: bool
) -> list[PriceTick]:
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "symbol" not in fields or "price" not in fields:
        raise CsvError(f"{path}: the header must name the columns symbol and price")
    if require_as_of and "as_of" not in fields:
        raise CsvError(f"{path}: the header must name an as_of column to replay the prices")
    reader.fieldnames = fields
    # line_num, not a count of rows: the reader skips blank lines.
    return [
        _tick(path, reader.line_num, row, now=now, require_as_of=require_as_of) for row in reader
    ]


def _tick(
    path: Path, line: int, row: dict[str, str], *, now: datetime, require_as_of: bool
) -> PriceTick:
    raw_symbol = (row.get("symbol") or "").strip()
    raw = (row.get("price") or "").strip()
    if not raw_symbol:
        raise CsvError(f"{path}:{line}: empty symbol")
    try:
        symbol = validation.security("symbol", raw_symbol)
    except InvalidInput as exc:
        raise CsvError(f"{path}:{line}: {exc.message}") from None
    try:
        price = validation.price("price", money(raw))
    except ValueError:
        raise CsvError(f"{path}:{line}: price {raw!r} is not a number") from None
    except InvalidInput as exc:
        raise CsvError(f"{path}:{line}: {exc.message}") from None
    as_of = None
    stamp = (row.get("as_of") or "").strip()
    if not stamp and require_as_of:
        raise CsvError(f"{path}:{line}: empty as_of: a replay needs the time of every price")
    if stamp:
        try:
            as_of = datetime.fromisoformat(stamp)
        except ValueError:
            raise CsvError(f"{path}:{line}: as_of {stamp!r} is not an ISO date-time") from None
        if as_of.tzinfo is None:
            raise CsvError(f"{path}:{line}: as_of {stamp!r} needs a timezone offset")
        try:
            validation.past("as_of", as_of, now)
        except InvalidInput as exc:
            raise CsvError(f"{path}:{line}: {exc.message}") from None
    return PriceTick(symbol=symbol, price=price, as_of=as_of)


def import_prices(platform: PlatformService, ticks: Sequence[PriceTick]) -> int:
    """Record the ticks in chunks, with a progress bar; returns how many were recorded."""
    done = 0
    with Progress(transient=True) as progress:
        task = progress.add_task("importing prices", total=len(ticks))
        for start in range(0, len(ticks), CHUNK):
            chunk = ticks[start : start + CHUNK]
            done += platform.record_prices(chunk)
            progress.advance(task, len(chunk))
    return done
