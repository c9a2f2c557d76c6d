"""Chaos: dedicated workers killed with SIGKILL while they work, and PostgreSQL crashed under them.

A throwaway PostgreSQL, N due auto-invest rules, T trigger orders on S symbols (default 2,000
on 50; `bench/chaos_triggers.py`) and W `autopilot worker` processes, with a stream of prices
posted as an API process posts them (stored, then a NOTIFY: the workers evaluate). Every
``--kill-every`` seconds one live worker is killed with SIGKILL and a new one started; once in
the run (about a third of the way) PostgreSQL itself is crashed and restarted
(``pg_ctl stop -m immediate``, then start); the prices flow throughout. When every rule is
executed, the stream stops and the kills with it; once every trigger whose level a stored price
crossed has fired (or a minute has passed) and every order is through the submission stage,
the workers are stopped (SIGTERM) and the database is read back:

- every rule executed exactly once: one log row per rule for the occurrence, its orders once;
- every order Filled, or Rejected with its reason; no hold left open on any account;
- nothing left locked, and no worker left alive;
- every trigger group whose level was crossed fired exactly once (one leg Triggered, one order,
  one log row), its OCO sibling Cancelled; no group fired that was never crossed.

It prints the counts (expected, executed, duplicates, lost) of the rules and of the trigger
groups, and exits 1 on any duplicate, loss or inconsistency. ``--scaling`` also times 1, 2 and
4 workers over the same number of rules, each on a fresh database, without kills (and without
triggers), and prints the speed-up.

    python bench/chaos.py [--rules 200000] [--workers 4] [--kill-every 3] [--no-restart]
                          [--triggers 2000] [--trigger-symbols 50] [--price-every 0.05]
                          [--scaling] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT / "src", ROOT):  # runnable from a checkout without installing the package
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from bench import chaos_triggers  # noqa: E402
from bench.auto_invest_workload import TODAY, seed  # noqa: E402
from sqlalchemy import Engine, create_engine, text  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402
from tests.pg import ThrowawayPostgres  # noqa: E402

from autopilot.bootstrap import build  # noqa: E402
from autopilot.config import load_settings  # noqa: E402
from autopilot.storage.migrate import upgrade  # noqa: E402

LEASE_S = 3
SETTLE_S = 60.0  # after the stream stops: for the last handover and the last fills
SELF = "autopilot-chaos"  # application_name of this script's own connections


@dataclass
class Fleet:
    """The worker processes, started and killed; their output goes to files in ``folder``."""

    url: str
    folder: Path
    batch_size: int
    live: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    started: int = 0
    killed: int = 0

    def start(self) -> str:
        self.started += 1
        worker_id = f"chaos-{self.started}"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AUTOMATION_")},
            "DATABASE_URL": self.url,
            "AUTOMATION_CHECK_INTERVAL": "500",
            "AUTOMATION_WORKER_LEASE": str(LEASE_S),
            "AUTOMATION_BATCH_SIZE": str(self.batch_size),
            "AUTOMATION_SCHEDULER_ENABLED": "false",
            "PYTHONPATH": os.pathsep.join(map(str, (ROOT / "src", ROOT))),
        }
        with (self.folder / f"{worker_id}.err").open("wb") as err:
            self.live[worker_id] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "autopilot",
                    "worker",
                    "--id",
                    worker_id,
                    "--as-of",
                    TODAY.isoformat(),
                ],
                env=env,
                cwd=self.folder,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        return worker_id

    def kill_one(self, rng: random.Random) -> str:
        worker_id = rng.choice(sorted(self.live))
        proc = self.live.pop(worker_id)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.killed += 1
        return worker_id

    def stop_all(self, engine: Engine, timeout: float = 60) -> dict[str, int | None]:
        """SIGTERM to every live worker once each has registered (a process still importing
        has no handler yet, and SIGTERM would end it as it ends any process); their exit codes."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            try:
                with engine.connect() as c:
                    registered = set(
                        c.execute(text("SELECT id FROM workers WHERE stopped_at IS NULL")).scalars()
                    )
            except Exception:
                registered = set()
            if set(self.live) <= registered:
                break
            time.sleep(0.05)
        for proc in self.live.values():
            proc.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for worker_id, proc in self.live.items():
            try:
                codes[worker_id] = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[worker_id] = None
        self.live.clear()
        return codes


