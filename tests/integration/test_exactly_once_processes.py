"""Exactly once with real processes against a real PostgreSQL (DESIGN §1, §5).

Every test here starts `python -m autopilot run-once` as separate OS processes against the
throwaway PostgreSQL cluster, and then reads the database itself to check the promise: a due rule
executes exactly once, whatever concurrent workers or a `kill -9` do, and nothing is ever
half-written (the orders, the cash, the rule's new state and the log row commit together).

The rules are seeded straight into the tables (a template rule is made through the service, then
copied set-based), several rules to an account so that concurrent batches meet on account rows.
Each rule invests 100.00 monthly on the 1st, 60% AAA and 40% BBB, so an execution is two orders.
"""

from __future__ import annotations

import signal
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import IntegrityError

from autopilot.bootstrap import build
from autopilot.config import load_settings
from autopilot.domain.auto_invest.rule import Allocation
from autopilot.domain.schedule import Frequency
from autopilot.services.auto_invest.rules import RuleSpec
from autopilot.services.platform import PriceTick
from autopilot.services.ports import FixedClock
from autopilot.storage import tables
from autopilot.storage.migrate import upgrade
from tests.support.processes import (
    AS_OF,
    MARKET,
    SETTINGS,
    Worker,
    count_rows,
    finish,
    kill_after_first_batch,
    other_backends,
    test_engine,
    wait_for_no_worker_backends,
)
from tests.support.services import NOTHING_DONE
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(240)]

NEXT = date(2026, 7, 1)  # the next 1st of the month, a Wednesday and a trading day
AMOUNT = Decimal("100.00")
LEGS = {"AAA": Decimal("60.00"), "BBB": Decimal("40.00")}
PRICES = {"AAA": Decimal("100.00"), "BBB": Decimal("30.00")}
ZERO = Decimal("0.00")


# --- seeding -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seeded:
    rule_ids: tuple[str, ...]  # in claim order: (next_execution_date, id)
    deposits: dict[int, Decimal]  # account id -> cash put in
    rule_account: dict[str, int]


