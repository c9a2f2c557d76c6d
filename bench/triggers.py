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
`autopilot worker` processes on a throwaway PostgreSQL; the time from a price's post to the
commit of the fire's transaction by the worker that owns the symbol (PostgreSQL's commit
timestamp), p50 and p99. By default at the target's load (--latency-mode steady): 50 ticks
every 10 ms over HTTP for --latency-seconds (default 10), alternately to either server, one post
in 5 firing a stop-loss, with the rate achieved reported; or (--latency-mode sequential) L
prices (default 400, over 20 symbols) posted one at a time, each firing one stop-loss.

Memory: the process's peak RSS per resident trigger (the target: at most 300 bytes at
1,000,000), with everything the run holds: the index, streamed from the generator (no list of
triggers), the updates (kept as two arrays and turned into (symbol, Decimal) pairs 10,000 at a
time, outside the timing), the naive evaluator's sample. Also the RSS growth over the index's
build, and with --tracemalloc tracemalloc's count of what the index holds, in a process of its
own (its traces would inflate this one's RSS).

The index and the naive evaluator must fire the same ids on the sample's updates: the sample
symbols' updates in the first chunks of the walk, up to 20,000 of them.

JSON (--json): the index's figures (`index_updates_per_s`, `rss_bytes_per_trigger`,
`same_fires`, …), `backends` (one object per end-to-end backend: `backend`, `e2e_updates_per_s`,
`latency_p50_ms` and `latency_p99_ms` on PostgreSQL, the workers shape, and the index's figures),
PostgreSQL's object's keys at the top as well, `targets` (each with its value and whether it is
met) and the raw `e2e` and `latency` results.

    python bench/triggers.py [--triggers N] [--updates M] [--symbols S] [--json]
                             [--e2e-backend sqlite|postgres|both|none] [--e2e-triggers K]
                             [--e2e-updates U] [--e2e-symbols S]
                             [--latency-mode steady|sequential] [--latency-seconds T]
                             [--latency-posts L] [--latency-symbols S] [--tracemalloc]
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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT / "src", ROOT):  # runnable from a checkout without installing the package
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from bench.trigger_report import (  # noqa: E402
    figures,
    print_e2e,
    print_latency,
    print_table,
    print_targets,
)
from bench.trigger_workload import (  # noqa: E402
    Walk,
    generate_triggers,
    generate_walk,
    postgres_available,
    symbol_name,
)

from autopilot.domain.triggers.conditions import Trigger  # noqa: E402
from autopilot.domain.triggers.index import NaiveEvaluator, TriggerIndex  # noqa: E402

NAIVE_SYMBOLS = 50  # the naive evaluator replays the updates of this many symbols
NAIVE_MAX_UPDATES = 20_000
CHUNK = 10_000  # updates turned into (symbol, Decimal) pairs at a time, outside the timing


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement:
    triggers: int
    updates: int
    symbols: int
    fired: int
    index_seconds: float
    naive_updates: int
    naive_symbols: int
    naive_seconds: float
    compared_fires: int  # fires on the sample's updates, by each evaluator
    same_fires: bool
    build_seconds: float
    index_rss_bytes: int  # the process's RSS growth over the index's build
    peak_rss_bytes: int
    index_bytes: int | None  # tracemalloc, in a process of its own (--tracemalloc)

    @property
    def autopilot_rate(self) -> float:
        return self.updates / self.index_seconds

    @property
    def naive_rate(self) -> float:
        return self.naive_updates / self.naive_seconds

    @property
    def rss_bytes_per_trigger(self) -> float:
        return self.peak_rss_bytes / self.triggers

    def as_json(self) -> dict[str, Any]:
        return {
            "triggers": self.triggers,
            "updates": self.updates,
            "symbols": self.symbols,
            "fired": self.fired,
            "index_updates_per_s": round(self.autopilot_rate),
            "autopilot_updates_per_s": round(self.autopilot_rate),
            "naive_updates_per_s": round(self.naive_rate),
            "naive_sample_updates": self.naive_updates,
            "naive_sample_symbols": self.naive_symbols,
            "compared_fires": self.compared_fires,
            "same_fires": self.same_fires,
            "naive_agrees": self.same_fires,
            "ratio": round(self.autopilot_rate / self.naive_rate, 1),
            "peak_rss_mb": round(self.peak_rss_bytes / 2**20, 1),
            "rss_bytes_per_trigger": round(self.rss_bytes_per_trigger, 1),
            "index_rss_bytes_per_trigger": round(self.index_rss_bytes / self.triggers, 1),
            "index_bytes_per_trigger": (
                None if self.index_bytes is None else round(self.index_bytes / self.triggers, 1)
            ),
            "index_build_s": round(self.build_seconds, 2),
        }