def _engine(url: str) -> Engine:
    return create_engine(url, poolclass=NullPool, connect_args={"application_name": SELF})


def _progress(engine: Engine) -> tuple[int, int] | None:
    """(rules executed, orders still open), or None while the database is down."""
    try:
        with engine.connect() as c:
            executed = c.execute(
                text(
                    "SELECT count(*) FROM automation_execution_logs"
                    " WHERE automation_type = 'AutoInvest'"
                )
            ).scalar()
            open_orders = c.execute(
                text("SELECT count(*) FROM orders WHERE status IN ('Pending', 'Submitted')")
            ).scalar()
    except Exception:  # the crash in progress
        return None
    return int(executed or 0), int(open_orders or 0)


def _prepare(
    server: ThrowawayPostgres, rules: int, triggers: int = 0, symbols: int = 1
) -> tuple[str, list[chaos_triggers.Group]]:
    url = server.create_database()
    upgrade(url)
    services = build(load_settings(database_url=url))
    try:
        seed(services, rules, "CHAOS")
        groups = chaos_triggers.seed(services, triggers, symbols) if triggers else []
    finally:
        services.close()
    return url, groups


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerLoad:
    triggers: int = 2000
    symbols: int = 50
    every_s: float = 0.05


def chaos(
    rules: int,
    workers: int,
    kill_every: float,
    restart: bool,
    batch_size: int,
    folder: Path,
    say: Callable[[str], None],
    load: TriggerLoad | None = None,
) -> dict[str, Any]:
    rng = random.Random(20261202)
    load = load or TriggerLoad()
    with ThrowawayPostgres() as server:
        url, groups = _prepare(server, rules, load.triggers, load.symbols)
        engine = _engine(url)
        fleet = Fleet(url, folder, batch_size)
        stream = chaos_triggers.PriceStream(url, load.symbols, load.every_s, LEASE_S)
        for _ in range(workers):
            fleet.start()
        if groups:
            stream.start()
        started = time.perf_counter()
        next_kill = started + kill_every
        restarted = False
        settle_by: float | None = None
        while True:
            progress = _progress(engine)
            rules_done = progress is not None and progress[0] >= rules
            if rules_done and settle_by is None and (restarted or not restart):
                stream.stop()  # and the kills with it: what is left is the last handover
                settle_by = time.perf_counter() + SETTLE_S
                say(f"rules done; price stream stopped after {stream.posted:,} posts")
            if settle_by is not None and progress is not None and progress[1] == 0:
                if not groups or _triggers_settled(engine, groups):
                    break
                if time.perf_counter() > settle_by:
                    say("triggers not settled within the settling time: checking as they are")
                    break
            if time.perf_counter() - started > 1800:
                raise SystemExit(f"chaos: not done after 30 minutes ({progress})")
            if restart and not restarted and progress is not None and progress[0] >= rules // 3:
                say(f"crashing PostgreSQL at {progress[0]:,} rules executed")
                server.crash_and_restart()
                restarted = True
            if settle_by is None and time.perf_counter() >= next_kill:
                gone = fleet.kill_one(rng)
                fresh = fleet.start()
                say(f"SIGKILL {gone}, started {fresh} ({progress[0] if progress else '?'} done)")
                next_kill += kill_every
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        stream.stop()
        codes = fleet.stop_all(engine)
        counts = _verify(engine, rules)
        counts.update(chaos_triggers.check(engine, groups))
        counts.update(price_posts=stream.posted, price_posts_failed=stream.failed)
        engine.dispose()
    counts.update(
        seconds=round(seconds, 2),
        rules_per_s=round(rules / seconds, 1),
        workers=workers,
        workers_started=fleet.started,
        workers_killed=fleet.killed,
        postgres_restarted=restarted,
        stop_exit_codes=sorted(set(codes.values()), key=str),
    )
    counts["ok"] = (
        counts["duplicates"] == 0
        and counts["lost"] == 0
        and not counts["problems"]
        and counts["trigger_duplicates"] == 0
        and counts["trigger_lost"] == 0
        and not counts["trigger_problems"]
        and set(codes.values()) <= {0}
    )
    return counts


