"""Trigger latency in the workers shape: a price posted to one API process → the fired order
committed by a worker (issue 10, point 3).

A throwaway PostgreSQL (with ``track_commit_timestamp``), two ``autopilot serve`` processes
with the scheduler off, and two ``autopilot worker`` processes, all real processes on this
machine. Each of S symbols has a ladder of K stop-losses (priceBelow 99.00, 98.00, …; each on
an account of its own holding 10 shares, selling all). Then, one at a time, a price just below
the next rung of a symbol is posted over HTTP, alternately to either server: it fires exactly
one stop. The latency of a post is the commit time of the fire's transaction (PostgreSQL's
commit timestamp of the trigger's log row, written with its order) minus the wall-clock time
just before the request was sent: the servers store and NOTIFY, the worker that owns the
symbol wakes, reads the feed, fires, and commits. Posts are sequential (the next once the last
has fired), so this is the latency of an idle-ish system, not under load.

The steady mode, at the target's load, is ``bench/trigger_steady.py``.

At the end every stop must have fired once, by a worker (none by a server), with one order.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.pool import NullPool
from tests.pg import ThrowawayPostgres

from autopilot.bootstrap import build
from autopilot.config import load_settings
from autopilot.domain.orders import Side
from autopilot.domain.triggers.conditions import PriceBelow, Trigger
from autopilot.domain.triggers.order import OrderTemplate
from autopilot.services.records import TriggerOrderRecord
from autopilot.storage.migrate import upgrade
from autopilot.storage.tables import accounts, clients, positions
from autopilot.storage.trigger_repo import TriggerOrders

ROOT = Path(__file__).resolve().parent.parent
WORKERS = ("latency-w1", "latency-w2")
HELD = Decimal("10.000000")
OPENING = Decimal("100.00")
FIRE_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Latency:
    posts: int
    symbols: int
    latencies_ms: list[float]
    answers_ms: list[float]
    by_worker: dict[str, int]
    mode: str = "sequential"
    ticks: int = 0  # price ticks posted (steady mode)
    seconds: float = 0.0  # from the first post's send to the last one's answer (steady mode)
    late_ms: float = 0.0  # how far behind its schedule the latest post was sent (steady mode)
    from_schedule_ms: tuple[float, ...] = ()  # each fire's latency from its post's scheduled time

    def as_json(self) -> dict[str, Any]:
        def pct(values: list[float], q: float) -> float:
            ordered = sorted(values)
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

        return {
            "api_processes": 2,
            "workers": len(WORKERS),
            "posts": self.posts,
            "symbols": self.symbols,
            "p50_ms": pct(self.latencies_ms, 0.50),
            "p99_ms": pct(self.latencies_ms, 0.99),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 2),
            "max_ms": round(max(self.latencies_ms), 2),
            "post_answer_p50_ms": pct(self.answers_ms, 0.50),
            "fired_by_worker": self.by_worker,
            "mode": self.mode,
            "fires": len(self.latencies_ms),
            "ticks": self.ticks if self.mode == "steady" else self.posts,
            "rate_per_s": round(self.ticks / self.seconds) if self.mode == "steady" else None,
            "max_late_ms": round(self.late_ms, 1) if self.mode == "steady" else None,
            "from_schedule_p50_ms": (
                pct(list(self.from_schedule_ms), 0.50) if self.from_schedule_ms else None
            ),
            "from_schedule_p99_ms": (
                pct(list(self.from_schedule_ms), 0.99) if self.from_schedule_ms else None
            ),
        }


def seed(url: str, symbols: int, rungs: int) -> list[list[str]]:
    """The ladders: ``ids[s][k]`` is symbol s's stop at 99.00 − k."""
    upgrade(url)
    services = build(load_settings(database_url=url))
    now = datetime.now(UTC)
    names = [f"L{n:03d}" for n in range(symbols)]
    ladders: list[list[str]] = [[] for _ in names]
    try:
        with services.uow() as uow:
            uow.market.record_prices([(s, OPENING, now) for s in names])
            records, owners = [], []
            for s, symbol in enumerate(names):
                for k in range(rungs):
                    owner = 1 + s * rungs + k
                    trigger_id = f"TRIG-LAT-{s:03d}-{k:03d}"
                    ladders[s].append(trigger_id)
                    owners.append((owner, symbol))
                    records.append(
                        TriggerOrderRecord(
                            trigger=Trigger(
                                id=trigger_id,
                                account_id=owner,
                                symbol=symbol,
                                condition=PriceBelow(level=Decimal(99 - k)),
                            ),
                            client_id=owner,
                            order=OrderTemplate(side=Side.SELL, sell_all=True),
                            created_at=now,
                            updated_at=now,
                        )
                    )
            c = uow.connection
            c.execute(
                insert(clients),
                [{"id": i, "name": f"C{i}", "email": None, "created_at": now} for i, _ in owners],
            )
            c.execute(
                insert(accounts),
                [
                    {
                        "id": i,
                        "client_id": i,
                        "currency": "USD",
                        "cash": Decimal("1000.00"),
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i, _ in owners
                ],
            )
            c.execute(
                insert(positions),
                [
                    {
                        "account_id": i,
                        "symbol": s,
                        "quantity": HELD,
                        "cost_basis": OPENING * HELD,
                        "updated_at": now,
                    }
                    for i, s in owners
                ],
            )
            TriggerOrders(c).add_many(records)
    finally:
        services.close()
    return ladders


@dataclass
class Fleet:
    url: str
    folder: Path
    procs: list[subprocess.Popen[bytes]]

    def start(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        environ = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AUTOMATION_")},
            "DATABASE_URL": self.url,
            "AUTOMATION_SCHEDULER_ENABLED": "false",
            "AUTOMATION_CHECK_INTERVAL": "3600000",
            "AUTOMATION_RATE_LIMIT_API": "1000000/minute",
            "PYTHONPATH": os.pathsep.join(map(str, (ROOT / "src", ROOT))),
            **env,
        }
        with (self.folder / f"{name}.err").open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "autopilot", *args],
                env=environ,
                cwd=self.folder,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.err").read_text(errors="replace")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(probe: Any, what: str, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.01)
    raise SystemExit(f"latency bench: timed out waiting for {what}")


