"""Trigger evaluation end to end: price updates through the service path, fired orders written.

Seeds K Active trigger orders on a real database (set-based, through the repository's own row
mapping), with the clients, accounts, cash and positions they need, then replays U price
updates through ``services.platform.record_prices`` in calls of ``BATCH`` ticks each: the prices
are stored, the paper broker fills resting orders, and the evaluator (its index built from the
database beforehand, timed apart) fires triggers, claims them, writes their orders, cancels OCO
siblings, writes log rows and saves trailing marks; the broker then fills the orders. Afterwards
the database is checked: every fired trigger has exactly one log row, every Triggered one
exactly one order, and no order is left Pending.

Used by ``bench/triggers.py`` (``--e2e-*`` options), one backend per process.
"""

from __future__ import annotations

import logging
import random
import resource
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.databases import database
from bench.trigger_workload import (
    BATCH,
    base_prices,
    cents,
    generate_updates,
    random_condition,
    symbol_name,
)
from sqlalchemy import func, insert, select

from autopilot.bootstrap import Services, build
from autopilot.config import load_settings
from autopilot.domain.orders import OrderStatus, Side
from autopilot.domain.triggers.conditions import (
    Condition,
    Direction,
    PercentChange,
    PriceAbove,
    PriceBelow,
    TrailingStop,
    Trigger,
    TriggerStatus,
)
from autopilot.domain.triggers.order import OrderTemplate
from autopilot.services.platform import PriceTick
from autopilot.services.records import TriggerOrderRecord
from autopilot.storage.migrate import upgrade
from autopilot.storage.tables import (
    accounts,
    automation_execution_logs,
    clients,
    orders,
    positions,
    trigger_orders,
)
from autopilot.storage.trigger_repo import TriggerOrders

TRIGGERS_PER_ACCOUNT = 4  # two symbols per account, two triggers on each
BRACKET_SHARE = 0.3  # of the trigger pairs: a stop-loss and a take-profit in one OCO group
HELD = Decimal("100.000000")  # shares of each of its two symbols an account holds
CASH = Decimal("100000.00")
SEED_CHUNK = 10_000
QUIET = ("autopilot.scheduler", "autopilot.market")
AUTOMATION_TYPE = "TriggerOrder"


@dataclass(frozen=True, slots=True, kw_only=True)
class EndToEnd:
    backend: str
    triggers: int
    updates: int
    symbols: int
    batch: int
    seconds: float
    load_seconds: float  # building the evaluator's index from the database
    fired: int  # Triggered or Failed
    failed: int
    orders: int
    filled: int
    rejected: int
    cancelled: int  # OCO siblings
    logs: int
    peak_rss_mb: float

    @property
    def rate(self) -> float:
        return self.updates / self.seconds

    def as_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "triggers": self.triggers,
            "updates": self.updates,
            "symbols": self.symbols,
            "batch": self.batch,
            "updates_per_s": round(self.rate),
            "seconds": round(self.seconds, 2),
            "index_load_s": round(self.load_seconds, 2),
            "fired": self.fired,
            "failed": self.failed,
            "orders": self.orders,
            "filled": self.filled,
            "rejected": self.rejected,
            "oco_cancelled": self.cancelled,
            "logs": self.logs,
            "peak_rss_mb": round(self.peak_rss_mb, 1),
        }


# -- the triggers --------------------------------------------------------------------------------


def _template(condition: Condition, rng: random.Random) -> OrderTemplate:
    """Sells for stop-losses, take-profits, percent rises and sell trails; buys otherwise."""
    buy = (isinstance(condition, PercentChange) and condition.direction is Direction.DOWN) or (
        isinstance(condition, TrailingStop) and condition.side is Side.BUY
    )
    if buy:
        if rng.random() < 0.5:
            return OrderTemplate(side=Side.BUY, notional=Decimal(rng.choice((250, 500, 1000))))
        return OrderTemplate(side=Side.BUY, quantity=Decimal(rng.choice((1, 2, 5))))
    if rng.random() < 0.2:
        return OrderTemplate(side=Side.SELL, sell_all=True)
    return OrderTemplate(side=Side.SELL, quantity=Decimal(rng.choice((5, 10, 20))))


