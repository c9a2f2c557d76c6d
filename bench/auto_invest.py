"""Auto-invest: the scheduler pass, its submission stage, end to end, and the naive loop (§8).

Seeds N due rules and times one pass (`run_due`: batched claims and set-based writes) to its
commit, with the broker's work left to the submission stage (DESIGN §5, Stages), which is then
timed on its own: the paper broker taking every Pending order in batches. End to end is timed
over N other rules with the fills in-process after each batch, as `serve` runs it. In the same
run a naive loop over a sample of M other rules of the same shape: one transaction per rule, one
statement per row. All rates are per second, so the ratio is fair although the naive loop runs on
a sample.

    python bench/auto_invest.py [--rules N] [--naive-rules M] [--backend sqlite|postgres|both]
                                [--postgres-url URL] [--json] [--pass-only]

`--pass-only` times the pass alone (no stages, baselines or ceiling) and prints its memory: the
process's peak RSS (seeding included), the largest RSS sampled while the pass ran and how much
the pass added to the RSS it started with, e.g. `--rules 1000000 --pass-only` for flat memory.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT / "src", ROOT):  # runnable from a checkout without installing the package
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from bench.auto_invest_baselines import RuleWriter, run_apscheduler  # noqa: E402
from bench.auto_invest_baselines import run_naive as run_raw_naive  # noqa: E402
from bench.auto_invest_ceiling import HELD  # noqa: E402
from bench.auto_invest_ceiling import measure as ceiling  # noqa: E402
from bench.auto_invest_workload import TODAY, seed  # noqa: E402
from bench.databases import database  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from sqlalchemy import Connection, bindparam, func, insert, select, update  # noqa: E402

from autopilot.bootstrap import Services, build  # noqa: E402
from autopilot.config import load_settings  # noqa: E402
from autopilot.domain.auto_invest.execution import execute_auto_invest  # noqa: E402
from autopilot.domain.auto_invest.rule import AutoInvestRule  # noqa: E402
from autopilot.domain.orders import (  # noqa: E402
    Order,
    OrderStatus,
    OrderType,
    Side,
    notional_buy,
)
from autopilot.services.ids import new_id  # noqa: E402
from autopilot.services.submission import resubmit_pending  # noqa: E402
from autopilot.storage.auto_invest_repo import rule_from_row, rule_to_row  # noqa: E402
from autopilot.storage.migrate import upgrade  # noqa: E402
from autopilot.storage.platform_repo import Market  # noqa: E402
from autopilot.storage.tables import (  # noqa: E402
    accounts,
    auto_invest_rules,
    automation_execution_logs,
    orders,
)

SCHEDULER_LOGGER = "autopilot.scheduler"


@dataclass(frozen=True, slots=True)
class Measurement:
    """One backend's figures. The pass is timed to its commit (its orders Pending, their cash
    held), the submission stage on its own (Pending -> Filled), and end to end (due -> every order
    Filled, the fills in-process after each batch, as `serve` runs it) over other rules."""

    backend: str
    rules: int
    naive_sample: int
    pass_seconds: float
    fill_seconds: float
    fills: int
    end_to_end_seconds: float
    naive_seconds: float
    peak_rss_mb: float
    rss_growth_mb: float
    workers: int = 1
    workers_seconds: float | None = None
    ceiling_seconds: float | None = None  # PostgreSQL alone (auto_invest_ceiling's HELD)
    apscheduler_seconds: float | None = None  # APScheduler 3.11 over the naive sample's size

    @property
    def pass_rate(self) -> float:
        return self.rules / self.pass_seconds

    @property
    def fill_rate(self) -> float:
        return self.fills / self.fill_seconds

    @property
    def end_to_end_rate(self) -> float:
        return self.rules / self.end_to_end_seconds

    @property
    def ceiling_rate(self) -> float | None:
        return None if self.ceiling_seconds is None else self.rules / self.ceiling_seconds

    @property
    def workers_rate(self) -> float | None:
        return None if self.workers_seconds is None else self.rules / self.workers_seconds

    @property
    def naive_rate(self) -> float:
        return self.naive_sample / self.naive_seconds

    @property
    def apscheduler_rate(self) -> float | None:
        if self.apscheduler_seconds is None:
            return None
        return self.naive_sample / self.apscheduler_seconds

    def as_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "rules": self.rules,
            "pass_rules_per_s": round(self.pass_rate, 1),
            "ceiling_rules_per_s": None
            if self.ceiling_rate is None
            else round(self.ceiling_rate, 1),
            "ceiling_ratio": None
            if self.ceiling_rate is None
            else round(self.pass_rate / self.ceiling_rate, 3),
            "fill_orders_per_s": round(self.fill_rate, 1),
            "end_to_end_rules_per_s": round(self.end_to_end_rate, 1),
            "naive_rules_per_s": round(self.naive_rate, 1),
            "naive_ratio": round(self.pass_rate / self.naive_rate, 2),
            "apscheduler_rules_per_s": None
            if self.apscheduler_rate is None
            else round(self.apscheduler_rate, 1),
            "apscheduler_ratio": None
            if self.apscheduler_rate is None
            else round(self.pass_rate / self.apscheduler_rate, 2),
            "apscheduler_seconds": self.apscheduler_seconds,
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "pass_rss_growth_mb": round(self.rss_growth_mb, 1),
            "naive_sample": self.naive_sample,
            "orders": self.fills,
            "pass_seconds": round(self.pass_seconds, 3),
            "fill_seconds": round(self.fill_seconds, 3),
            "end_to_end_seconds": round(self.end_to_end_seconds, 3),
            "naive_seconds": round(self.naive_seconds, 3),
            "workers": self.workers,
            "workers_rules_per_s": None
            if self.workers_rate is None
            else round(self.workers_rate, 1),
            "workers_seconds": self.workers_seconds,
            "ceiling_seconds": self.ceiling_seconds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measurement:
        return cls(
            backend=data["backend"],
            rules=data["rules"],
            naive_sample=data["naive_sample"],
            pass_seconds=data["pass_seconds"],
            fill_seconds=data["fill_seconds"],
            fills=data["orders"],
            end_to_end_seconds=data["end_to_end_seconds"],
            naive_seconds=data["naive_seconds"],
            peak_rss_mb=data["peak_rss_mb"],
            rss_growth_mb=data["pass_rss_growth_mb"],
            workers=data["workers"],
            workers_seconds=data["workers_seconds"],
            ceiling_seconds=data["ceiling_seconds"],
            apscheduler_seconds=data["apscheduler_seconds"],
        )


class HandedLater:
    """A broker for the timed pass that takes nothing yet: the pass ends at its commit, its
    orders Pending with their cash held, for the submission stage timed after it."""

    def submit(self, orders: Sequence[Order]) -> None:
        return None

    def on_prices(self, symbols: Sequence[str]) -> None:
        return None


# -- the naive loop ------------------------------------------------------------------------------


def run_naive(services: Services, rule_ids: Sequence[str]) -> None:
    """One transaction per rule and one statement per row; fills through the broker per rule."""
    for rule_id in rule_ids:
        with services.uow() as uow:
            written = _naive_one(services, uow.connection, rule_id)
        if written:
            services.broker.submit(written)


# The naive loop's statements are built once, as a careful per-row implementation would (SQLAlchemy
# then reuses their compiled form): the baseline pays for its round trips, not for rebuilding SQL.
_RULE = (
    select(auto_invest_rules)
    .where(auto_invest_rules.c.id == bindparam("rule_id"))
    .with_for_update()
)
_CASH = select(accounts.c.cash).where(accounts.c.id == bindparam("account_id")).with_for_update()
_ORDER = insert(orders)
_LOG = insert(automation_execution_logs)
_SET_CASH = (
    update(accounts)
    .where(accounts.c.id == bindparam("account_id"))
    .values(cash=bindparam("cash"), updated_at=bindparam("at"))
)
_SET_RULE = (
    update(auto_invest_rules)
    .where(auto_invest_rules.c.id == bindparam("rule_id"))
    .values(
        {
            name: bindparam(f"new_{name}")
            for name in (
                "next_execution_date",
                "execution_count",
                "total_invested",
                "status",
                "updated_at",
            )
        }
    )
)


def _naive_one(services: Services, c: Connection, rule_id: str) -> list[Order]:
    settings = services.settings
    rule = rule_from_row(c.execute(_RULE, {"rule_id": rule_id}).one())
    cash = c.execute(_CASH, {"account_id": rule.account_id}).scalar_one()
    quotes = Market(c).quotes(a.symbol for a in rule.allocations)
    execution = execute_auto_invest(
        rule,
        today=TODAY,
        calendar=services.calendar,
        cash=cash,
        quotes=quotes,
        min_order_amount=settings.automation_min_order_amount,
        catch_up=settings.automation_catch_up,
    )
    at = services.clock.now()
    written: list[Order] = []
    for outcome in execution.outcomes:
        placed = [_naive_order(c, rule, buy.symbol, buy.notional, at) for buy in outcome.buys]
        written.extend(placed)
        ids = [o.id for o in placed]
        c.execute(_LOG, _naive_log(rule, outcome, ids, at))
    c.execute(_SET_CASH, {"account_id": rule.account_id, "cash": execution.cash_after, "at": at})
    state = rule_to_row(execution.rule)
    c.execute(
        _SET_RULE,
        {
            "rule_id": rule.id,
            "new_updated_at": at,
            **{
                f"new_{name}": state[name]
                for name in (
                    "next_execution_date",
                    "execution_count",
                    "total_invested",
                    "status",
                )
            },
        },
    )
    return written


def _naive_order(
    c: Connection, rule: AutoInvestRule, symbol: str, notional: Decimal, at: datetime
) -> Order:
    order = notional_buy(new_id("ORD", TODAY), rule.account_id, symbol, notional)
    c.execute(
        _ORDER,
        {
            "id": order.id,
            "account_id": rule.account_id,
            "client_id": rule.client_id,
            "symbol": symbol,
            "side": Side.BUY.value,
            "order_type": OrderType.MARKET.value,
            "notional": notional,
            "reserved_amount": notional,
            "status": OrderStatus.PENDING.value,
            "automation_type": "AutoInvest",
            "automation_id": rule.id,
            "created_at": at,
            "updated_at": at,
        },
    )
    return order


def _naive_log(rule: AutoInvestRule, outcome: Any, ids: list[str], at: datetime) -> dict[str, Any]:
    return {
        "automation_type": "AutoInvest",
        "automation_id": rule.id,
        "client_id": rule.client_id,
        "execution_date": outcome.occurrence,
        "status": outcome.status.value,
        "order_ids": ids,
        "message": outcome.message,
        "details": {"amount": str(outcome.invested)},
        "triggered_by": "naive",
        "attempt": 1,
        "started_at": at,
        "finished_at": at,
        "created_at": at,
    }


# -- measuring -----------------------------------------------------------------------------------


def _rss_mb() -> float:
    """Current resident set size (Linux /proc; 0 where unavailable)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * resource.getpagesize() / 2**20