@contextmanager
def running_fleet(url: str) -> Iterator[tuple[Fleet, list[httpx.Client]]]:
    with tempfile.TemporaryDirectory(prefix="autopilot-latency-") as tmp:
        fleet = Fleet(url, Path(tmp), [])
        clients_: list[httpx.Client] = []
        try:
            key_file = Path(tmp) / "admin.key"
            ports = [_free_port(), _free_port()]
            for n, port in enumerate(ports):
                fleet.start(
                    f"serve{n}",
                    "serve",
                    "--port",
                    str(port),
                    AUTOMATION_ADMIN_KEY_FILE=str(key_file),
                )
                if n == 0:  # the first writes the admin key; the second finds one exists
                    wait_until(key_file.exists, "the first server's admin key")
            key = key_file.read_text().strip()
            for port in ports:
                client = httpx.Client(
                    base_url=f"http://127.0.0.1:{port}",
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=30,
                )
                clients_.append(client)
                wait_until(lambda c=client: _answers(c), f"the server on port {port}")
            for worker_id in WORKERS:
                fleet.start(worker_id, "worker", "--id", worker_id)
            both = f"(live workers: {', '.join(sorted(WORKERS))})"
            wait_until(
                lambda: all(both in fleet.log(w) for w in WORKERS), "both workers to see each other"
            )
            time.sleep(1.5)  # the servers read the live workers at most once a second
            yield fleet, clients_
        finally:
            for client in clients_:
                client.close()
            fleet.stop()


def _answers(client: httpx.Client) -> bool:
    try:
        return client.get("/api/health").status_code == 200
    except httpx.TransportError:
        return False


def _commit_of(engine: Engine, trigger_id: str) -> tuple[float, str] | None:
    with engine.connect() as c:
        row = c.execute(
            text(
                "SELECT extract(epoch FROM pg_xact_commit_timestamp(xmin)), triggered_by"
                " FROM automation_execution_logs WHERE automation_id = :id"
            ),
            {"id": trigger_id},
        ).first()
    return None if row is None else (float(row[0]), str(row[1]))


def measure(url: str, posts: int, symbols: int) -> Latency:
    rungs = -(-posts // symbols)
    ladders = seed(url, symbols, rungs)
    engine = create_engine(url, poolclass=NullPool)
    latencies, answers = [], []
    by_worker: dict[str, int] = {}
    try:
        with running_fleet(url) as (_, apis):
            for i in range(posts):
                s, k = i % symbols, i // symbols
                trigger_id = ladders[s][k]
                body = {"prices": [{"symbol": f"L{s:03d}", "price": f"{98.5 - k:.2f}"}]}
                sent = time.time()
                answer = apis[i % 2].post("/api/market/prices", json=body)
                answers.append((time.time() - sent) * 1000)
                if answer.status_code != 200:
                    raise SystemExit(f"latency bench: a post answered {answer.status_code}")
                committed, by = wait_until(
                    lambda t=trigger_id: _commit_of(engine, t),
                    f"{trigger_id} to fire",
                    FIRE_TIMEOUT_S,
                )
                latencies.append((committed - sent) * 1000)
                by_worker[by] = by_worker.get(by, 0) + 1
        check_fired_once(engine, [t for ladder in ladders for t in ladder[:rungs]], posts)
    finally:
        engine.dispose()
    return Latency(
        posts=posts,
        symbols=symbols,
        latencies_ms=latencies,
        answers_ms=answers,
        by_worker=by_worker,
    )


def check_fired_once(engine: Engine, ids: list[str], posts: int) -> None:
    """Every posted rung fired once, by a worker, with one order; the rest untouched."""
    with engine.connect() as c:
        logs = dict(
            c.execute(
                text(
                    "SELECT automation_id, count(*) FROM automation_execution_logs"
                    " WHERE automation_type = 'TriggerOrder' GROUP BY automation_id"
                )
            ).all()
        )
        orders = dict(
            c.execute(
                text(
                    "SELECT automation_id, count(*) FROM orders"
                    " WHERE automation_type = 'TriggerOrder' GROUP BY automation_id"
                )
            ).all()
        )
        servers = c.execute(
            text("SELECT count(*) FROM automation_execution_logs WHERE triggered_by = 'prices'")
        ).scalar_one()
    fired = [i for i in ids if i in logs]
    problems = [i for i in fired if logs[i] != 1 or orders.get(i) != 1]
    if len(fired) != posts or problems or servers:
        raise SystemExit(
            f"latency bench: {len(fired)} of {posts} fired, {len(problems)} not exactly once,"
            f" {servers} by a server"
        )


def run(posts: int, symbols: int, steady_seconds: float = 0.0) -> Latency:
    """Sequential posts (``posts`` over ``symbols``), or with ``steady_seconds`` the steady mode."""
    with ThrowawayPostgres(options="-c track_commit_timestamp=on") as server:
        if steady_seconds > 0:
            from bench.trigger_steady import measure_steady

            return measure_steady(server.create_database(), steady_seconds)
        return measure(server.create_database(), posts, symbols)
