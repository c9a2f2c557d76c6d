"""The API stays responsive while a pass runs (issue 9 point 6), as a new user tries it.

A real server (`autopilot serve`, the in-process scheduler off) on SQLite or PostgreSQL, N rules
due today, and a cron-style `POST /api/automation/scheduler/execute {"type": "auto-invest"}`. First
the pass alone; then, over N other rules, the same pass while 16 clients read the execution log and
the scheduler status and post deposits and prices, each as fast as it is answered. Prints the
latency of those requests while the pass ran (p50, p99, max), whether every one succeeded, and
both pass times.

    python bench/api_under_pass.py [--rules N] [--clients C] [--backend sqlite|postgres|both]
                                   [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT / "src", ROOT):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import httpx  # noqa: E402
from bench.auto_invest_workload import DAILY, PRICES, seed  # noqa: E402
from bench.databases import database  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from tests.support.server import launch  # noqa: E402

from autopilot.bootstrap import build  # noqa: E402
from autopilot.config import load_settings  # noqa: E402
from autopilot.market.calendar import market_calendar  # noqa: E402
from autopilot.storage.migrate import upgrade  # noqa: E402

EXECUTE = "/api/automation/scheduler/execute"
KINDS = ("logs", "status", "deposit", "prices")
IDLE_S = 5.0  # the clients alone, no pass: the latency the server has anyway
EXTRA_ENV = dict(e.split("=", 1) for e in os.environ.get("BENCH_SERVER_ENV", "").split() if e)
ZONE = "America/New_York"


@dataclass(frozen=True, slots=True)
class Result:
    backend: str
    rules: int
    clients: int
    pass_alone_s: float
    pass_under_load_s: float
    latencies_ms: list[float]
    failures: int
    by_kind: dict[str, list[float]]
    idle_latencies_ms: list[float]

    def as_json(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        return {
            "backend": self.backend,
            "rules": self.rules,
            "clients": self.clients,
            "requests": len(ordered),
            "failed_requests": self.failures,
            "p50_ms": round(statistics.median(ordered), 1) if ordered else None,
            "p99_ms": round(_percentile(ordered, 0.99), 1) if ordered else None,
            "max_ms": round(ordered[-1], 1) if ordered else None,
            "pass_alone_s": round(self.pass_alone_s, 2),
            "pass_under_load_s": round(self.pass_under_load_s, 2),
            "slowdown": round(self.pass_under_load_s / self.pass_alone_s, 2),
            "no_pass_p50_ms": round(statistics.median(self.idle_latencies_ms), 1),
            "no_pass_p99_ms": round(_percentile(self.idle_latencies_ms, 0.99), 1),
            "p99_ms_by_request": {
                k: round(_percentile(sorted(v), 0.99), 1) for k, v in self.by_kind.items()
            },
        }


def _percentile(ordered: Sequence[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def due_day() -> date:
    """The last trading day up to the market's today: rules due on it execute today, once."""
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo(ZONE)).date()
    calendar = market_calendar("XNYS")
    while not calendar.is_trading_day(today):
        today -= timedelta(days=1)
    return today


def _execute(client: httpx.Client, rules: int) -> float:
    started = time.perf_counter()
    answer = client.post(EXECUTE, json={"type": "auto-invest"}, timeout=3600)
    seconds = time.perf_counter() - started
    answer.raise_for_status()
    counts = answer.json()["data"]["counts"]
    if counts["executed"] != rules:
        raise SystemExit(f"the pass executed {counts} of {rules} rules")
    return seconds


def _load(
    base_url: str,
    admin: str,
    feed: str,
    accounts: Sequence[int],
    stop: threading.Event,
    number: int,
    latencies: list[float],
    failures: list[int],
    lock: threading.Lock,
    by_kind: dict[str, list[float]],
) -> None:
    """One client: reads and writes in turn, each as soon as the last is answered."""
    headers = {"Authorization": f"Bearer {admin}"}
    prices = [{"symbol": s, "price": str(p)} for s, p in PRICES.items()]
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as c:
        for i in itertools.count():
            if stop.is_set():
                return
            kind = (number + i) % 4
            started = time.perf_counter()
            if kind == 0:
                answer = c.get("/api/automation/execution-logs", params={"pageSize": 20})
            elif kind == 1:
                answer = c.get("/api/automation/scheduler/status")
            elif kind == 2:
                account = accounts[(number * 7919 + i) % len(accounts)]
                answer = c.post(f"/api/accounts/{account}/deposits", json={"amount": "10.00"})
            else:
                answer = c.post(
                    "/api/market/prices",
                    json={"prices": prices},
                    headers={"Authorization": f"Bearer {feed}"},
                )
            elapsed = (time.perf_counter() - started) * 1000
            if stop.is_set():
                return  # answered after the pass: not "while it ran"
            with lock:
                latencies.append(elapsed)
                by_kind.setdefault(KINDS[kind], []).append(elapsed)
                if answer.status_code >= 400:
                    failures.append(answer.status_code)


