"""Rebalancing executes exactly once, with real processes against a real PostgreSQL (DESIGN §1, §5).

The counterpart, for rebalancing, of test_exactly_once_processes.py (whose process helpers are
reused): `python -m autopilot run-once` runs as separate OS processes, concurrently or killed with
SIGKILL, and the test reads the database itself afterwards.

Every seeded account holds 10,000.00 invested 70 / 25 / 5 (VTI 70 @ 100, BND 50 @ 50, VXUS 20 @ 25,
no cash) under a drift rule 60 / 30 / 10 with a threshold of 5 pp: one rebalance is exactly three
orders (sell 10 VTI, buy 10 BND, buy 20 VXUS) and leaves 60 / 60 / 40 shares, no cash, drift 0.
One template account and rule are made through the services; the rest are copied set-based.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import time as dtime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, text

from autopilot.bootstrap import build
from autopilot.config import load_settings
from autopilot.domain.orders import OrderType, Side
from autopilot.domain.rebalancing.drift import Target
from autopilot.domain.rebalancing.rule import TriggerMode
from autopilot.services.orders import PlaceOrder
from autopilot.services.platform import PriceTick
from autopilot.services.ports import FixedClock
from autopilot.services.rebalancing.rules import RebalancingSpec
from autopilot.storage import tables
from autopilot.storage.migrate import upgrade
from tests.support.processes import (
    AS_OF,
    MARKET,
    SETTINGS,
    Worker,
    finish,
    kill_after_first_batch,
    other_backends,
    test_engine,
)
from tests.support.services import NOTHING_DONE
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(240)]

PRICES = {"VTI": Decimal("100.00"), "BND": Decimal("50.00"), "VXUS": Decimal("25.00")}
TARGETS = {"VTI": Decimal("60"), "BND": Decimal("30"), "VXUS": Decimal("10")}
THRESHOLD = Decimal("5")
OPENING = {"VTI": Decimal("70"), "BND": Decimal("50"), "VXUS": Decimal("20")}
BALANCED = {"VTI": Decimal("60"), "BND": Decimal("60"), "VXUS": Decimal("40")}
# (side, symbol) -> quantity of the one rebalance
TRADES = {
    ("sell", "VTI"): Decimal("10"),
    ("buy", "BND"): Decimal("10"),
    ("buy", "VXUS"): Decimal("20"),
}
VALUE = Decimal("10000.00")
ZERO = Decimal("0.00")
KIND = "Rebalancing"


# --- seeding -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seeded:
    rule_ids: tuple[str, ...]  # in claim order (id order)
    rule_account: dict[str, int]


def _services(url: str) -> Any:
    settings = load_settings(database_url=url, **{k.lower(): v for k, v in SETTINGS.items()})
    return build(settings, clock=FixedClock(datetime.combine(AS_OF, dtime(12, 0), tzinfo=MARKET)))


def seed(url: str, *, rules: int) -> Seeded:
    """Migrate, then create `rules` drifted accounts, one drift rule each."""
    upgrade(url)
    services = _services(url)
    try:
        services.platform.record_prices([PriceTick(symbol=s, price=p) for s, p in PRICES.items()])
        client = services.platform.create_client("Template", "template@example.com")
        account = services.platform.open_account(client.id, "USD")
        services.platform.deposit(account.id, VALUE)
        for symbol, quantity in OPENING.items():
            services.orders.place(
                PlaceOrder(
                    account_id=account.id,
                    symbol=symbol,
                    side=Side.BUY,
                    order_type=OrderType.MARKET,
                    quantity=quantity,
                )
            )
        template = services.rebalancing_rules.create(
            RebalancingSpec(
                client_id=client.id,
                account_id=account.id,
                name="Model 60/30/10",
                targets=tuple(Target(symbol=s, weight=w) for s, w in TARGETS.items()),
                trigger_mode=TriggerMode.DRIFT,
                drift_threshold=THRESHOLD,
            )
        ).rule
        assert services.rebalancing_rules.drift(template.id).drift == Decimal("10.00")
    finally:
        services.close()

    at = datetime.combine(AS_OF, dtime(12, 0), tzinfo=MARKET)
    engine = test_engine(url)
    try:
        with engine.begin() as c:
            t = tables.rebalancing_rules
            row = dict(c.execute(select(t).where(t.c.id == template.id)).one()._mapping)
            # The template rule is replaced by the seeded ones (ids in a known order); its account
            # stays, with no rule, and its three buy orders (no automation) are ignored below.
            c.execute(t.delete().where(t.c.id == template.id))
            positions = [
                dict(p._mapping)
                for p in c.execute(
                    select(tables.positions).where(tables.positions.c.account_id == account.id)
                )
            ]
            assert {p["symbol"]: p["quantity"] for p in positions} == OPENING
            client_ids = list(
                c.execute(
                    insert(tables.clients).returning(
                        tables.clients.c.id, sort_by_parameter_order=True
                    ),
                    [
                        {"name": f"Investor {i}", "email": None, "created_at": at}
                        for i in range(rules)
                    ],
                ).scalars()
            )
            account_ids = list(
                c.execute(
                    insert(tables.accounts).returning(
                        tables.accounts.c.id, sort_by_parameter_order=True
                    ),
                    [
                        {
                            "client_id": cid,
                            "currency": "USD",
                            "cash": ZERO,
                            "created_at": at,
                            "updated_at": at,
                        }
                        for cid in client_ids
                    ],
                ).scalars()
            )
            c.execute(
                insert(tables.positions),
                [{**p, "account_id": a} for a in account_ids for p in positions],
            )
            rule_rows = [
                {
                    **row,
                    "id": f"REBAL-{AS_OF:%Y%m%d}-{i:015d}",
                    "client_id": cid,
                    "account_id": aid,
                }
                for i, (cid, aid) in enumerate(zip(client_ids, account_ids, strict=True))
            ]
            c.execute(insert(t), rule_rows)
            c.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    return Seeded(
        rule_ids=tuple(sorted(r["id"] for r in rule_rows)),
        rule_account={r["id"]: r["account_id"] for r in rule_rows},
    )


# --- the database, read back -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class State:
    rules: dict[str, Any]
    logs: list[Any]  # rebalancing log rows
    orders: dict[str, Any]  # rebalancing orders, by id
    cash: dict[int, Decimal]
    held: dict[int, Decimal]
    positions: dict[tuple[int, str], Decimal]


def read_state(engine: Engine) -> State:
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as c, c.begin():
        rules = {r.id: r for r in c.execute(select(tables.rebalancing_rules))}
        logs_t = tables.automation_execution_logs
        logs = list(c.execute(select(logs_t).where(logs_t.c.automation_type == KIND)))
        o = tables.orders
        orders = {r.id: r for r in c.execute(select(o).where(o.c.automation_type == KIND))}
        accounts = list(c.execute(select(tables.accounts)))
        cash = {a.id: a.cash for a in accounts}
        held = {a.id: a.held for a in accounts}
        positions = {
            (p.account_id, p.symbol): p.quantity for p in c.execute(select(tables.positions))
        }
    return State(rules, logs, orders, cash, held, positions)


def check_consistent(state: State, seeded: Seeded) -> tuple[set[str], set[str]]:
    """Each rule is wholly rebalanced for AS_OF (one Success row, its three orders, the rule's
    state moved) or wholly untouched; each account's cash and positions follow from its orders.

    Returns (rebalanced rule ids, untouched rule ids).
    """
    assert set(state.rules) == set(seeded.rule_ids)
    logs_by_rule: dict[str, list[Any]] = defaultdict(list)
    for row in state.logs:
        logs_by_rule[row.automation_id].append(row)
    orders_by_rule: dict[str, list[Any]] = defaultdict(list)
    for o in state.orders.values():
        orders_by_rule[o.automation_id].append(o)
    unknown = (set(logs_by_rule) | set(orders_by_rule)) - set(seeded.rule_ids)
    assert not unknown, f"log rows or orders of rules never seeded: {sorted(unknown)[:5]}"

    problems: list[str] = []
    done: set[str] = set()
    untouched: set[str] = set()
    for rule_id in seeded.rule_ids:
        rule, logs, orders = state.rules[rule_id], logs_by_rule[rule_id], orders_by_rule[rule_id]
        account = seeded.rule_account[rule_id]
        if rule.status != "Active" or not rule.is_enabled or rule.next_check_date is not None:
            problems.append(f"{rule_id}: settings changed: {rule}")
        if not logs and not orders:
            if rule.last_executed_at is not None:
                problems.append(f"{rule_id}: no log row, no orders, but executed at {rule}")
            if (
                state.cash[account] != ZERO
                or state.held[account] != ZERO
                or any(state.positions.get((account, s)) != q for s, q in OPENING.items())
            ):
                problems.append(f"{rule_id}: untouched, but its account {account} moved")
            untouched.add(rule_id)
            continue
        statuses = [(r.execution_date, r.status) for r in logs]
        if statuses != [(AS_OF, "Success")]:
            problems.append(f"{rule_id}: log rows {statuses}, expected one Success for {AS_OF}")
            continue
        (entry,) = logs
        if sorted(entry.order_ids) != sorted(o.id for o in orders):
            problems.append(
                f"{rule_id}: log names orders {sorted(entry.order_ids)}, "
                f"orders table has {sorted(o.id for o in orders)}"
            )
        trades = Counter((o.side, o.symbol) for o in orders)
        if trades != Counter(TRADES.keys()) or any(
            o.account_id != account
            or o.quantity != TRADES[(o.side, o.symbol)]
            or o.order_type != "market"
            or o.reserved_amount != (o.quantity * PRICES[o.symbol] if o.side == "buy" else ZERO)
            for o in orders
        ):
            problems.append(
                f"{rule_id}: not exactly one set of trades: "
                f"{[(o.side, o.symbol, o.quantity, o.reserved_amount) for o in orders]}"
            )
        if rule.last_executed_at is None:
            problems.append(f"{rule_id}: rebalanced, but last_executed_at is not set")
        done.add(rule_id)
    assert not problems, f"{len(problems)} inconsistent rule(s):\n" + "\n".join(problems[:20])

    # Money: cash = 0 - the filled buys + the filled sells' proceeds; held = what the open buys
    # reserve; positions = the opening ones moved by the fills. Exact, in Decimal.
    expected_cash: dict[int, Decimal] = {seeded.rule_account[r]: ZERO for r in seeded.rule_ids}
    expected_held = dict(expected_cash)
    expected_positions = {(a, s): q for a in expected_cash for s, q in OPENING.items()}
    for o in state.orders.values():
        assert o.status in ("Pending", "Submitted", "Filled"), f"order {o.id} is {o.status}"
        sign = 1 if o.side == "buy" else -1
        if o.status == "Filled":
            expected_cash[o.account_id] -= sign * o.filled_amount
            expected_positions[(o.account_id, o.symbol)] += sign * o.filled_quantity
        else:
            expected_held[o.account_id] += o.reserved_amount
    wrong_cash = {
        a: (state.cash[a], c, state.held[a], expected_held[a])
        for a, c in expected_cash.items()
        if (state.cash[a], state.held[a]) != (c, expected_held[a])
    }
    assert not wrong_cash, (
        f"(cash, expected, held, expected) differs: {dict(list(wrong_cash.items())[:10])}"
    )
    wrong_positions = {
        k: (state.positions.get(k), q)
        for k, q in expected_positions.items()
        if state.positions.get(k) != q
    }
    assert not wrong_positions, f"positions differ: {dict(list(wrong_positions.items())[:10])}"
    return done, untouched


def check_all_rebalanced_once(state: State, seeded: Seeded) -> None:
    done, untouched = check_consistent(state, seeded)
    assert not untouched, f"{len(untouched)} rule(s) never rebalanced, e.g. {sorted(untouched)[:5]}"
    assert len(done) == len(seeded.rule_ids)
    assert len(state.logs) == len(seeded.rule_ids)
    assert len(state.orders) == len(TRADES) * len(seeded.rule_ids)
    not_filled = Counter(o.status for o in state.orders.values() if o.status != "Filled")
    assert not not_filled, f"orders not filled: {dict(not_filled)}"
    for o in state.orders.values():
        assert o.filled_price == PRICES[o.symbol] and o.filled_quantity == o.quantity, o
        assert o.filled_amount == o.quantity * PRICES[o.symbol], o
    for rule_id in seeded.rule_ids:
        account = seeded.rule_account[rule_id]
        held = {s: state.positions[(account, s)] for s in TARGETS}
        assert held == BALANCED and state.cash[account] == state.held[account] == ZERO, (
            rule_id,
            held,
        )
        values = {s: q * PRICES[s] for s, q in held.items()}
        total = sum(values.values(), state.cash[account])
        assert total == VALUE, (rule_id, total)  # a rebalance neither makes nor loses money
        drift = max(abs(v * 100 / total - TARGETS[s]) for s, v in values.items())
        assert drift < THRESHOLD, (rule_id, drift)


def check_second_pass_does_nothing(
    start: Callable[..., Worker], url: str, engine: Engine, before: State, seeded: Seeded
) -> None:
    """Drift every account again (VTI up 50%) and run again for the same date: the occurrence
    has its outcome, so nothing is rebalanced a second time."""
    services = _services(url)
    try:
        services.platform.record_prices([PriceTick(symbol="VTI", price=Decimal("150.00"))])
        assert services.rebalancing_rules.drift(seeded.rule_ids[0]).drift > THRESHOLD
    finally:
        services.close()
    payload = finish(start(url, batch_size=50))
    assert payload["counts"] == NOTHING_DONE, payload
    after = read_state(engine)
    assert after == before


def check_payloads(payloads: list[dict[str, Any]], expected: set[str]) -> set[str]:
    executed = [p["counts"]["executed"] for p in payloads]
    assert sum(executed) == len(expected), executed
    for p in payloads:
        assert p["counts"]["skipped"] == 0 and p["counts"]["failed"] == 0, p["counts"]
    reported = Counter(r["ruleId"] for p in payloads for r in p["executed"])
    twice = {r: n for r, n in reported.items() if n > 1}
    assert not twice, f"rules reported rebalanced by more than one worker: {twice}"
    assert set(reported) == expected
    return {o for p in payloads for r in p["executed"] for o in r["orderIds"]}


# --- 1. concurrent workers ---------------------------------------------------------------------


def test_concurrent_workers_rebalance_every_account_exactly_once(
    pg_url: str, workers: Callable[..., Worker]
) -> None:
    seeded = seed(pg_url, rules=400)
    engine = test_engine(pg_url)
    batch, n = 25, 4
    try:
        # A start line, as in the auto-invest test: the test holds every account row, so each
        # worker claims its first batch of rules (SKIP LOCKED: disjoint) and then waits for the
        # accounts in the drift check. Once all wait, they run side by side.
        with engine.connect() as gate:
            tx = gate.begin()
            gate.execute(text("SELECT id FROM accounts ORDER BY id FOR UPDATE"))
            started = [workers(pg_url, batch_size=batch) for _ in range(n)]

            def all_waiting() -> bool:
                with engine.connect() as c:
                    return other_backends(c, waiting_on_lock=True) >= n

            wait_for(what=f"{n} workers to claim a batch each", probe=all_waiting, alive=started)
            with engine.connect() as c:
                free = c.execute(
                    text(
                        "SELECT count(*) FROM "
                        "(SELECT id FROM rebalancing_rules FOR UPDATE SKIP LOCKED) AS free"
                    )
                ).scalar_one()
            claimed = len(seeded.rule_ids) - int(free)
            tx.rollback()
        assert claimed == n * batch  # disjoint batches held at once
        payloads = [finish(w) for w in started]
        assert all(p["counts"]["executed"] > 0 for p in payloads), [p["counts"] for p in payloads]
        reported_orders = check_payloads(payloads, set(seeded.rule_ids))

        state = read_state(engine)
        check_all_rebalanced_once(state, seeded)
        assert reported_orders == set(state.orders)
        check_second_pass_does_nothing(workers, pg_url, engine, state, seeded)
    finally:
        engine.dispose()


# --- 2. kill -9 in the middle of a pass --------------------------------------------------------


def test_kill_9_mid_pass_leaves_no_half_rebalanced_account_and_a_rerun_completes(
    pg_url: str, workers: Callable[..., Worker]
) -> None:
    seeded = seed(pg_url, rules=400)
    sentinel = seeded.rule_account[seeded.rule_ids[-1]]
    engine = test_engine(pg_url)
    try:
        kill_after_first_batch(engine, sentinel, lambda: workers(pg_url, batch_size=20))

        after_kill = read_state(engine)
        done, untouched = check_consistent(after_kill, seeded)
        assert done and untouched, (len(done), len(untouched))
        # Batches commit whole, in claim order: what ran is a prefix of the rules.
        assert sorted(done) == list(seeded.rule_ids[: len(done)])
        assert len(done) % 20 == 0, len(done)
        pending = {o.id for o in after_kill.orders.values() if o.status != "Filled"}

        # Two workers finish the pass (and the first resubmits what the kill left Pending).
        rerun = [workers(pg_url, batch_size=20) for _ in range(2)]
        payloads = [finish(w) for w in rerun]
        reported_orders = check_payloads(payloads, untouched)

        final = read_state(engine)
        check_all_rebalanced_once(final, seeded)
        assert all(final.orders[o].status == "Filled" for o in pending)
        for o in after_kill.orders.values():  # orders written before the kill are not redone
            assert final.orders[o.id].automation_id == o.automation_id
        assert reported_orders == set(final.orders) - set(after_kill.orders)
        check_second_pass_does_nothing(workers, pg_url, engine, final, seeded)
    finally:
        engine.dispose()