def _peak_rss_mb() -> float:
    """The process's peak RSS so far (seeding included)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _timed_rss(work: Callable[[], object]) -> tuple[float, float]:
    """`work`'s seconds and the largest RSS seen while it ran (sampled every 0.2 s): the
    process's peak RSS may be the seeding's, which ran before."""
    largest = [_rss_mb()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            largest.append(max(largest[-1], _rss_mb()))

    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    sampler.start()
    try:
        seconds = _timed(work)
    finally:
        done.set()
        sampler.join()
    return seconds, max(largest[-1], _rss_mb())


@contextmanager
def _quiet_scheduler() -> Iterator[None]:
    logger = logging.getLogger(SCHEDULER_LOGGER)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def measure(backend: str, url: str, rules: int, naive_rules: int, workers: int = 1) -> Measurement:
    upgrade(url)
    services = build(load_settings(database_url=url))
    staged = build(load_settings(database_url=url), broker=HandedLater())
    try:
        seed(services, rules, "PASS")
        rss_before = _rss_mb()
        with _quiet_scheduler():
            pass_seconds, pass_rss = _timed_rss(
                lambda: staged.auto_invest.run_due(TODAY, triggered_by="bench")
            )
        peak = _peak_rss_mb()
        with _quiet_scheduler():
            fill_seconds = _timed(lambda: resubmit_pending(services.uow, services.broker))
        fills = _check(services, rules, "PASS")
        seed(services, rules, "E2E")
        with _quiet_scheduler():
            end_to_end_seconds = _timed(
                lambda: services.auto_invest.run_due(TODAY, triggered_by="bench")
            )
        _check(services, rules, "E2E")
        ceiling_seconds = None
        if backend == "postgres":  # PostgreSQL alone, the same protocol, to the pass's commit
            ceiling_seconds = ceiling(url, rules, HELD, lanes=1, tag="CEIL").seconds
        workers_seconds = None
        if workers > 1:
            seed(services, rules, "WORK")
            workers_seconds = _timed(lambda: run_workers(url, workers, rules))
            _check(services, rules, "WORK")
        # The baselines run last: they leave their orders Pending (cash held), as the pass does
        # to its commit, and the stages timed above must not take them.
        naive_ids = seed(services, naive_rules, "NAIVE")
        apscheduler_seconds = None
        if backend == "postgres":
            settings = services.settings
            writer = RuleWriter(
                url,
                TODAY,
                min_order=settings.automation_min_order_amount,
                catch_up=settings.automation_catch_up,
            )
            naive_seconds = run_raw_naive(writer, naive_ids)
            _check_baseline(services, naive_ids, "NAIVE")
            scheduled = seed(services, naive_rules, "APS")
            apscheduler_seconds = run_apscheduler(writer, url, scheduled)
            _check_baseline(services, scheduled, "APS")
        else:  # no psycopg on SQLite: the same loop through SQLAlchemy, fills included
            with _quiet_scheduler():
                naive_seconds = _timed(lambda: run_naive(services, naive_ids))
    finally:
        staged.close()
        services.close()
    return Measurement(
        backend=backend,
        rules=rules,
        naive_sample=len(naive_ids),
        pass_seconds=pass_seconds,
        fill_seconds=fill_seconds,
        fills=fills,
        end_to_end_seconds=end_to_end_seconds,
        naive_seconds=naive_seconds,
        peak_rss_mb=peak,
        rss_growth_mb=max(0.0, pass_rss - rss_before),
        workers=workers,
        workers_seconds=workers_seconds,
        ceiling_seconds=ceiling_seconds,
        apscheduler_seconds=apscheduler_seconds,
    )


def measure_pass_only(backend: str, url: str, rules: int) -> dict[str, Any]:
    """The pass alone over `rules` due rules, to its commit: its rate and the process's memory
    (for `--rules 1000000`: the pass keeps one batch in memory, so its RSS stays flat)."""
    upgrade(url)
    services = build(load_settings(database_url=url))
    staged = build(load_settings(database_url=url), broker=HandedLater())
    try:
        seed(services, rules, "PASS")
        rss_before = _rss_mb()
        with _quiet_scheduler():
            seconds, pass_rss = _timed_rss(
                lambda: staged.auto_invest.run_due(TODAY, triggered_by="bench")
            )
        peak = _peak_rss_mb()
        with services.uow() as uow:
            c = uow.connection
            t = auto_invest_rules
            executed = c.execute(
                select(func.count()).where(t.c.id.like("AUTO-PASS-%"), t.c.execution_count == 1)
            ).scalar_one()
            pending = c.execute(
                select(func.count()).where(orders.c.status == OrderStatus.PENDING.value)
            ).scalar_one()
    finally:
        staged.close()
        services.close()
    if executed != rules:
        raise SystemExit(f"pass incomplete: {executed} of {rules} rules executed")
    return {
        "backend": backend,
        "rules": rules,
        "pass_rules_per_s": round(rules / seconds, 1),
        "pass_seconds": round(seconds, 3),
        "orders": pending,
        "rss_before_pass_mb": round(rss_before, 1),
        "pass_rss_max_mb": round(pass_rss, 1),
        "peak_rss_mb": round(peak, 1),
        "pass_rss_growth_mb": round(max(0.0, pass_rss - rss_before), 1),
    }


def _check_baseline(services: Services, rule_ids: Sequence[str], tag: str) -> None:
    """Every rule of a baseline executed once, each with its log row and its orders."""
    t, logs = auto_invest_rules, automation_execution_logs
    with services.uow() as uow:
        c = uow.connection
        executed = c.execute(
            select(func.count()).where(t.c.id.like(f"AUTO-{tag}-%"), t.c.execution_count == 1)
        ).scalar_one()
        logged = c.execute(
            select(func.count()).where(logs.c.automation_id.like(f"AUTO-{tag}-%"))
        ).scalar_one()
        placed = c.execute(
            select(func.count()).where(orders.c.automation_id.like(f"AUTO-{tag}-%"))
        ).scalar_one()
    if executed != len(rule_ids) or logged != len(rule_ids) or placed < 2 * len(rule_ids):
        raise SystemExit(f"{tag}: {executed} executed, {logged} logged, {placed} orders")


def run_workers(url: str, count: int, rules: int) -> None:
    """The same pass shared by `count` `autopilot run-once` processes (SKIP LOCKED claims), as
    dedicated workers would run it; their start-up (imports, connecting) is inside the time."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PYTHONPATH": os.pathsep.join(map(str, (ROOT / "src", ROOT))),
    }
    argv = [sys.executable, "-m", "autopilot", "run-once", "--as-of", TODAY.isoformat(), "--json"]
    procs = [
        subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        for _ in range(count)
    ]
    outputs = [p.communicate()[0] for p in procs]
    executed = sum(
        json.loads(out.strip().splitlines()[-1])["counts"]["executed"] for out in outputs
    )
    if executed != rules or any(p.returncode for p in procs):
        raise SystemExit(f"workers executed {executed} of {rules} rules")


