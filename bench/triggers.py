"""Trigger evaluation: the in-memory index vs the naive scan (DESIGN §5, §8).

Loads N resident triggers over S symbols (a mix of every condition type) into the
`TriggerIndex`, replays M price updates (a random walk per symbol, to the cent) through it, and
in the same run replays the updates of a sample of symbols through the `NaiveEvaluator`, which
checks every trigger of the symbol on each update. Both rates are updates/s, so the ratio is
fair although the naive evaluator runs on a sample; the fired triggers of the sample symbols
are compared between the two.

End to end (`bench/trigger_e2e.py`, one process per backend, after the index part): K trigger
orders (default 100,000 over 1,000 symbols, with the accounts, cash and positions they need) on
a SQLite file and on a throwaway PostgreSQL (when its binaries are installed), and U price
updates (default 50,000) replayed through `services.platform.record_prices` in calls of 100
ticks: prices stored, triggers fired, claimed, their orders, OCO cancels and log rows written
and filled by the paper broker; then checked in the database.

Latency in the workers shape (`bench/trigger_latency.py`, last): two `serve` processes and two
`autopilot worker` processes on a throwaway PostgreSQL; L prices (default 400, over 20 symbols)
posted one at a time over HTTP, alternately to either server, each firing one stop-loss; the
time from the post to the commit of the fire's transaction by the worker that owns the symbol
(PostgreSQL's commit timestamp), p50 and p99.

Memory: tracemalloc of building the index from a stream of triggers (so everything the index
keeps, id strings included, is counted and nothing else), per resident trigger; and the
process's peak RSS (which also holds the replayed updates).

    python bench/triggers.py [--triggers N] [--updates M] [--symbols S] [--json]
                             [--e2e-backend sqlite|postgres|both|none] [--e2e-triggers K]
                             [--e2e-updates U] [--e2e-symbols S]
                             [--latency-posts L] [--latency-symbols S]
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT / "src", ROOT):  # runnable from a checkout without installing the package
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from bench.trigger_workload import (  # noqa: E402
    BATCH,
    generate_triggers,
    generate_updates,
    postgres_available,
    symbol_name,
)
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from autopilot.domain.triggers.index import NaiveEvaluator, TriggerIndex  # noqa: E402

NAIVE_SYMBOLS = 25  # the naive evaluator replays the updates of this many symbols
NAIVE_MAX_UPDATES = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement:
    triggers: int
    updates: int
    symbols: int
    fired: int
    index_seconds: float
    naive_updates: int
    naive_seconds: float
    naive_agrees: bool
    build_seconds: float
    index_bytes: int
    peak_rss_mb: float

    @property
    def autopilot_rate(self) -> float:
        return self.updates / self.index_seconds

    @property
    def naive_rate(self) -> float:
        return self.naive_updates / self.naive_seconds

    def as_json(self) -> dict[str, Any]:
        return {
            "triggers": self.triggers,
            "updates": self.updates,
            "symbols": self.symbols,
            "fired": self.fired,
            "autopilot_updates_per_s": round(self.autopilot_rate),
            "naive_updates_per_s": round(self.naive_rate),
            "naive_sample_updates": self.naive_updates,
            "naive_agrees": self.naive_agrees,
            "ratio": round(self.autopilot_rate / self.naive_rate, 1),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "index_bytes_per_trigger": round(self.index_bytes / self.triggers, 1),
            "index_build_s": round(self.build_seconds, 2),
        }


def build_index(triggers: int, symbols: int) -> tuple[TriggerIndex, int, float]:
    """The index, the bytes it holds (tracemalloc) and the seconds it took to build."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    index = TriggerIndex(generate_triggers(triggers, symbols))
    seconds = time.perf_counter() - started
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return index, held, seconds


def replay(
    evaluator: TriggerIndex | NaiveEvaluator,
    updates: Sequence[tuple[str, Decimal]],
    watch: set[str],
) -> tuple[float, int, list[str]]:
    """Seconds to replay `updates`, the count fired, and the ids fired on `watch` symbols."""
    on_price = evaluator.on_price
    fired = 0
    watched: list[str] = []
    started = time.perf_counter()
    for symbol, price in updates:
        ids = on_price(symbol, price)
        if ids:
            fired += len(ids)
            if symbol in watch:
                watched.extend(ids)
    return time.perf_counter() - started, fired, watched


def measure(triggers: int, updates: int, symbols: int) -> Measurement:
    stream = generate_updates(updates, symbols)
    index, held, build_seconds = build_index(triggers, symbols)
    sample = set(range(min(NAIVE_SYMBOLS, symbols)))
    watch = {symbol_name(n) for n in sample}
    index_seconds, fired, index_fired = replay(index, stream, watch)
    sample_stream = [u for u in stream if u[0] in watch][:NAIVE_MAX_UPDATES]
    cut = len([u for u in stream if u[0] in watch])
    naive = NaiveEvaluator(generate_triggers(triggers, symbols, only=sample))
    naive_seconds, _, naive_fired = replay(naive, sample_stream, watch)
    agrees = cut > len(sample_stream) or sorted(index_fired) == sorted(naive_fired)
    return Measurement(
        triggers=len(index) + fired,
        updates=updates,
        symbols=symbols,
        fired=fired,
        index_seconds=index_seconds,
        naive_updates=len(sample_stream),
        naive_seconds=naive_seconds,
        naive_agrees=agrees,
        build_seconds=build_seconds,
        index_bytes=held,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )


