"""Trigger latency in the workers shape at a steady load (``bench/trigger_latency.py`` holds
the fleet and the sequential mode; ``bench/triggers.py --latency-mode steady`` runs this).

The load of the target (p99 ≤ 50 ms at a steady 5,000 updates/s): 50 symbols, one post of 50
ticks (one per symbol) every 10 ms, alternately to either server, up to 8 in flight; most ticks
are noise above every stop, and one post in 5 carries, for the next symbol in turn, a price just
below its next rung (20 fires a second). The latency of a fire is its commit time minus the
wall-clock time its post was sent; the rate achieved (ticks over the time from the first send to
the last answer), how late the latest post was sent against its schedule, and the latency from
each post's scheduled time (what a feed producing at 5,000/s would see, the client's queue
included) are reported beside it, so a fleet that cannot take the rate shows as such rather
than as a good latency at a lower rate.

At the end every fired stop must have fired once, by a worker (none by a server), with one
order, and the stops not reached must not have fired.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor

from bench.trigger_latency import (
    FIRE_TIMEOUT_S,
    Latency,
    check_fired_once,
    running_fleet,
    seed,
    wait_until,
)
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

STEADY_BATCH = 50  # ticks per post in the steady mode, one per symbol
STEADY_PERIOD_S = 0.010  # one post every 10 ms: 5,000 ticks/s
STEADY_FIRE_EVERY = 5  # one post in 5 carries a tick that fires a stop (20 fires/s)
STEADY_SENDERS = 8  # posts in flight at most


def steady_plan(batches: int, symbols: int) -> tuple[list[list[dict[str, str]]], list[str]]:
    """The posts of the steady mode: each a tick of every symbol (noise between 100.00 and
    100.99, above every stop), and every STEADY_FIRE_EVERY-th one, for the next symbol in turn,
    the price just below its next rung instead; and the stop each firing post fires."""
    rng = random.Random(20250616)
    posts: list[list[dict[str, str]]] = []
    fires: list[str] = []
    for b in range(batches):
        ticks = [
            {"symbol": f"L{s:03d}", "price": f"{100 + rng.randrange(100) / 100:.2f}"}
            for s in range(symbols)
        ]
        if b % STEADY_FIRE_EVERY == 0:
            f = b // STEADY_FIRE_EVERY
            s, k = f % symbols, f // symbols
            ticks[s]["price"] = f"{98.5 - k:.2f}"
            fires.append(f"TRIG-LAT-{s:03d}-{k:03d}")
        posts.append(ticks)
    return posts, fires


def measure_steady(url: str, seconds: float) -> Latency:
    """Posts of STEADY_BATCH ticks every STEADY_PERIOD_S (5,000 ticks/s), alternately to either
    server, up to STEADY_SENDERS in flight; the latency of each fired stop from its post's send
    to its commit. A post sent late (the fleet behind) is sent at once; the rate achieved and
    the latest send are reported, so a fleet that cannot take the rate shows."""
    symbols = STEADY_BATCH
    batches = max(STEADY_FIRE_EVERY, int(seconds / STEADY_PERIOD_S))
    plan, fires = steady_plan(batches, symbols)
    ladders = seed(url, symbols, -(-len(fires) // symbols))
    engine = create_engine(url, poolclass=NullPool)
    sent_at: dict[int, float] = {}  # wall clock, against PostgreSQL's commit timestamps
    behind: dict[int, float] = {}  # seconds after its scheduled time a post was sent
    answers: list[float] = []
    try:
        with running_fleet(url) as (_, apis), ThreadPoolExecutor(STEADY_SENDERS) as pool:

            def post(b: int) -> None:
                behind[b] = time.monotonic() - (start + b * STEADY_PERIOD_S)
                sent_at[b] = time.time()
                answer = apis[b % 2].post("/api/market/prices", json={"prices": plan[b]})
                answers.append((time.time() - sent_at[b]) * 1000)
                if answer.status_code != 200:
                    raise SystemExit(f"latency bench: a post answered {answer.status_code}")

            start = time.monotonic() + 0.05
            pending = []
            for b in range(batches):
                due = start + b * STEADY_PERIOD_S
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                pending.append(pool.submit(post, b))
            for done in pending:
                done.result()
            elapsed = time.time() - min(sent_at.values())
            committed = wait_until(
                lambda: _commits_of(engine, fires), f"{len(fires)} stops to fire", FIRE_TIMEOUT_S
            )
        check_fired_once(engine, [t for ladder in ladders for t in ladder], len(fires))
    finally:
        engine.dispose()
    latencies: list[float] = []
    scheduled: list[float] = []
    by_worker: dict[str, int] = {}
    for f, trigger_id in enumerate(fires):
        at, by = committed[trigger_id]
        b = f * STEADY_FIRE_EVERY
        latencies.append((at - sent_at[b]) * 1000)
        scheduled.append((at - sent_at[b] + behind[b]) * 1000)
        by_worker[by] = by_worker.get(by, 0) + 1
    return Latency(
        posts=batches,
        symbols=symbols,
        latencies_ms=latencies,
        answers_ms=answers,
        by_worker=by_worker,
        mode="steady",
        ticks=batches * symbols,
        seconds=elapsed,
        late_ms=max(behind.values()) * 1000,
        from_schedule_ms=tuple(scheduled),
    )


def _commits_of(engine: Engine, trigger_ids: list[str]) -> dict[str, tuple[float, str]] | None:
    """Each stop's commit time and firer, once all of them fired (None before)."""
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT automation_id, extract(epoch FROM pg_xact_commit_timestamp(xmin)),"
                " triggered_by FROM automation_execution_logs WHERE automation_id = ANY(:ids)"
            ),
            {"ids": trigger_ids},
        ).all()
    found = {str(r[0]): (float(r[1]), str(r[2])) for r in rows}
    return found if len(found) == len(trigger_ids) else None