def _triggers_settled(engine: Engine, groups: list[chaos_triggers.Group]) -> bool:
    try:
        counts = chaos_triggers.check(engine, groups)
    except Exception:
        return False
    return counts["trigger_lost"] == 0


def _verify(engine: Engine, rules: int) -> dict[str, Any]:
    with engine.connect() as c:

        def one(sql: str) -> int:
            return int(c.execute(text(sql)).scalar() or 0)

        executed = one(
            "SELECT count(DISTINCT automation_id) FROM automation_execution_logs"
            " WHERE status = 'Success' AND automation_type = 'AutoInvest'"
        )
        duplicates = one(
            "SELECT count(*) FROM (SELECT automation_id FROM automation_execution_logs"
            " GROUP BY automation_id, execution_date HAVING count(*) > 1) d"
        ) + one(
            "SELECT count(*) FROM auto_invest_rules r WHERE r.id LIKE 'AUTO-CHAOS-%'"
            " AND (SELECT count(*) FROM orders o WHERE o.automation_id = r.id)"
            " <> json_array_length(r.allocations)"
            " AND EXISTS (SELECT 1 FROM automation_execution_logs l"
            "             WHERE l.automation_id = r.id)"
        )
        lost = one(
            "SELECT count(*) FROM auto_invest_rules r WHERE r.id LIKE 'AUTO-CHAOS-%'"
            " AND NOT EXISTS (SELECT 1 FROM automation_execution_logs l"
            "                 WHERE l.automation_id = r.id AND l.status = 'Success')"
        )
        problems = []
        unsettled = one(
            "SELECT count(*) FROM orders WHERE status NOT IN ('Filled', 'Rejected')"
            " OR (status = 'Rejected' AND coalesce(reject_reason, '') = '')"
        )
        if unsettled:
            problems.append(f"{unsettled} order(s) neither Filled nor Rejected with a reason")
        holds = one("SELECT count(*) FROM accounts WHERE held <> 0")
        if holds:
            problems.append(f"{holds} account(s) with a hold left open")
        wrong_count = one(
            "SELECT count(*) FROM auto_invest_rules WHERE id LIKE 'AUTO-CHAOS-%'"
            " AND execution_count <> 1"
        )
        if wrong_count:
            problems.append(f"{wrong_count} rule(s) whose execution count is not 1")
        # Sessions of clients only: autovacuum, which PostgreSQL starts after a run this size,
        # holds its own relation locks while it works and leaves nothing locked.
        locks = one(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
            f" WHERE a.application_name <> '{SELF}' AND l.locktype IN ('relation', 'tuple',"
            " 'transactionid') AND a.datname = current_database()"
            " AND a.backend_type = 'client backend'"
        )
        if locks:
            holders = c.execute(
                text(
                    "SELECT a.application_name, a.state, coalesce(a.wait_event, '-'),"
                    " left(a.query, 60), count(*) FROM pg_locks l JOIN pg_stat_activity a"
                    f" USING (pid) WHERE a.application_name <> '{SELF}' AND l.locktype IN"
                    " ('relation', 'tuple', 'transactionid') AND a.datname = current_database()"
                    " AND a.backend_type = 'client backend'"
                    " GROUP BY 1, 2, 3, 4"
                )
            ).all()
            named = "; ".join(
                f"{k} by {app or '?'} ({state}, waiting on {wait}: {q})"
                for app, state, wait, q, k in holders
            )
            problems.append(f"{locks} lock(s) still held by other sessions: {named}")
        alive = one("SELECT count(*) FROM workers WHERE stopped_at IS NULL")
        orders = one("SELECT count(*) FROM orders")
        filled = one("SELECT count(*) FROM orders WHERE status = 'Filled'")
        rejected = one("SELECT count(*) FROM orders WHERE status = 'Rejected'")
    return {
        "expected": rules,
        "executed": executed,
        "duplicates": duplicates,
        "lost": lost,
        "orders": orders,
        "filled": filled,
        "rejected": rejected,
        "workers_not_stopped": alive,  # the killed ones: dead, never marked stopped
        "problems": problems,
    }