def run_e2e(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[str]]:
    """Each end-to-end backend in its own process (its peak RSS its own); notes on skips."""
    wanted = {"both": ("sqlite", "postgres"), "none": ()}.get(args.e2e_backend, (args.e2e_backend,))
    results: list[dict[str, Any]] = []
    notes: list[str] = []
    for backend in wanted:
        if backend == "postgres" and not postgres_available():
            if args.e2e_backend == "postgres":
                raise SystemExit("PostgreSQL binaries (initdb, pg_ctl) not found")
            notes.append("postgres end to end skipped: PostgreSQL binaries not found")
            continue
        argv = [sys.executable, __file__, "--e2e-only", backend]
        argv += ["--e2e-triggers", str(args.e2e_triggers), "--e2e-updates", str(args.e2e_updates)]
        argv += ["--e2e-symbols", str(args.e2e_symbols)]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"end to end on {backend} failed:\n{done.stderr}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return results, notes


def print_table(result: Measurement) -> None:
    data = result.as_json()
    table = Table(
        title=f"Trigger evaluation: {result.triggers:,} triggers, "
        f"{result.updates:,} updates, {result.symbols:,} symbols"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_row("index updates/s (one core)", f"{data['autopilot_updates_per_s']:,}", "≥ 500,000")
    table.add_row(
        f"naive updates/s ({result.naive_updates:,}-update sample, {NAIVE_SYMBOLS} symbols)",
        f"{data['naive_updates_per_s']:,}",
        "",
    )
    table.add_row("ratio", f"{data['ratio']}×", "")
    table.add_row("triggers fired", f"{result.fired:,}", "")
    table.add_row("index and naive fire the same ids", "yes" if result.naive_agrees else "NO", "")
    table.add_row("index bytes per resident trigger", f"{data['index_bytes_per_trigger']}", "≤ 300")
    table.add_row("index build (s, under tracemalloc)", f"{data['index_build_s']}", "")
    table.add_row("peak RSS (MB)", f"{data['peak_rss_mb']}", "")
    Console().print(table)


def print_e2e(results: Sequence[dict[str, Any]], notes: Sequence[str]) -> None:
    console = Console()
    if results:
        first = results[0]
        table = Table(
            title=f"End to end: {first['triggers']:,} trigger orders, {first['updates']:,} "
            f"updates, {first['symbols']:,} symbols, {BATCH} ticks per record_prices call"
        )
        table.add_column("measure")
        for r in results:
            table.add_column(r["backend"], justify="right")
        rows = (
            ("updates/s end to end", "updates_per_s"),
            ("triggers fired (Triggered or Failed)", "fired"),
            ("  of which Failed", "failed"),
            ("orders written", "orders"),
            ("  filled", "filled"),
            ("  rejected by the broker", "rejected"),
            ("OCO siblings cancelled", "oco_cancelled"),
            ("log rows", "logs"),
            ("index load from the database (s)", "index_load_s"),
            ("peak RSS (MB)", "peak_rss_mb"),
        )
        for label, key in rows:
            table.add_row(label, *(f"{r[key]:,}" for r in results))
        console.print(table)
        console.print(
            "Checked in the database: every fired trigger has one log row, every Triggered one"
            " exactly one order (its order_id), no order is left Pending. updates/s covers"
            " storing the prices, the broker's fills and the evaluator's writes; the index load"
            " from the database is timed apart."
        )
    for note in notes:
        console.print(note)


def print_latency(latency: dict[str, Any]) -> None:
    table = Table(
        title=f"Workers shape: price posted to one of {latency['api_processes']} API processes"
        f" → fired order committed by one of {latency['workers']} workers"
        f" ({latency['posts']:,} posts, {latency['symbols']} symbols, one at a time)"
    )
    table.add_column("measure")
    table.add_column("ms", justify="right")
    for label, key in (
        ("p50", "p50_ms"),
        ("p99", "p99_ms"),
        ("mean", "mean_ms"),
        ("max", "max_ms"),
        ("the post's own answer, p50", "post_answer_p50_ms"),
    ):
        table.add_row(label, f"{latency[key]:,}")
    Console().print(table)
    fired = ", ".join(f"{w} {n}" for w, n in sorted(latency["fired_by_worker"].items()))
    Console().print(f"Every stop fired once, by a worker ({fired}); none by a server.")


def run_latency(args: argparse.Namespace, notes: list[str]) -> dict[str, Any] | None:
    if args.latency_posts <= 0:
        return None
    if not postgres_available():
        notes.append("latency skipped: PostgreSQL binaries not found")
        return None
    from bench.trigger_latency import run

    return run(args.latency_posts, args.latency_symbols).as_json()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=1_000_000)
    parser.add_argument("--updates", type=int, default=1_000_000)
    parser.add_argument("--symbols", type=int, default=5_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--e2e-backend", choices=("sqlite", "postgres", "both", "none"), default="both"
    )
    parser.add_argument("--e2e-triggers", type=int, default=100_000)
    parser.add_argument("--e2e-updates", type=int, default=50_000)
    parser.add_argument("--e2e-symbols", type=int, default=1_000)
    parser.add_argument("--latency-posts", type=int, default=400, help="0: no latency part")
    parser.add_argument("--latency-symbols", type=int, default=20)
    parser.add_argument("--e2e-only", choices=("sqlite", "postgres"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.e2e_only:
        from bench.trigger_e2e import run

        e2e = run(args.e2e_only, args.e2e_triggers, args.e2e_updates, args.e2e_symbols)
        print(json.dumps(e2e.as_json()))
        return 0
    result = measure(args.triggers, args.updates, args.symbols)
    e2e_results, notes = run_e2e(args)
    latency = run_latency(args, notes)
    if args.json:
        print(json.dumps({**result.as_json(), "e2e": e2e_results, "latency": latency}))
    else:
        print_table(result)
        print_e2e(e2e_results, notes)
        if latency is not None:
            print_latency(latency)
    return 0


if __name__ == "__main__":
    sys.exit(main())
