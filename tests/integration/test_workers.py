"""`autopilot worker` with real processes against a real PostgreSQL (DESIGN §1, issue 10).

N workers share the due work through the database and execute each rule once; SIGTERM lets the
batch in hand commit and marks the worker stopped; a worker that dies (SIGKILL) or freezes with
its locks held (SIGSTOP: a host cut off from the network) is found dead once its heartbeat is
older than the lease, and a live worker takes its work over at once, although the live one's
own interval is an hour.

The rules are those of the exactly-once tests: due on AS_OF, which the workers are told with
the hidden ``--as-of`` (their clock is otherwise the database's).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, make_url, text
from sqlalchemy import create_engine as sa_create_engine

from autopilot.bootstrap import build
from autopilot.config import load_settings
from autopilot.services.records import WorkerState
from autopilot.storage.migrate import upgrade
from autopilot.storage.workers_repo import Workers, application_name
from tests.integration.test_exactly_once_processes import (
    check_all_executed_once,
    read_state,
    seed,
)
from tests.pg import ThrowawayPostgres
from tests.support.processes import (
    AS_OF,
    Processes,
    Worker,
    count_rows,
    other_backends,
    test_engine,
)
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(240)]

HOUR_MS = str(3_600_000)
LEASE_S = "2"


@pytest.fixture
def start_worker(procs: Processes) -> Callable[..., Worker]:
    def start(url: str, worker_id: str, *, batch_size: int = 100, **env: str) -> Worker:
        settings = {
            "AUTOMATION_CHECK_INTERVAL": HOUR_MS,  # only the first pass, or a takeover, runs
            "AUTOMATION_WORKER_LEASE": LEASE_S,
            "AUTOMATION_BATCH_SIZE": str(batch_size),
            **env,
        }
        return procs(url, "worker", "--id", worker_id, "--as-of", AS_OF.isoformat(), **settings)

    return start


def states(url: str) -> dict[str, WorkerState]:
    services = build(load_settings(database_url=url, automation_worker_lease=float(LEASE_S)))
    try:
        return {w.record.id: w.state for w in services.workers.list().workers}
    finally:
        services.close()


def executed(engine: Engine) -> int:
    return count_rows(engine, "automation_execution_logs")


def settled(engine: Engine, rules: int) -> bool:
    """Every rule logged and every order through the submission stage (it follows the commit)."""
    if executed(engine) != rules:  # first: once every batch has committed, its orders exist
        return False
    with engine.connect() as c:
        open_orders = c.execute(
            text("SELECT count(*) FROM orders WHERE status IN ('Pending', 'Submitted')")
        ).scalar_one()
    return bool(open_orders == 0)


def stop(worker: Worker, timeout: float = 30) -> int:
    worker.proc.send_signal(signal.SIGTERM)
    try:
        return worker.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the worker did not stop within {timeout}s\n{worker.describe()}")


@contextmanager
def first_batch_held(engine: Engine, start: Callable[[], Worker]) -> Iterator[Worker]:
    """Start a worker while the test locks every account row: it claims its first batch and
    waits in it until the block ends, which releases the accounts."""
    with engine.connect() as gate:
        tx = gate.begin()
        gate.execute(text("SELECT id FROM accounts ORDER BY id FOR UPDATE"))
        worker = start()

        def waiting() -> bool:
            with engine.connect() as c:
                return other_backends(c, waiting_on_lock=True) >= 1

        wait_for(waiting, what="the worker to wait in its first batch", alive=[worker])
        try:
            yield worker
        finally:
            tx.rollback()


def test_a_worker_refuses_sqlite_in_one_line(procs: Processes, sqlite_url: str) -> None:
    refused = procs(sqlite_url, "worker")
    assert refused.proc.wait(timeout=60) == 2
    lines = refused.stderr().strip().splitlines()
    assert lines == [
        "error: workers need PostgreSQL: DATABASE_URL is not a postgresql+psycopg:// URL"
    ]


def test_two_workers_share_the_due_rules_and_stop_cleanly_on_sigterm(
    pg_url: str, start_worker: Callable[..., Worker]
) -> None:
    seeded = seed(pg_url, rules=1200, rules_per_account=4)
    engine = test_engine(pg_url)
    try:
        started = [start_worker(pg_url, "w1"), start_worker(pg_url, "w2")]
        wait_for(
            lambda: settled(engine, len(seeded.rule_ids)),
            what="every rule to be executed and its orders filled",
            alive=started,
        )
        state = read_state(engine)
        check_all_executed_once(state, seeded)
        by = {log.triggered_by for log in state.logs}
        assert by <= {"w1", "w2"}, by
        wait_for(
            lambda: states(pg_url) == {"w1": WorkerState.ALIVE, "w2": WorkerState.ALIVE},
            what="both workers listed alive",
            interval_s=0.2,
        )

        assert [stop(w) for w in started] == [0, 0]
        assert states(pg_url) == {"w1": WorkerState.STOPPED, "w2": WorkerState.STOPPED}
        for w, name in zip(started, ("w1", "w2"), strict=True):
            assert f"Worker {name} stopped" in w.stderr()
            assert "Traceback" not in w.stderr()
    finally:
        engine.dispose()


def test_sigterm_lets_the_batch_in_hand_commit_and_claims_no_more(
    pg_url: str, start_worker: Callable[..., Worker]
) -> None:
    seeded = seed(pg_url, rules=400, rules_per_account=1)
    engine = test_engine(pg_url)
    try:
        with first_batch_held(engine, lambda: start_worker(pg_url, "w1", batch_size=50)) as worker:
            worker.proc.send_signal(signal.SIGTERM)
        assert worker.proc.wait(timeout=30) == 0, worker.describe()
        assert executed(engine) == 50  # the batch in hand, and nothing after it
        assert states(pg_url) == {"w1": WorkerState.STOPPED}
        assert len(seeded.rule_ids) == 400
    finally:
        engine.dispose()


def test_a_second_sigterm_stops_at_once_and_the_batch_in_hand_is_rolled_back(
    pg_url: str, start_worker: Callable[..., Worker]
) -> None:
    seed(pg_url, rules=100, rules_per_account=1)
    engine = test_engine(pg_url)
    try:
        with first_batch_held(engine, lambda: start_worker(pg_url, "w1", batch_size=50)) as worker:
            worker.proc.send_signal(signal.SIGTERM)
            wait_for(  # signals are not queued: the second must come after the first is seen
                lambda: "Stopping worker w1 after the batch in hand" in worker.stderr(),
                what="the worker to take the first signal",
                alive=[worker],
            )
            worker.proc.send_signal(signal.SIGTERM)
            assert worker.proc.wait(timeout=30) == 128 + signal.SIGTERM
        wait_for(
            lambda: executed(engine) == 0 and _no_backends(engine),
            what="the killed worker's transaction to be rolled back",
        )
        assert states(pg_url) == {"w1": WorkerState.ALIVE}  # until its lease runs out
        wait_for(
            lambda: states(pg_url) == {"w1": WorkerState.DEAD},
            what="the worker to be listed dead once its lease ran out",
            timeout_s=30,
            interval_s=0.2,
        )
    finally:
        engine.dispose()


def _no_backends(engine: Engine) -> bool:
    with engine.connect() as c:
        return other_backends(c) == 0


@pytest.mark.parametrize("how", ["SIGKILL", "SIGSTOP"])
def test_a_dead_workers_work_is_taken_over_within_the_lease(
    pg_url: str, start_worker: Callable[..., Worker], procs: Processes, how: str
) -> None:
    """SIGKILL: the process is gone. SIGSTOP: it is frozen with its transaction open and its rows
    locked, as a host cut off from the network; the survivor must end its sessions."""
    engine = test_engine(pg_url)
    try:
        survivor = start_worker(pg_url, "survivor")
        wait_for(
            lambda: "Scheduled checks completed" in survivor.stderr(),
            what="the survivor's first pass (nothing due yet)",
            alive=[survivor],
        )
        seeded = seed(pg_url, rules=600, rules_per_account=3)  # due now; its next pass: in 1 h
        with first_batch_held(engine, lambda: start_worker(pg_url, "doomed")) as doomed:
            os.kill(doomed.proc.pid, getattr(signal, how))

        wait_for(
            lambda: settled(engine, len(seeded.rule_ids)),
            what="the survivor to take the dead worker's work over",
            timeout_s=60,
            alive=[survivor],
        )
        check_all_executed_once(read_state(engine), seeded)
        assert {log.triggered_by for log in read_state(engine).logs} == {"survivor"}
        assert "Worker doomed is dead" in survivor.stderr()
        assert states(pg_url) == {"survivor": WorkerState.ALIVE, "doomed": WorkerState.DEAD}
    finally:
        if how == "SIGSTOP":
            os.kill(doomed.proc.pid, signal.SIGKILL)
        engine.dispose()


def test_a_worker_started_while_postgresql_restarts_waits_for_it_then_works(
    pg_server: ThrowawayPostgres, pg_url: str, start_worker: Callable[..., Worker]
) -> None:
    """Compose or systemd may start a worker before PostgreSQL accepts connections: it waits
    (up to the lease), instead of exiting and leaving its share of the work undone."""
    upgrade(pg_url)
    pg_server.stop_server()
    try:
        worker = start_worker(pg_url, "patient", AUTOMATION_WORKER_LEASE="60")
        wait_for(
            lambda: "waiting up to 60s for the database" in worker.stderr(),
            what="the worker to say it waits",
            alive=[worker],
        )
    finally:
        pg_server.start_server()
    wait_for(
        lambda: states(pg_url).get("patient") is WorkerState.ALIVE,
        what="the worker to start once PostgreSQL is back",
        alive=[worker],
    )
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.proc.wait(timeout=60) == 0


def test_ending_a_dead_workers_sessions_frees_its_locks_before_it_returns(pg_url: str) -> None:
    """A survivor runs its pass right after ending the dead one's sessions: a row the dead one
    locked must be claimable then, not skipped as still locked by a backend on its way out."""
    engine = test_engine(pg_url)
    dead = sa_create_engine(
        make_url(pg_url).update_query_dict({"application_name": application_name("doomed")})
    )
    try:
        with engine.begin() as c:
            c.execute(text("CREATE TABLE held (id int PRIMARY KEY)"))
            c.execute(text("INSERT INTO held SELECT generate_series(1, 3)"))
        for _ in range(5):  # the race is one of milliseconds: a few rounds show it if it is there
            with dead.connect() as frozen:
                frozen.begin()
                frozen.execute(text("SELECT id FROM held FOR UPDATE"))
                with engine.begin() as c:
                    assert Workers(c).end_connections_of("doomed") == (1, 1)
                    free = c.execute(text("SELECT id FROM held FOR UPDATE SKIP LOCKED"))
                    assert sorted(free.scalars()) == [1, 2, 3]
                frozen.invalidate()
        with engine.begin() as c:
            assert Workers(c).end_connections_of("doomed") == (0, 0)
    finally:
        dead.dispose()
        engine.dispose()