def scaling(rules: int, batch_size: int, folder: Path) -> dict[int, float]:
    """Seconds for 1, 2 and 4 workers over `rules` fresh rules each, no kills."""
    timings: dict[int, float] = {}
    with ThrowawayPostgres() as server:
        for count in (1, 2, 4):
            url, _ = _prepare(server, rules)
            engine = _engine(url)
            fleet = Fleet(url, folder, batch_size)
            started = time.perf_counter()
            for _ in range(count):
                fleet.start()
            while True:
                progress = _progress(engine)
                if progress is not None and progress[0] >= rules and progress[1] == 0:
                    break
                time.sleep(0.05)
            timings[count] = time.perf_counter() - started
            fleet.stop_all(engine)
            engine.dispose()
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--kill-every", type=float, default=3.0, help="seconds between kills")
    parser.add_argument("--no-restart", action="store_true", help="do not crash PostgreSQL")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--triggers", type=int, default=2000, help="trigger orders (0: none)")
    parser.add_argument("--trigger-symbols", type=int, default=50)
    parser.add_argument("--price-every", type=float, default=0.05, help="seconds between posts")
    parser.add_argument("--scaling", action="store_true", help="also time 1, 2 and 4 workers")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    folder = Path(os.environ.get("CHAOS_LOGS", "/tmp")) / f"autopilot-chaos-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)

    def say(line: str) -> None:
        if not args.json:
            print(line, flush=True)

    result = chaos(
        args.rules,
        args.workers,
        args.kill_every,
        not args.no_restart,
        args.batch_size,
        folder,
        say,
        TriggerLoad(triggers=args.triggers, symbols=args.trigger_symbols, every_s=args.price_every),
    )
    if args.scaling:
        timings = scaling(args.rules, args.batch_size, folder)
        result["scaling_seconds"] = {str(k): round(v, 2) for k, v in timings.items()}
        result["scaling_speedup"] = {str(k): round(timings[1] / v, 2) for k, v in timings.items()}
    if args.json:
        print(json.dumps(result))
    else:
        keys = ("expected", "executed", "duplicates", "lost", "orders", "filled", "rejected")
        print("rules:    " + "  ".join(f"{k} {result[k]:,}" for k in keys))
        keys = ("expected", "executed", "duplicates", "lost")
        print(
            "triggers: "
            + "  ".join(f"{k} {result['trigger_' + k]:,}" for k in keys)
            + f"  (groups crossed by the stored prices, of {result['trigger_groups']:,} groups"
            f" and {result['triggers']:,} trigger orders; {result['prices_stored']:,} prices"
            f" stored from {result['price_posts']:,} posts, {result['price_posts_failed']:,}"
            " refused during the crash)"
        )
        print(
            f"{result['workers']} workers, {result['workers_killed']} killed with SIGKILL and"
            f" replaced, PostgreSQL crashed and restarted: {result['postgres_restarted']};"
            f" {result['seconds']} s ({result['rules_per_s']:,} rules/s); worker logs in {folder}"
        )
        for problem in result["problems"] + result["trigger_problems"]:
            print(f"PROBLEM: {problem}")
        if "scaling_seconds" in result:
            for k, v in result["scaling_seconds"].items():
                speedup = result["scaling_speedup"][k]
                print(f"{k} worker(s): {v} s, {args.rules / v:,.0f} rules/s, {speedup}x")
        print("OK" if result["ok"] else "FAILED")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