def _check(services: Services, rules: int, tag: str) -> int:
    """Every seeded rule executed once and every order filled; returns the pass's order count."""
    t = auto_invest_rules
    with services.uow() as uow:
        c = uow.connection
        due = c.execute(
            select(func.count()).where(t.c.next_execution_date <= TODAY, t.c.status == "Active")
        ).scalar_one()
        executed = c.execute(
            select(func.count()).where(t.c.id.like(f"AUTO-{tag}-%"), t.c.execution_count == 1)
        ).scalar_one()
        by_status = dict(
            c.execute(
                select(orders.c.status, func.count())
                .where(orders.c.automation_id.like(f"AUTO-{tag}-%"))
                .group_by(orders.c.status)
            ).all()
        )
    filled = by_status.get(OrderStatus.FILLED.value, 0)
    if due or executed != rules or filled != sum(by_status.values()):
        raise SystemExit(f"pass incomplete: {due} still due, {executed} executed, {by_status}")
    return int(filled)


# -- running -------------------------------------------------------------------------------------


def run_backend(args: argparse.Namespace, backend: str) -> Measurement:
    with database(backend, args.postgres_url) as url:
        workers = args.workers if backend == "postgres" else 1
        return measure(backend, url, args.rules, args.naive_rules, workers)


def run_isolated(args: argparse.Namespace, backend: str) -> Measurement:
    """Measure one backend in a fresh interpreter, so its peak RSS is its own."""
    argv = [sys.executable, __file__, "--backend", backend, "--rules", str(args.rules)]
    argv += ["--naive-rules", str(args.naive_rules), "--json", "--in-process"]
    argv += ["--workers", str(args.workers)]
    if args.postgres_url:
        argv += ["--postgres-url", args.postgres_url]
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    return Measurement.from_json(json.loads(done.stdout.strip().splitlines()[-1]))