def generate_records(
    count: int, symbols: int, bases: Sequence[int], now: datetime
) -> Iterator[TriggerOrderRecord]:
    """``count`` trigger orders: account ``a`` (client ``a``) holds two symbols with two triggers
    on each; a share of the pairs are brackets (stop-loss + take-profit, one OCO group)."""
    rng = random.Random(20250617)
    for number in range(0, count, 2):
        account = 1 + number // TRIGGERS_PER_ACCOUNT
        symbol = (2 * (account - 1) + (number // 2) % 2) % symbols
        base = bases[symbol]
        if rng.random() < BRACKET_SHARE:
            away = rng.uniform(0.02, 0.08), rng.uniform(0.02, 0.08)  # nearer: some fire
            group: str | None = f"BRACKET-{number:07d}"
            pair: list[Condition] = [
                PriceBelow(level=cents(base * (1 - away[0]))),
                PriceAbove(level=cents(base * (1 + away[1]))),
            ]
        else:
            group = None
            pair = [random_condition(rng, base), random_condition(rng, base)]
        for offset, condition in enumerate(pair[: count - number]):
            trigger = Trigger(
                id=f"TRIG-20250617-{number + offset:07d}",
                account_id=account,
                symbol=symbol_name(symbol),
                condition=condition,
                oco_group=group,
            )
            yield TriggerOrderRecord(
                trigger=trigger,
                client_id=account,
                order=_template(condition, rng),
                created_at=now,
                updated_at=now,
            )


def seed(services: Services, count: int, symbols: int, bases: Sequence[int]) -> None:
    """Prices, clients, accounts (cash), positions and the triggers, set-based in chunks."""
    now = datetime.now(UTC)
    names = [symbol_name(n) for n in range(symbols)]
    with services.uow() as uow:
        uow.market.record_prices(
            [(names[n], Decimal(bases[n]).scaleb(-2), now) for n in range(symbols)]
        )
    records = generate_records(count, symbols, bases, now)
    owners = -(-count // TRIGGERS_PER_ACCOUNT)
    for start in range(1, owners + 1, SEED_CHUNK // TRIGGERS_PER_ACCOUNT):
        ids = range(start, min(owners + 1, start + SEED_CHUNK // TRIGGERS_PER_ACCOUNT))
        chunk = [r for _, r in zip(range(len(ids) * TRIGGERS_PER_ACCOUNT), records, strict=False)]
        with services.uow() as uow:
            c = uow.connection
            c.execute(
                insert(clients),
                [{"id": i, "name": f"Client {i}", "email": None, "created_at": now} for i in ids],
            )
            c.execute(
                insert(accounts),
                [
                    {
                        "id": i,
                        "client_id": i,
                        "currency": "USD",
                        "cash": CASH,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )
            held = sorted({(r.trigger.account_id, r.trigger.symbol) for r in chunk})
            c.execute(
                insert(positions),
                [
                    {
                        "account_id": a,
                        "symbol": s,
                        "quantity": HELD,
                        "cost_basis": Decimal(bases[int(s[1:])]).scaleb(-2) * HELD,
                        "updated_at": now,
                    }
                    for a, s in held
                ],
            )
            TriggerOrders(c).add_many(chunk)


# -- measuring -----------------------------------------------------------------------------------


class _Errors(logging.Handler):
    """Counts errors the service path logs and swallows (``PlatformService._react``)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "autopilot.market":
            self.records.append(record)


@contextmanager
def _quiet() -> Iterator[_Errors]:
    """Per-trigger INFO/ERROR lines off while timing; swallowed failures still counted."""
    errors = _Errors()
    saved = []
    for name in QUIET:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.propagate))
        logger.setLevel(logging.ERROR)
        logger.propagate = False
        logger.addHandler(errors)
    try:
        yield errors
    finally:
        for logger, level, propagate in saved:
            logger.removeHandler(errors)
            logger.setLevel(level)
            logger.propagate = propagate


def measure(
    backend: str, url: str, triggers: int, updates: int, symbols: int, batch: int = BATCH
) -> EndToEnd:
    upgrade(url)
    services = build(load_settings(database_url=url))
    try:
        bases = base_prices(symbols)
        seed(services, triggers, symbols, bases)
        ticks = [PriceTick(symbol=s, price=p) for s, p in generate_updates(updates, symbols)]
        calls = [ticks[i : i + batch] for i in range(0, len(ticks), batch)]
        record = services.platform.record_prices
        with _quiet() as errors:
            started = time.perf_counter()
            services.triggers.on_prices([], triggered_by="bench")  # builds the index
            load_seconds = time.perf_counter() - started
            started = time.perf_counter()
            for call in calls:
                record(call)
            seconds = time.perf_counter() - started
        if errors.records:
            first = errors.records[0]
            raise SystemExit(
                f"{backend}: {len(errors.records)} price call(s) failed after storing prices: "
                f"{first.getMessage()} {first.exc_info[1] if first.exc_info else ''}"
            )
        counts = check(services)
    finally:
        services.close()
    return EndToEnd(
        backend=backend,
        triggers=triggers,
        updates=updates,
        symbols=symbols,
        batch=batch,
        seconds=seconds,
        load_seconds=load_seconds,
        peak_rss_mb=_peak_rss_mb(),
        **counts,
    )


def _peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM, which starts afresh at exec (ru_maxrss would carry the
    parent's high-water mark over the fork and exec); ru_maxrss where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def check(services: Services) -> dict[str, int]:
    """Every fired trigger has one log row; every Triggered one exactly one order, its own; no
    order is left Pending. Returns the counts."""
    t, o, lg = trigger_orders, orders, automation_execution_logs
    fired_states = (TriggerStatus.TRIGGERED.value, TriggerStatus.FAILED.value)
    with services.uow() as uow:
        c = uow.connection
        by_status = dict(c.execute(select(t.c.status, func.count()).group_by(t.c.status)).all())
        order_rows = c.execute(
            select(o.c.automation_id, func.count(), func.min(o.c.id))
            .where(o.c.automation_type == AUTOMATION_TYPE)
            .group_by(o.c.automation_id)
        ).all()
        order_status = dict(
            c.execute(
                select(o.c.status, func.count())
                .where(o.c.automation_type == AUTOMATION_TYPE)
                .group_by(o.c.status)
            ).all()
        )
        fired_rows = c.execute(
            select(t.c.id, t.c.status, t.c.order_id).where(t.c.status.in_(fired_states))
        ).all()
        log_rows = dict(
            c.execute(
                select(lg.c.automation_id, func.count())
                .where(lg.c.automation_type == AUTOMATION_TYPE)
                .group_by(lg.c.automation_id)
            ).all()
        )
    per_trigger = {r[0]: (r[1], r[2]) for r in order_rows}
    problems: list[str] = []
    for row in fired_rows:
        if log_rows.get(row.id) != 1:
            problems.append(f"{row.id}: {log_rows.get(row.id, 0)} log rows")
        if row.status == TriggerStatus.TRIGGERED.value:
            count, order_id = per_trigger.get(row.id, (0, None))
            if count != 1 or order_id != row.order_id:
                problems.append(f"{row.id}: {count} orders ({order_id} vs {row.order_id})")
        elif row.id in per_trigger:
            problems.append(f"{row.id}: Failed but has an order")
    fired_ids = {r.id for r in fired_rows}
    problems += [
        f"{i}: order for a trigger that did not fire" for i in per_trigger.keys() - fired_ids
    ]
    problems += [
        f"{i}: log row for a trigger that did not fire" for i in log_rows.keys() - fired_ids
    ]
    pending = order_status.get(OrderStatus.PENDING.value, 0)
    if pending:
        problems.append(f"{pending} orders left Pending")
    if problems:
        raise SystemExit("end-to-end check failed: " + "; ".join(problems[:10]))
    return {
        "fired": len(fired_rows),
        "failed": by_status.get(TriggerStatus.FAILED.value, 0),
        "orders": sum(order_status.values()),
        "filled": order_status.get(OrderStatus.FILLED.value, 0),
        "rejected": order_status.get(OrderStatus.REJECTED.value, 0),
        "cancelled": by_status.get(TriggerStatus.CANCELLED.value, 0),
        "logs": sum(log_rows.values()),
    }


def run(backend: str, triggers: int, updates: int, symbols: int) -> EndToEnd:
    with database(backend) as url:
        return measure(backend, url, triggers, updates, symbols)


__all__ = ["EndToEnd", "database", "measure", "run"]