def seed(
    url: str,
    *,
    rules: int,
    rules_per_account: int,
    sentinel: bool = False,
    cash_each: Decimal | None = None,
) -> Seeded:
    """Migrate, then create `rules` rules due on AS_OF, `rules_per_account` to an account.

    Rule i goes to account i mod (number of accounts), so the rules of one account are spread
    over the whole pass and concurrent batches lock the same account rows. With `sentinel`, the
    last rule in claim order gets an account of its own (the test can hold that account's row lock
    to keep a pass from finishing). Each account gets `cash_each`, by default enough for all of
    its rules with some left over.
    """
    upgrade(url)
    settings = load_settings(database_url=url, **{k.lower(): v for k, v in SETTINGS.items()})
    at = datetime.combine(AS_OF, dtime(12, 0), tzinfo=MARKET)
    services = build(settings, clock=FixedClock(at))
    try:
        services.platform.record_prices(
            [PriceTick(symbol=s, price=p) for s, p in sorted(PRICES.items())]
        )
        # One rule through the service, as the template of the rows copied below.
        client = services.platform.create_client("Template", "template@example.com")
        account = services.platform.open_account(client.id, "USD")
        template = services.rules.create(
            RuleSpec(
                client_id=client.id,
                account_id=account.id,
                name="Monthly DCA",
                amount=AMOUNT,
                allocations=tuple(Allocation(symbol=s, weight=a) for s, a in sorted(LEGS.items())),
                frequency=Frequency.MONTHLY,
                day_of_month=1,
                start_date=AS_OF,
            )
        ).rule
        assert template.next_execution_date == AS_OF
    finally:
        services.close()

    n_accounts = -(-(rules - int(sentinel)) // rules_per_account) + int(sentinel)
    engine = test_engine(url)
    try:
        with engine.begin() as c:
            # The template rule is not part of the test: it is replaced by the seeded ones.
            row = dict(
                c.execute(
                    select(tables.auto_invest_rules).where(
                        tables.auto_invest_rules.c.id == template.id
                    )
                )
                .one()
                ._mapping
            )
            c.execute(
                tables.auto_invest_rules.delete().where(
                    tables.auto_invest_rules.c.id == template.id
                )
            )
            client_ids = list(
                c.execute(
                    insert(tables.clients).returning(
                        tables.clients.c.id, sort_by_parameter_order=True
                    ),
                    [
                        {"name": f"Investor {i}", "email": None, "created_at": at}
                        for i in range(n_accounts)
                    ],
                ).scalars()
            )
            deposit = cash_each or AMOUNT * (rules_per_account + 3)
            account_ids = list(
                c.execute(
                    insert(tables.accounts).returning(
                        tables.accounts.c.id, sort_by_parameter_order=True
                    ),
                    [
                        {
                            "client_id": cid,
                            "currency": "USD",
                            "cash": deposit,
                            "created_at": at,
                            "updated_at": at,
                        }
                        for cid in client_ids
                    ],
                ).scalars()
            )
            owner = dict(zip(account_ids, client_ids, strict=True))
            ordinary = account_ids[:-1] if sentinel else account_ids
            rule_rows: list[dict[str, Any]] = []
            for i in range(rules):
                account_id = ordinary[i % len(ordinary)]
                if sentinel and i == rules - 1:
                    account_id = account_ids[-1]
                rule_rows.append(
                    {
                        **row,
                        "id": f"AUTO-{AS_OF:%Y%m%d}-{i:015d}",
                        "client_id": owner[account_id],
                        "account_id": account_id,
                    }
                )
            c.execute(insert(tables.auto_invest_rules), rule_rows)
            c.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    ids = tuple(sorted(r["id"] for r in rule_rows))
    return Seeded(
        rule_ids=ids,
        deposits=dict.fromkeys(account_ids, deposit),
        rule_account={r["id"]: r["account_id"] for r in rule_rows},
    )


# --- the database, read back -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class State:
    rules: dict[str, Any]  # id -> row
    logs: list[Any]
    orders: dict[str, Any]  # id -> row
    cash: dict[int, Decimal]
    held: dict[int, Decimal]
    positions: dict[tuple[int, str], Decimal]
    attempts: dict[str, int]  # automation id -> failed attempts counted


def read_state(engine: Engine) -> State:
    # One repeatable-read snapshot, so the tables are read as of one moment.
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as c, c.begin():
        rules = {r.id: r for r in c.execute(select(tables.auto_invest_rules))}
        logs = list(c.execute(select(tables.automation_execution_logs)))
        orders = {o.id: o for o in c.execute(select(tables.orders))}
        accounts = list(c.execute(select(tables.accounts)))
        cash = {a.id: a.cash for a in accounts}
        held = {a.id: a.held for a in accounts}
        positions = {
            (p.account_id, p.symbol): p.quantity for p in c.execute(select(tables.positions))
        }
        attempts = {
            a.automation_id: a.failed_attempts
            for a in c.execute(select(tables.automation_attempts))
        }
    return State(rules, logs, orders, cash, held, positions, attempts)


def check_consistent(state: State, seeded: Seeded) -> tuple[set[str], set[str]]:
    """Every rule is either wholly executed for AS_OF or wholly untouched; the money adds up.

    Returns (executed rule ids, untouched rule ids).
    """
    assert set(state.rules) == set(seeded.rule_ids)
    problems: list[str] = []
    logs_by_rule: dict[str, list[Any]] = defaultdict(list)
    for row in state.logs:
        logs_by_rule[row.automation_id].append(row)
    orders_by_rule: dict[str, list[Any]] = defaultdict(list)
    for o in state.orders.values():
        orders_by_rule[o.automation_id].append(o)
    unknown = (set(logs_by_rule) | set(orders_by_rule)) - set(seeded.rule_ids)
    assert not unknown, f"log rows or orders of rules never seeded: {sorted(unknown)[:5]}"

    executed: set[str] = set()
    untouched: set[str] = set()
    for rule_id in seeded.rule_ids:
        rule, logs, orders = state.rules[rule_id], logs_by_rule[rule_id], orders_by_rule[rule_id]
        if not logs and not orders:
            if (
                rule.next_execution_date != AS_OF
                or rule.execution_count != 0
                or rule.total_invested != ZERO
                or state.attempts.get(rule_id, 0) != 0
                or rule.status != "Active"
            ):
                problems.append(f"{rule_id}: no log row, no orders, but its state moved: {rule}")
            untouched.add(rule_id)
            continue
        statuses = [(r.execution_date, r.status) for r in logs]
        if statuses != [(AS_OF, "Success")]:
            problems.append(f"{rule_id}: log rows {statuses} (want one Success for {AS_OF})")
            continue
        (entry,) = logs
        symbols = Counter(o.symbol for o in orders)
        if symbols != Counter(list(LEGS)):
            problems.append(f"{rule_id}: orders per symbol {dict(symbols)} (want one per leg)")
        if sorted(entry.order_ids) != sorted(o.id for o in orders):
            problems.append(
                f"{rule_id}: log row names orders {entry.order_ids}, "
                f"orders table has {sorted(o.id for o in orders)}"
            )
        for o in orders:
            if (
                o.account_id != seeded.rule_account[rule_id]
                or o.notional != LEGS[o.symbol]
                or o.reserved_amount != LEGS[o.symbol]
                or o.side != "buy"
                or o.automation_type != "AutoInvest"
            ):
                problems.append(f"{rule_id}: unexpected order {o}")
        if (
            rule.next_execution_date != NEXT
            or rule.execution_count != 1
            or rule.total_invested != AMOUNT
            or state.attempts.get(rule_id, 0) != 0
            or rule.status != "Active"
        ):
            problems.append(f"{rule_id}: executed, but its state is {rule}")
        executed.add(rule_id)
    assert not problems, f"{len(problems)} inconsistent rule(s):\n" + "\n".join(problems[:20])

    # Money: cash = deposit - the fills' amounts; held = what the open orders reserve;
    # positions = the filled quantities.
    expected_cash = dict(seeded.deposits)
    expected_held = {a: ZERO for a in seeded.deposits}
    expected_positions: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for o in state.orders.values():
        assert o.status in ("Pending", "Submitted", "Filled"), f"order {o.id} is {o.status}"
        if o.status == "Filled":
            expected_cash[o.account_id] -= o.filled_amount
            expected_positions[(o.account_id, o.symbol)] += o.filled_quantity
        else:
            expected_held[o.account_id] += o.reserved_amount
    wrong_cash = {
        a: (state.cash[a], expected_cash[a], state.held[a], expected_held[a])
        for a in expected_cash
        if (state.cash[a], state.held[a]) != (expected_cash[a], expected_held[a])
    }
    assert not wrong_cash, (
        f"(cash, expected, held, expected) differs: {dict(list(wrong_cash.items())[:10])}"
    )
    actual_positions = {k: q for k, q in state.positions.items() if q != 0}
    assert actual_positions == {k: q for k, q in expected_positions.items() if q != 0}
    return executed, untouched


def check_all_executed_once(state: State, seeded: Seeded) -> None:
    executed, untouched = check_consistent(state, seeded)
    assert not untouched, f"{len(untouched)} rule(s) never executed, e.g. {sorted(untouched)[:5]}"
    assert len(executed) == len(seeded.rule_ids)
    assert len(state.orders) == len(LEGS) * len(seeded.rule_ids)
    not_filled = Counter(o.status for o in state.orders.values() if o.status != "Filled")
    assert not not_filled, f"orders not filled: {dict(not_filled)}"
    for o in state.orders.values():
        assert o.filled_amount == o.reserved_amount  # fractional notional buys cost the notional


def check_second_pass_does_nothing(
    start: Callable[..., Worker], url: str, engine: Engine, before: State
) -> None:
    payload = finish(start(url, batch_size=50))
    assert payload["counts"] == NOTHING_DONE, payload
    after = read_state(engine)
    assert after.orders.keys() == before.orders.keys()
    assert len(after.logs) == len(before.logs)
    assert (after.cash, after.held) == (before.cash, before.held)
    assert after.rules == before.rules


# --- 1. concurrent workers ---------------------------------------------------------------------


def test_four_concurrent_workers_execute_every_rule_exactly_once(
    pg_url: str, workers: Callable[..., Worker]
) -> None:
    seeded = seed(pg_url, rules=2000, rules_per_account=5)
    engine = test_engine(pg_url)
    try:
        # A start line: the test holds every account row, so each worker claims its first batch
        # (SKIP LOCKED: four disjoint batches) and then waits for the accounts. Once all four
        # wait, the line is released and the four run side by side for the rest of the pass.
        with engine.connect() as gate:
            tx = gate.begin()
            gate.execute(text("SELECT id FROM accounts ORDER BY id FOR UPDATE"))
            started = [workers(pg_url, batch_size=50) for _ in range(4)]

            def all_waiting() -> bool:
                with engine.connect() as c:
                    return other_backends(c, waiting_on_lock=True) >= 4

            wait_for(what="four workers to claim a batch each", probe=all_waiting, alive=started)
            with engine.connect() as c:
                # Rows this connection cannot lock are the ones the workers hold.
                free = c.execute(
                    text(
                        "SELECT count(*) FROM "
                        "(SELECT id FROM auto_invest_rules FOR UPDATE SKIP LOCKED) AS free"
                    )
                ).scalar_one()
                claimed = len(seeded.rule_ids) - int(free)
            tx.rollback()
        assert claimed == 4 * 50  # four disjoint batches held at once
        payloads = [finish(w) for w in started]

        executed = [p["counts"]["executed"] for p in payloads]
        assert all(n > 0 for n in executed), executed  # each worker did part of the pass
        assert sum(executed) == len(seeded.rule_ids), executed
        for p in payloads:
            assert p["counts"]["skipped"] == 0 and p["counts"]["failed"] == 0, p["counts"]
        reported = Counter(r["ruleId"] for p in payloads for r in p["executed"])
        twice = {r: n for r, n in reported.items() if n > 1}
        assert not twice, f"rules reported executed by more than one worker: {twice}"
        assert set(reported) == set(seeded.rule_ids)
        reported_orders = {o for p in payloads for r in p["executed"] for o in r["orderIds"]}

        state = read_state(engine)
        check_all_executed_once(state, seeded)
        assert reported_orders == set(state.orders)

        # 4. Run again for the same date: nothing is due any more.
        check_second_pass_does_nothing(workers, pg_url, engine, state)
    finally:
        engine.dispose()


def test_two_workers_racing_on_one_accounts_cash_spend_it_once(
    pg_url: str, workers: Callable[..., Worker]
) -> None:
    """Two rules of one account, claimed by two workers at the same moment, with cash for one:
    the second to lock the account sees the first one's hold (its orders are Pending until the
    submission stage fills them) and skips for want of cash. Nothing is spent twice."""
    seeded = seed(pg_url, rules=40, rules_per_account=2, cash_each=Decimal("150.00"))
    engine = test_engine(pg_url)
    try:
        with engine.connect() as gate:  # both workers claim their batch, then meet on accounts
            tx = gate.begin()
            gate.execute(text("SELECT id FROM accounts ORDER BY id FOR UPDATE"))
            started = [workers(pg_url, batch_size=20) for _ in range(2)]

            def both_waiting() -> bool:
                with engine.connect() as c:
                    return other_backends(c, waiting_on_lock=True) >= 2

            wait_for(what="two workers to claim a batch each", probe=both_waiting, alive=started)
            tx.rollback()
        payloads = [finish(w) for w in started]
        assert all(p["counts"]["executed"] + p["counts"]["skipped"] == 20 for p in payloads)

        state = read_state(engine)
        by_account: dict[int, list[str]] = defaultdict(list)
        for log in state.logs:
            by_account[seeded.rule_account[log.automation_id]].append(log.status)
            if log.status == "Skipped":
                assert "insufficient cash" in log.message.lower(), log.message
        assert {a: sorted(s) for a, s in by_account.items()} == {
            a: ["Skipped", "Success"] for a in seeded.deposits
        }
        filled = Counter(o.account_id for o in state.orders.values() if o.status == "Filled")
        assert filled == dict.fromkeys(seeded.deposits, len(LEGS))
        for account in seeded.deposits:  # 150.00 less the one 100.00 execution, no hold open
            assert (state.cash[account], state.held[account]) == (Decimal("50.00"), ZERO)
    finally:
        engine.dispose()


# --- 2. kill -9 in the middle of a pass --------------------------------------------------------


def test_kill_9_mid_pass_leaves_no_half_written_rule_and_a_rerun_completes(
    pg_url: str, workers: Callable[..., Worker]
) -> None:
    seeded = seed(pg_url, rules=6000, rules_per_account=10, sentinel=True)
    sentinel_account = seeded.rule_account[seeded.rule_ids[-1]]
    engine = test_engine(pg_url)
    try:
        kill_after_first_batch(engine, sentinel_account, lambda: workers(pg_url, batch_size=200))

        after_kill = read_state(engine)
        executed, untouched = check_consistent(after_kill, seeded)
        assert executed and untouched, (len(executed), len(untouched))
        # Batches commit whole, in claim order: what ran is a prefix of the rules.
        assert sorted(executed) == list(seeded.rule_ids[: len(executed)])
        pending = {o.id for o in after_kill.orders.values() if o.status == "Pending"}

        payload = finish(workers(pg_url, batch_size=200))
        assert payload["counts"]["executed"] == len(untouched), payload["counts"]
        # The summary details the first 1000 outcomes; the counts cover them all.
        reported = {r["ruleId"] for r in payload["executed"]}
        assert reported <= untouched
        assert len(reported) == min(len(untouched), 1000)
        assert payload["truncated"] is (len(untouched) > 1000)
        final = read_state(engine)
        check_all_executed_once(final, seeded)
        assert all(final.orders[o].status == "Filled" for o in pending)
        for o in after_kill.orders.values():  # orders written before the kill are not redone
            assert final.orders[o.id].automation_id == o.automation_id

        check_second_pass_does_nothing(workers, pg_url, engine, final)
    finally:
        engine.dispose()


# --- 3. a crash at a chosen point --------------------------------------------------------------

# Runs the CLI with one method wrapped so that the process SIGKILLs itself on its Nth call.
CRASHING_CLI = """
import os, signal, sys
from autopilot.brokers.paper import PaperBroker
from autopilot.storage.logs_repo import ExecutionLogs

owner = {"submit": PaperBroker, "logs": ExecutionLogs}[os.environ["CRASH_AT"]]
name = {"submit": "submit", "logs": "add_many"}[os.environ["CRASH_AT"]]
original = getattr(owner, name)
calls = 0

def crashing(*args, **kwargs):
    global calls
    calls += 1
    if calls == int(os.environ["CRASH_ON_CALL"]):
        os.kill(os.getpid(), signal.SIGKILL)
    return original(*args, **kwargs)

setattr(owner, name, crashing)
sys.argv = ["autopilot", *sys.argv[1:]]
from autopilot.cli import main
main()
"""


@pytest.mark.parametrize(
    ("crash_at", "pending_after_crash"),
    [
        # Killed inside the third batch's transaction, after its orders, cash and rule state were
        # written and before its log rows and the commit: the third batch must leave no trace.
        pytest.param("logs", 0, id="kill-before-commit"),
        # Killed after the third batch committed and before its orders reached the broker: its
        # orders stay Pending, and the next pass submits them (once) before anything else.
        pytest.param("submit", 2 * 50, id="kill-between-commit-and-submit"),
    ],
)
def test_kill_at_a_chosen_point_then_rerun(
    pg_url: str,
    workers: Callable[..., Worker],
    tmp_path: Path,
    crash_at: str,
    pending_after_crash: int,
) -> None:
    batch = 50
    seeded = seed(pg_url, rules=400, rules_per_account=4)
    script = tmp_path / "crashing_cli.py"
    script.write_text(CRASHING_CLI)
    engine = test_engine(pg_url)
    try:
        # One lane, so the third call is the third batch's (with two, the second and third
        # batches are in flight together; the other crash tests run with the default lanes).
        worker = workers(
            pg_url,
            batch_size=batch,
            argv=[str(script)],
            CRASH_AT=crash_at,
            CRASH_ON_CALL="3",
            AUTOMATION_PASS_LANES="1",
        )
        worker.proc.wait(timeout=120)
        assert worker.proc.returncode == -signal.SIGKILL, worker.describe()
        wait_for_no_worker_backends(engine)

        after_crash = read_state(engine)
        executed, untouched = check_consistent(after_crash, seeded)
        done = 2 * batch if crash_at == "logs" else 3 * batch
        assert sorted(executed) == list(seeded.rule_ids[:done])
        statuses = Counter(o.status for o in after_crash.orders.values())
        expected = {"Filled": 2 * 2 * batch}
        if pending_after_crash:
            expected["Pending"] = pending_after_crash
        assert dict(statuses) == expected
        pending = {o.id for o in after_crash.orders.values() if o.status == "Pending"}

        payload = finish(workers(pg_url, batch_size=batch))
        assert payload["counts"] == {
            "executed": len(untouched),
            "skipped": 0,
            "failed": 0,
            "pendingApproval": 0,
        }
        final = read_state(engine)
        check_all_executed_once(final, seeded)
        assert all(final.orders[o].status == "Filled" for o in pending)
    finally:
        engine.dispose()


# --- 4. the unique key itself ------------------------------------------------------------------


def test_unique_key_refuses_a_second_outcome_but_allows_repeated_failures(pg_url: str) -> None:
    upgrade(pg_url)
    engine = test_engine(pg_url)
    at = datetime.combine(AS_OF, dtime(12, 0), tzinfo=MARKET)

    def row(status: str, rule_id: str = "AUTO-20260601-000000000000001") -> dict[str, Any]:
        return {
            "automation_type": "AutoInvest",
            "automation_id": rule_id,
            "client_id": 1,
            "execution_date": AS_OF,
            "status": status,
            "order_ids": [],
            "message": status,
            "triggered_by": "test",
            "attempt": 1,
            "started_at": at,
            "finished_at": at,
            "created_at": at,
        }

    logs = tables.automation_execution_logs
    try:
        with engine.begin() as c:
            c.execute(insert(logs), [row("Failed"), row("Failed"), row("Success")])
            c.execute(insert(logs), [row("Failed")])  # failures are logged beside the outcome
            c.execute(insert(logs), [row("Success", "AUTO-20260601-000000000000002")])
        for second in ("Success", "Skipped"):
            refused = pytest.raises(IntegrityError, match="uq_automation_execution_logs_outcome")
            with refused, engine.begin() as c:
                c.execute(insert(logs), [row(second)])
        # Two outcomes for the same occurrence in one statement are refused as well.
        with pytest.raises(IntegrityError), engine.begin() as c:
            rid = "AUTO-20260601-000000000000003"
            c.execute(insert(logs), [row("Skipped", rid), row("Success", rid)])
        assert count_rows(engine, "automation_execution_logs") == 5
        with engine.connect() as c:
            definition = c.execute(
                text(
                    "SELECT indexdef FROM pg_indexes "
                    "WHERE indexname = 'uq_automation_execution_logs_outcome'"
                )
            ).scalar_one()
        assert "UNIQUE" in definition and "'Failed'" in definition, definition
        assert "'PendingApproval'" in definition, definition
        assert "no_op" in definition, definition
    finally:
        engine.dispose()


# --- 6. SIGTERM ---------------------------------------------------------------------------------


def test_sigterm_commits_the_batch_in_hand_then_the_pass_ends_cleanly(
    pg_url: str, workers: Callable[..., Worker]
) -> None:
    seeded = seed(pg_url, rules=3000, rules_per_account=10)
    engine = test_engine(pg_url)
    try:
        worker = workers(pg_url, batch_size=100)
        wait_for(
            what="the first batch to commit",
            probe=lambda: count_rows(engine, "automation_execution_logs") > 0,
            alive=[worker],
        )
        worker.proc.send_signal(signal.SIGTERM)
        payload = finish(worker)  # exit 0 with its summary: a stop, not a crash
        state = read_state(engine)
        executed, untouched = check_consistent(state, seeded)
        assert payload["counts"]["executed"] == len(executed)
        assert len(executed) % 100 == 0  # whole batches only: the one in hand was finished
        assert untouched, "the pass stopped early instead of running to the end"
        assert all(o.status == "Filled" for o in state.orders.values())  # submitted too

        rerun = finish(workers(pg_url, batch_size=100))
        assert rerun["counts"]["executed"] == len(untouched)
        check_all_executed_once(read_state(engine), seeded)
    finally:
        engine.dispose()
