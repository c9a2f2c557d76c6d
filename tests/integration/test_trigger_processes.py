"""Trigger orders fire exactly once with real processes against a real PostgreSQL.

Each process (`autopilot run-once`, `autopilot prices import`, `autopilot prices replay`) keeps its
own trigger index; what makes a trigger fire once is its claim, a conditional update in the
transaction that writes its order, cancels its OCO siblings and writes its log row. These tests
start several such processes at once, or kill one with SIGKILL while it fires, and then read the
database itself: every trigger is either wholly fired (Triggered, one order, one log row, its OCO
siblings Cancelled) or untouched (Active, no order, no log row), no OCO group fires twice, and
cash and positions add up.

The triggers are made through the services (an account per trigger group, each holding 10 AAA
bought at 100.00): even accounts get a bracket (a stop-loss `priceBelow` and a take-profit
`priceAbove 120.00` in one ocoGroup, both selling all), odd accounts a plain `priceBelow` sell.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from autopilot.bootstrap import build
from autopilot.config import load_settings
from autopilot.domain.orders import OrderType, Side
from autopilot.domain.triggers.order import OrderTemplate
from autopilot.services.orders import PlaceOrder
from autopilot.services.platform import PriceTick
from autopilot.services.ports import FixedClock
from autopilot.services.triggers.orders import ConditionSpec, TriggerSpec
from autopilot.storage import tables
from autopilot.storage.migrate import upgrade
from tests.support.processes import (
    AS_OF,
    MARKET,
    SETTINGS,
    Worker,
    other_backends,
    test_engine,
    wait_for_no_worker_backends,
)
from tests.support.services import NOTHING_DONE
from tests.support.waiting import wait_for

# `run-once` without --as-of, `prices import` and `prices replay` read the real clock.
pytestmark = [pytest.mark.postgres, pytest.mark.real_clock, pytest.mark.timeout(180)]

SYMBOL = "AAA"
OPENING = Decimal("100.00")
HELD = Decimal("10")
DEPOSIT = Decimal("2000.00")
TAKE_PROFIT = Decimal("120.00")
SELL_ALL = OrderTemplate(side=Side.SELL, sell_all=True)
SEEDED_AT = datetime.combine(AS_OF, dtime(12, 0), tzinfo=MARKET)


# --- seeding through the services --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trig:
    id: str
    account_id: int
    level: Decimal  # priceBelow level (stop-loss / plain sell); TAKE_PROFIT for a take-profit
    take_profit: bool
    group: str | None


@dataclass(frozen=True, slots=True)
class Seeded:
    triggers: dict[str, Trig]
    accounts: list[int]

    def fires_at(self, price: Decimal) -> set[str]:
        """The triggers a price at or below every previous one makes fire (stop-losses and
        plain sells at or above it; take-profits never, their stop-loss fires instead)."""
        return {t.id for t in self.triggers.values() if not t.take_profit and price <= t.level}


def seed(url: str, levels: Sequence[Decimal], *, sentinel: Decimal | None = None) -> Seeded:
    """Account i holds 10 AAA; even i gets a bracket (stop at levels[i]), odd i a plain
    priceBelow levels[i]. With `sentinel`, one more account gets a plain priceBelow at that level
    (the test can hold its row lock to stall whichever process fires it)."""
    upgrade(url)
    settings = load_settings(database_url=url, **{k.lower(): v for k, v in SETTINGS.items()})
    services = build(settings, clock=FixedClock(SEEDED_AT))
    triggers: dict[str, Trig] = {}
    accounts: list[int] = []
    all_levels = [*levels, *([sentinel] if sentinel is not None else [])]
    try:
        services.platform.record_prices([PriceTick(symbol=SYMBOL, price=OPENING)])
        for i, level in enumerate(all_levels):
            client = services.platform.create_client(f"Investor {i}", None)
            account = services.platform.open_account(client.id, "USD")
            services.platform.deposit(account.id, DEPOSIT)
            services.orders.place(
                PlaceOrder(
                    account_id=account.id,
                    symbol=SYMBOL,
                    side=Side.BUY,
                    order_type=OrderType.MARKET,
                    quantity=HELD,
                )
            )
            accounts.append(account.id)
            bracket = i % 2 == 0 and i < len(levels)
            group = f"bracket-{i}" if bracket else None
            legs = [("priceBelow", level, False)]
            if bracket:
                legs.append(("priceAbove", TAKE_PROFIT, True))
            records = services.trigger_orders.create(
                [
                    TriggerSpec(
                        client_id=client.id,
                        account_id=account.id,
                        symbol=SYMBOL,
                        condition=ConditionSpec(type=kind, level=lvl),
                        order=SELL_ALL,
                        oco_group=group,
                    )
                    for kind, lvl, _ in legs
                ]
            )
            for record, (_, lvl, take) in zip(records, legs, strict=True):
                triggers[record.trigger.id] = Trig(record.trigger.id, account.id, lvl, take, group)
    finally:
        services.close()
    return Seeded(triggers, accounts)


def store_price(url: str, price: Decimal, at: datetime) -> None:
    """Store a price without evaluating anything in this process (the workers must do it)."""
    engine = test_engine(url)
    try:
        with engine.begin() as c:
            c.execute(tables.prices.insert(), [{"symbol": SYMBOL, "price": price, "as_of": at}])
            c.execute(
                tables.securities.update()
                .where(tables.securities.c.symbol == SYMBOL)
                .values(last_price=price, last_price_at=at)
            )
    finally:
        engine.dispose()


# --- processes ---------------------------------------------------------------------------------


def done(worker: Worker, timeout: float = 90) -> None:
    try:
        worker.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        worker.proc.kill()
        worker.proc.wait()
        pytest.fail(f"process did not finish within {timeout}s\n{worker.describe()}")
    assert worker.proc.returncode == 0, worker.describe()


def run_once(worker: Worker) -> dict[str, Any]:
    done(worker)
    payload = worker.payload()
    assert payload["error"] is None, worker.describe()
    return payload


def csv_file(path: Path, rows: Sequence[tuple[Decimal, datetime | None]]) -> Path:
    lines = ["symbol,price,as_of"] + [
        f"{SYMBOL},{p},{'' if at is None else at.isoformat()}" for p, at in rows
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


# --- the database, read back -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class State:
    triggers: dict[str, Any]
    orders: dict[str, Any]
    logs: list[Any]
    cash: dict[int, Decimal]
    holds: dict[int, Decimal]
    positions: dict[tuple[int, str], Decimal]
    last_price: Decimal


def _balances(accounts: list[Any]) -> dict[str, dict[int, Decimal]]:
    return {"cash": {a.id: a.cash for a in accounts}, "holds": {a.id: a.held for a in accounts}}


def read_state(engine: Engine) -> State:
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as c, c.begin():
        return State(
            triggers={r.id: r for r in c.execute(select(tables.trigger_orders))},
            orders={o.id: o for o in c.execute(select(tables.orders))},
            logs=list(c.execute(select(tables.automation_execution_logs))),
            **_balances(list(c.execute(select(tables.accounts)))),
            positions={
                (p.account_id, p.symbol): p.quantity for p in c.execute(select(tables.positions))
            },
            last_price=c.execute(
                select(tables.securities.c.last_price).where(tables.securities.c.symbol == SYMBOL)
            ).scalar_one(),
        )


def check_consistent(state: State, seeded: Seeded) -> tuple[set[str], set[str]]:
    """Every trigger wholly fired or untouched, no group fired twice, the money adds up.

    Returns (fired trigger ids, untouched trigger ids).
    """
    assert set(state.triggers) == set(seeded.triggers)
    problems: list[str] = []
    trigger_orders: dict[str, list[Any]] = defaultdict(list)
    for o in state.orders.values():
        if o.automation_type == "TriggerOrder":
            trigger_orders[o.automation_id].append(o)
        else:
            assert o.automation_type is None and o.side == "buy", o  # the seeding buys
    logs: dict[str, list[Any]] = defaultdict(list)
    for row in state.logs:
        assert row.automation_type == "TriggerOrder", row
        logs[row.automation_id].append(row)
    unknown = (set(trigger_orders) | set(logs)) - set(seeded.triggers)
    assert not unknown, f"orders or log rows of unknown triggers: {sorted(unknown)[:5]}"

    groups: dict[str, list[str]] = defaultdict(list)
    for t in seeded.triggers.values():
        if t.group:
            groups[t.group].append(t.id)

    fired: set[str] = set()
    untouched: set[str] = set()
    for tid, seed_t in seeded.triggers.items():
        row, its_orders, its_logs = state.triggers[tid], trigger_orders[tid], logs[tid]
        siblings = [s for s in groups.get(seed_t.group or "", []) if s != tid]
        if row.status == "Triggered":
            fired.add(tid)
            if len(its_orders) != 1 or row.order_id != its_orders[0].id:
                problems.append(
                    f"{tid}: Triggered with orders {its_orders}, order_id {row.order_id}"
                )
            elif (its_orders[0].side, its_orders[0].quantity) != ("sell", HELD):
                problems.append(f"{tid}: unexpected order {its_orders[0]}")
            if [(g.status, list(g.order_ids)) for g in its_logs] != [("Success", [row.order_id])]:
                problems.append(f"{tid}: Triggered but its log rows are {its_logs}")
            if row.triggered_at is None or row.trigger_price is None:
                problems.append(f"{tid}: Triggered without triggered_at/trigger_price: {row}")
            elif row.trigger_price > seed_t.level and not seed_t.take_profit:
                problems.append(f"{tid}: fired at {row.trigger_price} above its level")
            if seed_t.take_profit:
                problems.append(f"{tid}: a take-profit fired though the price never rose")
            for s in siblings:
                if state.triggers[s].status != "Cancelled":
                    problems.append(
                        f"{tid}: fired, its OCO sibling {s} is {state.triggers[s].status}"
                    )
        elif row.status == "Active":
            untouched.add(tid)
            if its_orders or its_logs or row.triggered_at is not None or row.order_id:
                problems.append(f"{tid}: Active but has orders {its_orders} / logs {its_logs}")
        elif row.status == "Cancelled":
            if its_orders or its_logs or row.order_id:
                problems.append(f"{tid}: Cancelled but has orders {its_orders} / logs {its_logs}")
            if [state.triggers[s].status for s in siblings] != ["Triggered"]:
                problems.append(f"{tid}: Cancelled, but no OCO sibling fired")
        else:
            problems.append(f"{tid}: unexpected status {row.status} ({row.failure_reason})")
    for group, members in groups.items():
        n = sum(state.triggers[m].status == "Triggered" for m in members)
        if n > 1:
            problems.append(f"OCO group {group}: {n} legs fired")
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:20])

    # Money: cash = deposit - filled buys + filled sells; holds = what open buys reserve;
    # positions = filled buys - filled sells.
    cash = dict.fromkeys(seeded.accounts, DEPOSIT)
    holds = dict.fromkeys(seeded.accounts, Decimal("0.00"))
    held: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for o in state.orders.values():
        assert o.status in ("Pending", "Submitted", "Filled"), f"order {o.id} is {o.status}"
        sign = 1 if o.side == "buy" else -1
        if o.status == "Filled":
            cash[o.account_id] -= sign * o.filled_amount
            held[(o.account_id, o.symbol)] += sign * o.filled_quantity
        else:
            holds[o.account_id] += o.reserved_amount
    wrong = {
        a: (state.cash[a], c, state.holds[a], holds[a])
        for a, c in cash.items()
        if (state.cash[a], state.holds[a]) != (c, holds[a])
    }
    assert not wrong, f"(cash, expected, holds, expected) differs: {dict(list(wrong.items())[:10])}"
    actual = {k: q for k, q in state.positions.items() if q != 0}
    assert actual == {k: q for k, q in held.items() if q != 0}
    assert all(q >= 0 for q in state.positions.values()), "a position went short"
    return fired, untouched


def check_exactly(state: State, seeded: Seeded, expected: set[str]) -> None:
    fired, _ = check_consistent(state, seeded)
    assert fired == expected, (
        f"{len(fired - expected)} fired unexpectedly, {len(expected - fired)} did not fire"
    )
    not_filled = Counter(o.status for o in state.orders.values() if o.status != "Filled")
    assert not not_filled, f"orders not filled: {dict(not_filled)}"


# --- 1. concurrent processes evaluate the same price -------------------------------------------


def test_concurrent_passes_and_imports_fire_each_trigger_once_and_one_leg_per_bracket(
    pg_url: str, procs: Callable[..., Worker], tmp_path: Path
) -> None:
    # 200 accounts: 100 brackets (stop 90) and 100 plain sells, half at 95 (fire), half at 80.
    levels = [
        Decimal("90.00") if i % 2 == 0 else Decimal("95.00") if i % 4 == 1 else Decimal("80.00")
        for i in range(200)
    ]
    seeded = seed(pg_url, levels)
    assert len(seeded.triggers) == 300
    price = Decimal("89.00")
    expected = seeded.fires_at(price)
    assert len(expected) == 150
    store_price(pg_url, price, SEEDED_AT + timedelta(hours=1))
    prices = csv_file(tmp_path / "prices.csv", [(price, None)])

    engine = test_engine(pg_url)
    try:
        # A start line: the test holds every account row, so each process evaluates, locks the
        # fired triggers (or queues for them) and waits. Then all four go at once.
        with engine.connect() as gate:
            tx = gate.begin()
            gate.execute(text("SELECT id FROM accounts ORDER BY id FOR UPDATE"))
            passes = [procs(pg_url, "run-once", "--json") for _ in range(2)]
            imports = [procs(pg_url, "prices", "import", str(prices)) for _ in range(2)]
            started = passes + imports

            def all_waiting() -> bool:
                with engine.connect() as c:
                    return other_backends(c, waiting_on_lock=True) >= len(started)

            wait_for(
                what="all processes to queue on the fired rows", probe=all_waiting, alive=started
            )
            tx.rollback()
        payloads = [run_once(w) for w in passes]
        for w in imports:
            done(w)
            assert "imported 1 price(s)" in w.stdout(), w.describe()

        reported = Counter(r["ruleId"] for p in payloads for r in p["executed"])
        twice = {r: n for r, n in reported.items() if n > 1}
        assert not twice, f"triggers reported fired by both passes: {twice}"
        assert set(reported) <= expected
        for p in payloads:
            assert p["counts"]["failed"] == 0, p["counts"]

        state = read_state(engine)
        check_exactly(state, seeded, expected)
        assert state.last_price == price
        for tid in expected:
            assert state.triggers[tid].trigger_price == price
        for o in state.orders.values():
            if o.side == "sell":
                assert o.filled_quantity == HELD and o.filled_price == price
        takes = [t.id for t in seeded.triggers.values() if t.take_profit]
        assert {state.triggers[t].status for t in takes} == {"Cancelled"}
        assert sum(state.cash.values()) == len(seeded.accounts) * (DEPOSIT - 1000) + 150 * 890

        # A further pass finds nothing to fire and writes nothing.
        again = run_once(procs(pg_url, "run-once", "--json"))
        assert again["counts"] == NOTHING_DONE, again
        after = read_state(engine)
        assert after.orders.keys() == state.orders.keys() and len(after.logs) == len(state.logs)
        assert (after.cash, after.holds) == (state.cash, state.holds)
        assert after.triggers == state.triggers
    finally:
        engine.dispose()


# --- 2. SIGKILL while firing ------------------------------------------------------------------


def test_a_replay_killed_mid_way_leaves_each_trigger_whole_and_a_rerun_fires_the_rest_once(
    pg_url: str, procs: Callable[..., Worker], tmp_path: Path
) -> None:
    # Stops spread over 60..99, so each tick of a replay falling 99 -> 60 fires a few and commits.
    levels = [Decimal(60 + (i * 7) % 40).quantize(Decimal("0.01")) for i in range(160)]
    stall = Decimal("70.00")
    seeded = seed(pg_url, levels, sentinel=stall)
    sentinel_account = seeded.accounts[-1]
    start = datetime.combine(AS_OF + timedelta(days=1), dtime(10, 0), tzinfo=MARKET)
    ticks = [
        (Decimal(p).quantize(Decimal("0.01")), start + timedelta(minutes=k))
        for k, p in enumerate(range(99, 59, -1))
    ]
    replay = csv_file(tmp_path / "replay.csv", ticks)

    engine = test_engine(pg_url)
    try:
        # The test holds the sentinel account's row: the replay fires every tick down to 71 and
        # commits each, then stalls inside the transaction of tick 70, where it is killed.
        with engine.connect() as guard:
            tx = guard.begin()
            guard.execute(
                text("SELECT id FROM accounts WHERE id = :a FOR UPDATE"), {"a": sentinel_account}
            )
            worker = procs(pg_url, "prices", "replay", str(replay))

            def stalled() -> bool:
                with engine.connect() as c:
                    return other_backends(c, waiting_on_lock=True) >= 1

            wait_for(
                what="the replay to stall on the sentinel account", probe=stalled, alive=[worker]
            )
            os.kill(worker.proc.pid, signal.SIGKILL)
            worker.proc.wait(timeout=30)
            assert worker.proc.returncode == -signal.SIGKILL
            tx.rollback()
        wait_for_no_worker_backends(engine)

        after_kill = read_state(engine)
        assert after_kill.last_price == stall  # tick 70 was stored; its firing rolled back
        fired, untouched = check_consistent(after_kill, seeded)
        before_stall = {
            t.id for t in seeded.triggers.values() if not t.take_profit and t.level > stall
        }
        assert fired == before_stall
        assert fired and untouched

        # A pass against the latest stored price (70) fires what tick 70 should have, once.
        at_stall = seeded.fires_at(stall) - fired
        payload = run_once(procs(pg_url, "run-once", "--json"))
        assert payload["counts"]["executed"] == len(at_stall), payload["counts"]
        assert {r["ruleId"] for r in payload["executed"]} == at_stall
        check_exactly(read_state(engine), seeded, seeded.fires_at(stall))

        # Then two imports of a lower price at once fire the rest, once.
        low = csv_file(tmp_path / "low.csv", [(Decimal("45.00"), None)])
        for w in [procs(pg_url, "prices", "import", str(low)) for _ in range(2)]:
            done(w)
        final = read_state(engine)
        check_exactly(final, seeded, seeded.fires_at(Decimal("45.00")))
        assert len(seeded.fires_at(Decimal("45.00"))) == len(levels) // 2 + len(levels) // 2 + 1
        for o in after_kill.orders.values():  # orders written before the kill are not redone
            assert final.orders[o.id].automation_id == o.automation_id

        again = run_once(procs(pg_url, "run-once", "--json"))
        assert again["counts"] == NOTHING_DONE, again
    finally:
        engine.dispose()
