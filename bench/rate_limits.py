"""Rate-limit checks per second on one database, vs the naive request log (issue 8, point 4).

Every API request costs one limit check, shared by every process on the database. Autopilot's
check is one upsert of a fixed-window counter row (``INSERT … ON CONFLICT DO UPDATE … RETURNING
hits``, :class:`autopilot.services.limits.RateLimiter`). The naive shared limiter, measured in
the same run on the same database, logs every request as a row and counts the key's rows in the
window. T threads (the API's worker threads) check N requests spread over K keys; both rates
are checks/s, and the target is 1,000 checks/s (an API at 1,000 requests/s).

    python bench/rate_limits.py [--requests N] [--keys K] [--threads T]
                                [--backend sqlite|postgres|both] [--postgres-url URL] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT / "src", ROOT):  # runnable from a checkout without installing the package
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import sqlalchemy as sa  # noqa: E402
from bench.databases import database  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from autopilot.bootstrap import build  # noqa: E402
from autopilot.config import load_settings  # noqa: E402
from autopilot.services.limits import RateLimit  # noqa: E402
from autopilot.storage.migrate import upgrade  # noqa: E402

TARGET = 1_000  # checks/s
LIMIT = RateLimit.parse("api", "600/minute")
NAIVE_TABLE = sa.text(
    "CREATE TABLE bench_request_log (bucket VARCHAR(120) NOT NULL, at TIMESTAMP NOT NULL)"
)
NAIVE_INDEX = sa.text("CREATE INDEX ix_bench_request_log ON bench_request_log (bucket, at)")
NAIVE_LOG = sa.text("INSERT INTO bench_request_log (bucket, at) VALUES (:bucket, :at)")
NAIVE_COUNT = sa.text(
    "SELECT count(*) FROM bench_request_log WHERE bucket = :bucket AND at > :since"
)


@dataclass
class Measurement:
    backend: str
    requests: int
    keys: int
    threads: int
    autopilot_per_s: float
    naive_per_s: float

    @property
    def ratio(self) -> float:
        return self.autopilot_per_s / self.naive_per_s


def hammer(
    check: Callable[[str], None], requests: int, keys: int, threads: int, label: str
) -> float:
    """Checks per second when ``threads`` threads share ``requests`` checks over ``keys`` keys."""
    each = requests // threads
    errors: list[BaseException] = []
    with Progress(transient=True) as progress:
        task = progress.add_task(label, total=each * threads)

        def work(offset: int) -> None:
            try:
                for i in range(each):
                    check(f"key:{(offset + i) % keys}")
                    progress.advance(task)
            except BaseException as exc:  # reported after the run
                errors.append(exc)

        workers = [threading.Thread(target=work, args=(n * 7,)) for n in range(threads)]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return each * threads / elapsed


def measure(backend: str, url: str, requests: int, keys: int, threads: int) -> Measurement:
    upgrade(url)
    services = build(load_settings(database_url=url))
    engine = sa.create_engine(url, pool_size=threads, max_overflow=0)
    try:
        limiter = services.limiter
        ours = hammer(lambda key: limiter.hit(LIMIT, key), requests, keys, threads, "counters")
        with engine.begin() as connection:
            connection.execute(NAIVE_TABLE)
            connection.execute(NAIVE_INDEX)

        def naive(key: str) -> None:
            now = datetime.now(UTC).replace(tzinfo=None)
            with engine.begin() as connection:
                connection.execute(NAIVE_LOG, {"bucket": f"api:{key}", "at": now})
                since = now - timedelta(seconds=LIMIT.period_s)
                connection.execute(NAIVE_COUNT, {"bucket": f"api:{key}", "since": since}).scalar()

        theirs = hammer(naive, requests, keys, threads, "request log")
    finally:
        engine.dispose()
        services.close()
    return Measurement(backend, requests, keys, threads, ours, theirs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--keys", type=int, default=20)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default=None, help="else a throwaway server is started")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    results = []
    for backend in backends:
        with database(backend, args.postgres_url) as url:
            results.append(measure(backend, url, args.requests, args.keys, args.threads))
    if args.json:
        print(json.dumps([{**asdict(r), "ratio": r.ratio} for r in results]))
        return 0
    table = Table(title=f"Rate-limit checks per second ({LIMIT}, target {TARGET:,}/s)")
    for column in ("backend", "checks", "keys", "threads", "counter", "request log", "ratio"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            r.backend,
            f"{r.requests:,}",
            str(r.keys),
            str(r.threads),
            f"{r.autopilot_per_s:,.0f}/s",
            f"{r.naive_per_s:,.0f}/s",
            f"{r.ratio:.1f}x",
        )
    Console().print(table)
    short = [r.backend for r in results if r.autopilot_per_s < TARGET]
    if short:
        print(f"below {TARGET:,} checks/s on: {', '.join(short)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