def print_table(results: Sequence[Measurement], batch_size: int) -> None:
    table = Table(title="Auto-invest: the pass, its submission stage, end to end, the naive loop")
    headings = (
        "backend",
        "rules",
        "orders",
        "pass rules/s",
        "ceiling rules/s",
        "fills orders/s",
        "end to end rules/s",
        "naive rules/s",
        "pass/naive",
        "APScheduler rules/s",
        "workers rules/s",
        "peak RSS MB",
        "pass RSS growth MB",
    )
    for heading in headings:
        table.add_column(heading, justify="left" if heading == "backend" else "right")
    for m in results:
        table.add_row(
            m.backend,
            f"{m.rules:,}",
            f"{m.fills:,}",
            f"{m.pass_rate:,.0f}",
            "-"
            if m.ceiling_rate is None
            else f"{m.ceiling_rate:,.0f} ({m.pass_rate / m.ceiling_rate:.2f}x)",
            f"{m.fill_rate:,.0f}",
            f"{m.end_to_end_rate:,.0f}",
            f"{m.naive_rate:,.0f}",
            f"{m.pass_rate / m.naive_rate:,.1f}x",
            "-"
            if m.apscheduler_rate is None
            else f"{m.apscheduler_rate:,.0f} ({m.pass_rate / m.apscheduler_rate:,.1f}x)",
            "-" if m.workers_rate is None else f"{m.workers_rate:,.0f} ({m.workers})",
            f"{m.peak_rss_mb:,.0f}",
            f"{m.rss_growth_mb:,.0f}",
        )
    console = Console(width=160)
    console.print(table)
    samples = ", ".join(f"{m.backend}: {m.naive_sample:,} rules" for m in results)
    console.print(
        "'pass': due rules to the pass's commit (orders Pending, cash held, rule state, log rows);"
        " 'fills': the submission stage on its own, the paper broker taking every Pending order"
        " in batches (Pending -> Filled, positions and cash, holds released); 'ceiling': the same"
        " writes to the commit by PostgreSQL alone, one SQL statement per batch and no Python per"
        " rule (bench/auto_invest_ceiling.py), with the pass's ratio to it; 'end to end': other"
        " rules, due -> every order Filled, the fills in-process after each batch as `serve`"
        f" runs them. Naive loop (one transaction per rule, one statement per row) on a sample"
        f" ({samples}): on PostgreSQL a raw psycopg cursor to the commit (orders Pending, cash"
        " held), on SQLite through SQLAlchemy with its fills; 'APScheduler': 3.11, one job per"
        " rule in an SQLAlchemyJobStore on the same PostgreSQL, 10 threads, misfire_grace_time"
        " None, the same writes per job as the naive loop, over a sample of the same size,"
        " with the pass's ratio to it (bench/auto_invest_baselines.py); all rates per second."
        f" Batch size {batch_size}. The"
        f" '{SCHEDULER_LOGGER}' logger was set to WARNING while timing. Each backend ran in its"
        " own process. 'workers rules/s': the same pass shared by that many `autopilot run-once`"
        " processes on PostgreSQL (SKIP LOCKED), process start-up and fills included."
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=100_000, help="due rules for the pass")
    parser.add_argument(
        "--naive-rules", type=int, default=None, help="naive sample size (default min(N, 5000))"
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default=None, help="else a throwaway server is started")
    parser.add_argument("--json", action="store_true", help="one JSON object per backend")
    parser.add_argument(
        "--workers", type=int, default=2, help="run-once processes sharing a PostgreSQL pass"
    )
    parser.add_argument(
        "--pass-only",
        action="store_true",
        help="time the pass alone and report its memory (for --rules 1000000)",
    )
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.naive_rules is None:
        args.naive_rules = min(args.rules, 5000)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    if args.pass_only:
        for backend in backends:
            with database(backend, args.postgres_url) as url:
                print(json.dumps(measure_pass_only(backend, url, args.rules)), flush=True)
        return
    run = run_backend if args.in_process else run_isolated
    results = [run(args, b) for b in backends]
    if args.json:
        for m in results:
            print(json.dumps(m.as_json()))
    else:
        print_table(results, load_settings().automation_batch_size)


if __name__ == "__main__":
    main()