class Load:
    """The clients, each in its thread, until stopped; what they saw."""

    def __init__(self, base_url: str, admin: str, feed: str, clients: int) -> None:
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.failures: list[int] = []
        self.by_kind: dict[str, list[float]] = {}
        lock = threading.Lock()
        accounts = list(range(1, 201))  # the first seed's accounts (ids 1, 2, ...)
        self._threads = [
            threading.Thread(
                target=_load,
                args=(
                    base_url,
                    admin,
                    feed,
                    accounts,
                    self.stop,
                    n,
                    self.latencies,
                    self.failures,
                    lock,
                    self.by_kind,
                ),
                daemon=True,
            )
            for n in range(clients)
        ]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        time.sleep(0.5)  # every client going
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(130)


def measure(backend: str, url: str, rules: int, clients: int) -> Result:
    upgrade(url)
    services = build(load_settings(database_url=url))
    due = due_day()
    settings = {"DATABASE_URL": url, "AUTOMATION_SCHEDULER_ENABLED": "false", **EXTRA_ENV}
    try:
        with tempfile.TemporaryDirectory(prefix="autopilot-api-bench-") as tmp:
            server = launch(Path(tmp), settings)
            try:
                feed = server.new_key("market-data", name="feed")
                seed(services, rules, "ALONE", due, DAILY)
                alone = _execute(server.client, rules)
                with Load(server.base_url, server.admin_key, feed, clients) as idle:
                    time.sleep(IDLE_S)
                seed(services, rules, "LOADED", due, DAILY)
                with Load(server.base_url, server.admin_key, feed, clients) as load:
                    loaded = _execute(server.client, rules)
            finally:
                server.stop()
    finally:
        services.close()
    return Result(
        backend,
        rules,
        clients,
        alone,
        loaded,
        load.latencies,
        len(load.failures),
        load.by_kind,
        sorted(idle.latencies),
    )


def print_table(results: Sequence[Result]) -> None:
    table = Table(title="The API while a pass runs: 16 clients reading and writing")
    for heading in (
        "backend",
        "rules",
        "requests",
        "failed",
        "p50 ms",
        "p99 ms",
        "max ms",
        "no pass p50/p99 ms",
        "pass alone s",
        "pass under load s",
        "slowdown",
    ):
        table.add_column(heading, justify="left" if heading == "backend" else "right")
    for r in results:
        j = r.as_json()
        table.add_row(
            r.backend,
            f"{r.rules:,}",
            f"{j['requests']:,}",
            str(j["failed_requests"]),
            str(j["p50_ms"]),
            str(j["p99_ms"]),
            str(j["max_ms"]),
            f"{j['no_pass_p50_ms']} / {j['no_pass_p99_ms']}",
            f"{j['pass_alone_s']:.2f}",
            f"{j['pass_under_load_s']:.2f}",
            f"{j['slowdown']:.2f}x",
        )
    console = Console(width=140)
    console.print(table)
    console.print(
        "A real `autopilot serve` (scheduler off). 'pass': POST /api/automation/scheduler/execute"
        ' {"type": "auto-invest"} over the rules, to its answer (orders filled in-process);'
        " first alone, then over other rules while the clients each GET the execution log or the"
        " scheduler status, POST a deposit or a price update, in turn, as fast as answered."
        " Latencies are of the requests answered while the pass ran; 'no pass': the same clients"
        f" for {IDLE_S:g} s with no pass running, the latency the server has anyway."
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    results = []
    for backend in backends:
        with database(backend, args.postgres_url) as url:
            results.append(measure(backend, url, args.rules, args.clients))
    if args.json:
        for r in results:
            print(json.dumps(r.as_json()))
    else:
        print_table(results)


if __name__ == "__main__":
    main()
