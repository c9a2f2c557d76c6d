"""How fast PostgreSQL alone can take an auto-invest pass's writes on this machine: a ceiling.

Not Autopilot's pass, and not a correct one: a measuring stick for issue 2's target. The same
due rules as `bench/auto_invest.py` are executed by one SQL statement per batch of 1,000, with
every per-rule computation done inside the database (legs rounded to the cent without the
largest-remainder split; no cap, cash check, minimum, catch-up or calendar), so no Python runs per
rule. What remains is the database's own work for the rows DESIGN §4 requires: the claim
(FOR UPDATE SKIP LOCKED), one order per leg, one log row per rule, the rule's new state, the
accounts' cash and the positions.

Three order protocols are measured, each with 1 and 2 connections ("lanes", one thread each):
  - written Pending, cash held: the pass as it is now (DESIGN §5, Stages), to its commit: the
    orders written once, Pending, and their cash held on the account; the fills are the next
    stage's and not in the figure (what `pass_rules_per_s` of `bench/auto_invest.py` is held to);
  - written then filled: orders inserted `Pending`, then a second statement fills them, as DESIGN
    §4 has it (an order is written first, then submitted with its id as the idempotency key);
  - written once: orders inserted already `Filled`.

Whatever Autopilot's Python does per rule comes on top of these figures, on the same two cores.

Each run gets a fresh database on a throwaway PostgreSQL server that the script starts.

    python bench/auto_invest_ceiling.py [--rules N] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT / "src", ROOT):  # runnable from a checkout without installing the package
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import psycopg  # noqa: E402
from bench.auto_invest_workload import TODAY, seed  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from autopilot.bootstrap import build  # noqa: E402
from autopilot.config import load_settings  # noqa: E402
from autopilot.storage.migrate import upgrade  # noqa: E402
from autopilot.storage.tables import auto_invest_rules  # noqa: E402

BATCH = 1000

# Both protocols' log rows and rules' new state, from the claimed rules and their new orders.
LOGS_AND_RULES = """logs AS (
  INSERT INTO automation_execution_logs (automation_type, automation_id, client_id,
    execution_date, status, order_ids, message, details, triggered_by, attempt, started_at,
    finished_at, created_at)
  SELECT 'AutoInvest', c.id, c.client_id, %(today)s, 'Success', json_agg(o.id), 'Executed',
    json_build_object('amount', c.amount::text), 'ceiling', 1, now(), now(), now()
  FROM claimed c JOIN new_orders o ON o.automation_id = c.id
  GROUP BY c.id, c.client_id, c.amount),
rules AS (
  UPDATE auto_invest_rules r SET next_execution_date = r.next_execution_date + 30,
    execution_count = r.execution_count + 1, total_invested = r.total_invested + r.amount,
    updated_at = now()
  FROM claimed c WHERE r.id = c.id),
"""

# One batch: claim, legs, orders, log rows, rule state, cash and positions in one statement.
PASS_SQL = (
    """
WITH claimed AS (
  SELECT id, client_id, account_id, amount, allocations FROM auto_invest_rules
  WHERE status = 'Active' AND is_enabled AND next_execution_date <= %(today)s
  ORDER BY next_execution_date, id LIMIT %(batch)s FOR UPDATE SKIP LOCKED),
legs AS (
  SELECT c.id AS rule_id, c.client_id, c.account_id, a.value->>'symbol' AS symbol,
         round(c.amount * (a.value->>'weight')::numeric / 100, 2) AS notional, a.ordinality AS k
  FROM claimed c CROSS JOIN LATERAL json_array_elements(c.allocations) WITH ORDINALITY a),
priced AS (SELECT l.*, s.last_price FROM legs l JOIN securities s USING (symbol)),
new_orders AS (
  INSERT INTO orders (id, account_id, client_id, symbol, side, order_type, notional,
    reserved_amount, status, filled_quantity, filled_price, filled_amount, automation_type,
    automation_id, created_at, updated_at, submitted_at, filled_at)
  SELECT 'ORD-' || rule_id || '-' || k, account_id, client_id, symbol, 'buy', 'market', notional,
    notional, %(status)s, trunc(notional / last_price, 6), last_price, notional, 'AutoInvest',
    rule_id, now(), now(), now(), now()
  FROM priced
  RETURNING automation_id, id, account_id, symbol, filled_quantity, filled_amount),
"""
    + LOGS_AND_RULES
    + """cash AS (
  UPDATE accounts a SET cash = a.cash - s.total, updated_at = now()
  FROM (SELECT account_id, sum(filled_amount) AS total FROM new_orders GROUP BY account_id) s
  WHERE a.id = s.account_id),
held AS (
  INSERT INTO positions (account_id, symbol, quantity, cost_basis, updated_at)
  SELECT account_id, symbol, sum(filled_quantity), sum(filled_amount), now()
  FROM new_orders GROUP BY account_id, symbol
  ON CONFLICT (account_id, symbol) DO UPDATE
  SET quantity = positions.quantity + EXCLUDED.quantity,
      cost_basis = positions.cost_basis + EXCLUDED.cost_basis, updated_at = EXCLUDED.updated_at)
