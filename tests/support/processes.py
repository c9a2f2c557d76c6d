"""Real `autopilot` processes against a real PostgreSQL, and reading the database after them.

The process tests (exactly once, rebalancing, trigger orders) start ``python -m autopilot``
commands as separate OS processes with explicit settings, kill them with SIGKILL where a test
says so, and then read the tables themselves through :func:`test_engine` (its connections are
named so that :func:`other_backends` can tell them from the workers').
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
MARKET = ZoneInfo("America/New_York")
AS_OF = date(2026, 6, 1)  # a Monday and a trading day: the occurrence the seeded rules are due
TEST_APP = "autopilot-test"  # application_name of the test's own connections
# Explicit values, so that an AUTOMATION_* variable in the environment cannot change a test.
SETTINGS: dict[str, str] = {
    "AUTOMATION_CATCH_UP": "coalesce",
    "AUTOMATION_MAX_ATTEMPTS": "3",
    "AUTOMATION_MIN_ORDER_AMOUNT": "1.00",
    "AUTOMATION_TIMEZONE": "America/New_York",
    "AUTOMATION_MARKET_CALENDAR": "XNYS",
    "AUTOMATION_SCHEDULER_ENABLED": "false",
}


def test_engine(url: str) -> Engine:
    """An engine for the test's own reads: no pool, and a name the workers' sessions lack."""
    return create_engine(url, poolclass=NullPool, connect_args={"application_name": TEST_APP})


test_engine.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    def poll(self) -> int | None:
        return self.proc.poll()

    def stdout(self) -> str:
        return self.out.read_text()

    def stderr(self) -> str:
        return self.err.read_text()

    def payload(self) -> dict[str, Any]:
        lines = [line for line in self.stdout().splitlines() if line.startswith("{")]
        assert lines, f"no JSON on stdout; stderr:\n{self.stderr()[-3000:]}"
        result: dict[str, Any] = json.loads(lines[-1])
        return result

    def describe(self) -> str:
        return (
            f"pid {self.proc.pid} exit {self.proc.returncode}\n"
            f"stdout (tail): {self.stdout()[-1000:]}\nstderr (tail): {self.stderr()[-3000:]}"
        )


@dataclass
class Processes:
    """Starts `python -m autopilot ARGS...` (or `python PROGRAM... ARGS...`) on a database, with
    extra environment variables; :meth:`stop_all` kills those still running."""

    folder: Path
    started: list[Worker] = field(default_factory=list)

    def __call__(
        self, url: str, *args: str, program: Sequence[str] = ("-m", "autopilot"), **env: str
    ) -> Worker:
        n = len(self.started)
        environ = {
            **os.environ,
            **SETTINGS,
            "DATABASE_URL": url,
            "PYTHONPATH": os.pathsep.join(
                [str(SRC), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
            **env,
        }
        out, err = self.folder / f"proc{n}.out", self.folder / f"proc{n}.err"
        with out.open("wb") as o, err.open("wb") as e:
            proc = subprocess.Popen(
                [sys.executable, *program, *args],
                cwd=self.folder,  # no stray .env from the repository
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=o,
                stderr=e,
            )
        worker = Worker(proc, out, err)
        self.started.append(worker)
        return worker

    def stop_all(self) -> None:
        for w in self.started:
            if w.proc.poll() is None:
                w.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                w.proc.wait(timeout=10)


def kill_after_first_batch(engine: Engine, held_account: int, start: Callable[[], Worker]) -> None:
    """Start a worker and kill -9 it once its first batch has committed.

    The test holds ``held_account``'s row (the account of the last rule in claim order), so the
    pass cannot finish before the kill: at worst the worker waits in its last batch.
    """
    with engine.connect() as guard:
        tx = guard.begin()
        guard.execute(text("SELECT id FROM accounts WHERE id = :a FOR UPDATE"), {"a": held_account})
        worker = start()
        wait_for(
            lambda: count_rows(engine, "automation_execution_logs") > 0,
            what="the first batch to commit",
            alive=[worker],
        )
        os.kill(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait(timeout=30)
        assert worker.proc.returncode == -signal.SIGKILL
        tx.rollback()
    wait_for_no_worker_backends(engine)


def finish(worker: Worker, timeout: float = 120) -> dict[str, Any]:
    """Wait for a worker to exit; it must exit 0 with a JSON summary and no pass error."""
    try:
        worker.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        worker.proc.kill()
        worker.proc.wait()
        pytest.fail(f"run-once did not finish within {timeout}s\n{worker.describe()}")
    assert worker.proc.returncode == 0, worker.describe()
    payload = worker.payload()
    assert payload["error"] is None, worker.describe()
    return payload


def other_backends(c: Connection, *, waiting_on_lock: bool = False) -> int:
    """Connections to this database other than the test's own (those of workers, or of their
    backends that outlive a killed worker)."""
    sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND backend_type = 'client backend' AND application_name <> :me"
    )
    if waiting_on_lock:
        sql += " AND wait_event_type = 'Lock'"
    return int(c.execute(text(sql), {"me": TEST_APP}).scalar_one())


def wait_for_no_worker_backends(engine: Engine, timeout: float = 60) -> None:
    """After a kill, PostgreSQL ends the dead client's backend (rolling back its transaction)
    only when it next talks to the socket; wait until it has, so the state read is final."""

    def gone() -> bool:
        with engine.connect() as c:
            return other_backends(c) == 0

    wait_for(gone, what="the killed worker's backends to end", timeout_s=timeout)


def count_rows(engine: Engine, table: str) -> int:
    with engine.connect() as c:
        return int(c.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
