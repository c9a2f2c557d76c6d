"""What a user could pick instead of Autopilot's pass, timed on the same rules (issue 9 point 3).

* **naive**: a per-rule loop on a raw psycopg cursor, one transaction per rule (lock the rule and
  its account, decide with the same domain function, insert the orders ``Pending`` and the log
  row, hold the cash, update the rule, commit), the way a careful first version is written.
* **APScheduler 3.11**: one job per rule in an ``SQLAlchemyJobStore`` on the same PostgreSQL, a
  pool of 10 threads, ``misfire_grace_time=None`` so that no late job is dropped; each job makes
  the same writes in its own transaction. Timed from ``resume()`` of a scheduler whose jobs are
  all stored and due until the last job has run (adding the jobs, which a user does when the
  rule is made, is outside the time).

Both leave the orders ``Pending`` with their cash held, as the pass does to its commit, so the
rates compare with ``pass_rules_per_s``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row

from autopilot.domain.auto_invest.execution import CatchUpPolicy, execute_auto_invest
from autopilot.domain.quotes import Quote
from autopilot.market.calendar import market_calendar
from autopilot.services.ids import new_id
from autopilot.storage.auto_invest_repo import rule_from_row, rule_to_row

THREADS = 10


def libpq_url(url: str) -> str:
    """``postgresql+psycopg://…`` (SQLAlchemy's) as libpq takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class RuleWriter:
    """One rule's execution in one transaction on a raw psycopg connection."""

    def __init__(
        self, url: str, today: Any, *, min_order: Decimal, catch_up: CatchUpPolicy
    ) -> None:
        self._url = libpq_url(url)
        self._today = today
        self._calendar = market_calendar("XNYS")
        self._min_order = min_order
        self._catch_up: CatchUpPolicy = catch_up

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self._url, row_factory=namedtuple_row)

    def execute(self, c: psycopg.Connection[Any], rule_id: str) -> None:
        with c.transaction(), c.cursor() as cur:
            rule = rule_from_row(
                cur.execute(
                    "SELECT * FROM auto_invest_rules WHERE id = %s FOR UPDATE", (rule_id,)
                ).fetchone()
            )
            account = cur.execute(
                "SELECT cash, held FROM accounts WHERE id = %s FOR UPDATE", (rule.account_id,)
            ).fetchone()
            symbols = sorted({a.symbol for a in rule.allocations})
            quotes = {
                r.symbol: Quote(
                    symbol=r.symbol,
                    price=r.last_price,
                    tradable=r.tradable,
                    fractionable=r.fractionable,
                )
                for r in cur.execute(
                    "SELECT symbol, last_price, tradable, fractionable FROM securities"
                    " WHERE symbol = ANY(%s)",
                    (symbols,),
                )
            }
            available = account.cash - account.held
            execution = execute_auto_invest(
                rule,
                today=self._today,
                calendar=self._calendar,
                cash=available,
                quotes=quotes,
                min_order_amount=self._min_order,
                catch_up=self._catch_up,
            )
            at = datetime.now(UTC)
            for outcome in execution.outcomes:
                ids = []
                for buy in outcome.buys:
                    order_id = new_id("ORD", self._today)
                    cur.execute(
                        "INSERT INTO orders (id, account_id, client_id, symbol, side, order_type,"
                        " notional, reserved_amount, status, automation_type, automation_id,"
                        " created_at, updated_at) VALUES (%s, %s, %s, %s, 'buy', 'market', %s,"
                        " %s, 'Pending', 'AutoInvest', %s, %s, %s)",
                        (
                            order_id,
                            rule.account_id,
                            rule.client_id,
                            buy.symbol,
                            buy.notional,
                            buy.notional,
                            rule.id,
                            at,
                            at,
                        ),
                    )
                    ids.append(order_id)
                cur.execute(
                    "INSERT INTO automation_execution_logs (automation_type, automation_id,"
                    " client_id, execution_date, status, order_ids, message, details,"
                    " triggered_by, attempt, started_at, finished_at, created_at, no_op)"
                    " VALUES ('AutoInvest', %s, %s, %s, %s, %s, %s, %s, 'baseline', 1, %s, %s,"
                    " %s, false)",
                    (
                        rule.id,
                        rule.client_id,
                        outcome.occurrence,
                        outcome.status.value,
                        json.dumps(ids),
                        outcome.message,
                        json.dumps({"amount": str(outcome.invested)}),
                        at,
                        at,
                        at,
                    ),
                )
            spent = available - execution.cash_after
            cur.execute(
                "UPDATE accounts SET held = held + %s, updated_at = %s WHERE id = %s",
                (spent, at, rule.account_id),
            )
            state = rule_to_row(execution.rule)
            cur.execute(
                "UPDATE auto_invest_rules SET next_execution_date = %s, execution_count = %s,"
                " total_invested = %s, status = %s, updated_at = %s WHERE id = %s",
                (
                    state["next_execution_date"],
                    state["execution_count"],
                    state["total_invested"],
                    state["status"],
                    at,
                    rule.id,
                ),
            )


def run_naive(writer: RuleWriter, rule_ids: Sequence[str]) -> float:
    """Seconds for the raw per-rule loop over ``rule_ids``."""
    with writer.connect() as c:
        started = time.perf_counter()
        for rule_id in rule_ids:
            writer.execute(c, rule_id)
        return time.perf_counter() - started


# -- APScheduler -------------------------------------------------------------------------------

_job_writer: RuleWriter | None = None
_job_connections = threading.local()
_done = threading.Semaphore(0)


def apscheduler_job(rule_id: str) -> None:
    """The job APScheduler runs for one rule (referenced by name, as a persistent store needs)."""
    assert _job_writer is not None
    c = getattr(_job_connections, "c", None)
    if c is None:
        c = _job_connections.c = _job_writer.connect()
    _job_writer.execute(c, rule_id)


def run_apscheduler(writer: RuleWriter, url: str, rule_ids: Sequence[str]) -> float:
    """Seconds from resuming a scheduler holding one due job per rule until every job has run;
    raises if any job failed or was missed."""
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    global _job_writer
    _job_writer = writer
    outcomes: dict[str, int] = {"ran": 0, "failed": 0, "missed": 0}
    lock = threading.Lock()
    finished = threading.Event()

    def count(event: Any) -> None:
        with lock:
            if event.code == EVENT_JOB_EXECUTED:
                outcomes["ran"] += 1
            elif event.code == EVENT_JOB_ERROR:
                outcomes["failed"] += 1
            else:
                outcomes["missed"] += 1
            if sum(outcomes.values()) == len(rule_ids):
                finished.set()

    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=url, tablename="apscheduler_jobs")},
        executors={"default": ThreadPoolExecutor(THREADS)},
        job_defaults={"misfire_grace_time": None, "coalesce": False, "max_instances": 1},
        timezone=UTC,
    )
    scheduler.add_listener(count, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    scheduler.start(paused=True)
    try:
        due = datetime.now(UTC)
        for rule_id in rule_ids:
            scheduler.add_job(
                f"{__name__}:apscheduler_job",
                trigger="date",
                run_date=due,
                args=[rule_id],
                id=rule_id,
            )
        started = time.perf_counter()
        scheduler.resume()
        if not finished.wait(timeout=3600):
            raise SystemExit(f"APScheduler ran {outcomes} of {len(rule_ids)} jobs in an hour")
        seconds = time.perf_counter() - started
    finally:
        scheduler.shutdown(wait=True)
    if outcomes["ran"] != len(rule_ids):
        raise SystemExit(f"APScheduler: {outcomes} of {len(rule_ids)} jobs")
    return seconds