SELECT (SELECT count(*) FROM claimed), (SELECT array_agg(id) FROM new_orders)
"""
)

# The pass as DESIGN §5 (Stages) has it now, to its commit: orders written once, Pending, the
# cash they need held on the account (held = held + total), the log rows and the rules' state;
# the fills are the submission stage's, after the commit, and not in this figure.
HELD_SQL = (
    PASS_SQL[: PASS_SQL.index("new_orders AS (")]
    + """new_orders AS (
  INSERT INTO orders (id, account_id, client_id, symbol, side, order_type, notional,
    reserved_amount, status, automation_type, automation_id, created_at, updated_at)
  SELECT 'ORD-' || rule_id || '-' || k, account_id, client_id, symbol, 'buy', 'market', notional,
    notional, 'Pending', 'AutoInvest', rule_id, now(), now()
  FROM priced
  RETURNING automation_id, id, account_id, reserved_amount),
"""
    + LOGS_AND_RULES
    + """holds AS (
  UPDATE accounts a SET held = a.held + s.total, updated_at = now()
  FROM (SELECT account_id, sum(reserved_amount) AS total FROM new_orders GROUP BY account_id) s
  WHERE a.id = s.account_id)
SELECT (SELECT count(*) FROM claimed), NULL::text[]
"""
)

# The broker's half of "written then filled": the batch's orders, by id, still Pending.
FILL_SQL = """
UPDATE orders SET status = 'Filled', updated_at = now(), filled_at = now()
WHERE status = 'Pending' AND id = ANY(%(ids)s)
"""

HELD = "written Pending, cash held (to the commit)"
PROTOCOLS = {HELD: "Held", "written then filled": "Pending", "written once": "Filled"}


@dataclass(frozen=True, slots=True)
class Run:
    protocol: str
    lanes: int
    rules: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rules / self.seconds

    def as_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "lanes": self.lanes,
            "rules": self.rules,
            "rules_per_s": round(self.rate, 1),
            "seconds": round(self.seconds, 3),
        }


def _lane(dsn: str, status: str, executed: list[int], errors: list[BaseException]) -> None:
    try:
        with psycopg.connect(dsn) as conn:
            while True:
                sql = HELD_SQL if status == "Held" else PASS_SQL
                with conn.transaction():
                    row = conn.execute(
                        sql, {"today": TODAY, "batch": BATCH, "status": status}
                    ).fetchone()
                assert row is not None
                done, order_ids = int(row[0]), row[1]
                if status == "Pending" and order_ids:
                    with conn.transaction():
                        conn.execute(FILL_SQL, {"ids": order_ids})
                executed.append(done)
                if done < BATCH:
                    return
    except BaseException as exc:  # reported by the caller, which owns the exit
        errors.append(exc)


def measure(url: str, rules: int, protocol: str, lanes: int, *, tag: str = "CEIL") -> Run:
    """Seed `rules` due rules (in a fresh database, or beside executed ones), then time the
    SQL-only pass over them."""
    upgrade(url)
    services = build(load_settings(database_url=url))
    try:
        seed(services, rules, tag)
    finally:
        services.close()
    dsn = _dsn(url)
    executed: list[int] = []
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=_lane, args=(dsn, PROTOCOLS[protocol], executed, errors))
        for _ in range(lanes)
    ]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{protocol}, {lanes} lanes: {errors[0]!r}")
    _check(url, rules, tag)
    return Run(protocol=protocol, lanes=lanes, rules=sum(executed), seconds=seconds)


def _check(url: str, rules: int, tag: str) -> None:
    services = build(load_settings(database_url=url))
    try:
        with services.uow() as uow:
            t = auto_invest_rules
            moved = uow.connection.execute(
                select(func.count()).where(t.c.execution_count == 1, t.c.id.like(f"AUTO-{tag}-%"))
            ).scalar_one()
    finally:
        services.close()
    if moved != rules:
        raise SystemExit(f"the SQL pass executed {moved} of {rules} rules")


def _dsn(url: str) -> str:
    u = make_url(url)
    parts = {"host": u.host, "port": u.port, "user": u.username, "dbname": u.database}
    if u.password:
        parts["password"] = u.password
    return " ".join(f"{k}={v}" for k, v in parts.items() if v is not None)


@contextmanager
def _databases() -> Iterator[Callable[[], str]]:
    """A throwaway PostgreSQL server; each call of what it yields creates an empty database."""
    from tests.pg import ThrowawayPostgres

    with ThrowawayPostgres() as server:
        yield server.create_database


def print_table(runs: Sequence[Run]) -> None:
    table = Table(title=f"PostgreSQL alone, {runs[0].rules:,} rules", min_width=60)
    for heading in ("order protocol", "lanes", "rules/s", "seconds"):
        table.add_column(heading, justify="left" if heading == "order protocol" else "right")
    for r in runs:
        table.add_row(r.protocol, str(r.lanes), f"{r.rate:,.0f}", f"{r.seconds:.2f}")
    console = Console()
    console.print(table)
    console.print(
        "Every per-rule computation done in SQL, no Python per rule: the database's cost alone"
        " for the claim, the orders, the log rows, the rules' state, cash and positions, in"
        f" batches of {BATCH}. Autopilot's own pass adds its Python work on the same cores."
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=100_000, help="due rules per run")
    parser.add_argument("--json", action="store_true", help="one JSON object per run")
    args = parser.parse_args(argv)
    runs = []
    with _databases() as fresh_database:
        for protocol in PROTOCOLS:
            for lanes in (1, 2):
                runs.append(measure(fresh_database(), args.rules, protocol, lanes))
    if args.json:
        for r in runs:
            print(json.dumps(r.as_json()))
    else:
        print_table(runs)


if __name__ == "__main__":
    main()
