"""Prices from CSV files: `symbol,price[,as_of]`, checked whole before anything is written."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from rich.progress import Progress

from autopilot.domain.money import money
from autopilot.services.platform import PlatformService, PriceTick

CHUNK = 1000


class CsvError(Exception):
    """A price file that cannot be imported; str() names the line and the value."""


def read_price_file(path: Path) -> list[PriceTick]:
    if not path.is_file():
        raise CsvError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = [f.strip().lower() for f in reader.fieldnames or []]
        if "symbol" not in fields or "price" not in fields:
            raise CsvError(f"{path}: the header must name the columns symbol and price")
        reader.fieldnames = fields
        return [_tick(path, number, row) for number, row in enumerate(reader, start=2)]


def _tick(path: Path, line: int, row: dict[str, str]) -> PriceTick:
    symbol = (row.get("symbol") or "").strip().upper()
    raw = (row.get("price") or "").strip()
    if not symbol:
        raise CsvError(f"{path}:{line}: empty symbol")
    try:
        price = money(raw)
    except ValueError:
        raise CsvError(f"{path}:{line}: price {raw!r} is not a number") from None
    if price <= 0:
        raise CsvError(f"{path}:{line}: price {raw!r} must be positive")
    as_of = None
    stamp = (row.get("as_of") or "").strip()
    if stamp:
        try:
            as_of = datetime.fromisoformat(stamp)
        except ValueError:
            raise CsvError(f"{path}:{line}: as_of {stamp!r} is not an ISO date-time") from None
        if as_of.tzinfo is None:
            raise CsvError(f"{path}:{line}: as_of {stamp!r} needs a timezone offset")
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