def rss_bytes() -> int:
    """The process's resident set now (Linux), or its peak where /proc is not there."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return peak_rss_bytes()


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def build_index(
    triggers: int, symbols: int, sample: set[str]
) -> tuple[TriggerIndex, list[Trigger], int, float]:
    """The index streamed from the generator; the triggers of the ``sample`` symbols, kept on
    the way for the naive evaluator (one pass of the generator, not two); the process's RSS
    growth over the build (the sample's triggers included), and the seconds it took."""
    kept: list[Trigger] = []

    def stream() -> Iterator[Trigger]:
        for trigger in generate_triggers(triggers, symbols):
            if trigger.symbol in sample:
                kept.append(trigger)
            yield trigger

    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    index = TriggerIndex(stream())
    seconds = time.perf_counter() - started
    gc.collect()
    return index, kept, rss_bytes() - before, seconds


def traced_index_bytes(triggers: int, symbols: int) -> int:
    """What the index holds by tracemalloc's count (id bytes and all, nothing else): its traces
    cost more than the index, so this runs in a process of its own."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    index = TriggerIndex(generate_triggers(triggers, symbols))
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(index) == triggers
    return held


def replay(
    evaluator: TriggerIndex | NaiveEvaluator,
    chunks: Iterable[tuple[int, list[tuple[str, Decimal]]]],
    watch: set[str],
) -> tuple[float, int, list[tuple[int, str]]]:
    """Seconds spent in ``on_price`` over the chunks (each made before its timing starts), the
    count fired, and the ids fired on ``watch`` symbols with the start of their chunk."""
    on_price = evaluator.on_price
    fired = 0
    watched: list[tuple[int, str]] = []
    seconds = 0.0
    for start, updates in chunks:
        began = time.perf_counter()
        for symbol, price in updates:
            ids = on_price(symbol, price)
            if ids:
                fired += len(ids)
                if symbol in watch:
                    watched.extend((start, i) for i in ids)
        seconds += time.perf_counter() - began
    return seconds, fired, watched


def chunks_of(walk: Walk) -> Iterator[tuple[int, list[tuple[str, Decimal]]]]:
    for start in range(0, len(walk), CHUNK):
        yield start, walk.updates(start, start + CHUNK)


def naive_sample(
    walk: Walk, sample: set[int]
) -> tuple[int, list[tuple[int, list[tuple[str, Decimal]]]]]:
    """The sample symbols' updates in the first chunks of the walk, as many chunks as keep them
    within NAIVE_MAX_UPDATES (one at least); the end of those chunks."""
    end, taken = 0, 0
    picked: list[tuple[int, list[tuple[str, Decimal]]]] = []
    for start in range(0, len(walk), CHUNK):
        stop = min(len(walk), start + CHUNK)
        wanted = [n for n in range(start, stop) if walk.symbols[n] in sample]
        if picked and taken + len(wanted) > NAIVE_MAX_UPDATES:
            break
        names, price = walk.names, walk.price
        picked.append((start, [(names[walk.symbols[n]], price(walk.cents[n])) for n in wanted]))
        end, taken = stop, taken + len(wanted)
    return end, picked


def measure(triggers: int, updates: int, symbols: int, *, traced: bool = False) -> Measurement:
    walk = generate_walk(updates, symbols)
    sample = set(range(min(NAIVE_SYMBOLS, symbols)))
    watch = {symbol_name(n) for n in sample}
    index, kept, index_rss, build_seconds = build_index(triggers, symbols, watch)
    index_seconds, fired, index_fired = replay(index, chunks_of(walk), watch)
    resident = len(index) + fired
    del index
    end, sample_chunks = naive_sample(walk, sample)
    naive = NaiveEvaluator(kept)
    del kept
    naive_seconds, _, naive_fired = replay(naive, sample_chunks, watch)
    compared = sorted(i for start, i in index_fired if start < end)
    return Measurement(
        triggers=resident,
        updates=updates,
        symbols=symbols,
        fired=fired,
        index_seconds=index_seconds,
        naive_updates=sum(len(c) for _, c in sample_chunks),
        naive_symbols=len(sample),
        naive_seconds=naive_seconds,
        compared_fires=len(compared),
        same_fires=compared == sorted(i for _, i in naive_fired),
        build_seconds=build_seconds,
        index_rss_bytes=index_rss,
        peak_rss_bytes=peak_rss_bytes(),
        index_bytes=traced_in_child(triggers, symbols) if traced else None,
    )


def traced_in_child(triggers: int, symbols: int) -> int:
    argv = [sys.executable, __file__, "--traced-only", str(triggers), str(symbols)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1])


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


def run_latency(args: argparse.Namespace, notes: list[str]) -> dict[str, Any] | None:
    if args.latency_posts <= 0:
        return None
    if not postgres_available():
        notes.append("latency skipped: PostgreSQL binaries not found")
        return None
    from bench.trigger_latency import run

    steady = args.latency_seconds if args.latency_mode == "steady" else 0.0
    return run(args.latency_posts, args.latency_symbols, steady_seconds=steady).as_json()


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
    parser.add_argument("--latency-symbols", type=int, default=20, help="sequential mode")
    parser.add_argument(
        "--latency-mode",
        choices=("steady", "sequential"),
        default="steady",
        help="steady: 50 ticks every 10 ms for --latency-seconds; sequential: --latency-posts"
        " posts one at a time",
    )
    parser.add_argument("--latency-seconds", type=float, default=10.0, help="steady mode")
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="also count the index's bytes with tracemalloc (in a process of its own)",
    )
    parser.add_argument("--e2e-only", choices=("sqlite", "postgres"), help=argparse.SUPPRESS)
    parser.add_argument("--traced-only", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.traced_only:
        print(traced_index_bytes(*args.traced_only))
        return 0
    if args.e2e_only:
        from bench.trigger_e2e import run

        e2e = run(args.e2e_only, args.e2e_triggers, args.e2e_updates, args.e2e_symbols)
        print(json.dumps(e2e.as_json()))
        return 0
    result = measure(args.triggers, args.updates, args.symbols, traced=args.tracemalloc)
    e2e_results, notes = run_e2e(args)
    latency = run_latency(args, notes)
    data = figures(result.as_json(), e2e_results, latency)
    if args.json:
        print(json.dumps(data))
    else:
        print_table(data)
        print_e2e(e2e_results, notes)
        if latency is not None:
            print_latency(latency)
        print_targets(data["targets"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
