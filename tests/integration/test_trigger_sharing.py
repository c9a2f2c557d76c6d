"""Trigger orders divided among `autopilot worker` processes by symbol, against a real PostgreSQL
(issue 10, point 3; DESIGN §1, §5).

Each symbol has one account holding 10 shares and a bracket on them (a stop-loss at 90.00 and a
take-profit at 120.00 in one OCO group, both selling all). Prices are posted through the
services of the test process, exactly as an API process posts them: with live workers on the
database it stores them and sends a NOTIFY, and the workers evaluate them. The tests read the
database afterwards: which worker fired each trigger (its log row's ``triggeredBy``), once.

The workers run as of AS_OF (the hidden ``--as-of``), so nothing here depends on today's date.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from datetime import time as dtime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select, text

from autopilot.bootstrap import Services, build
from autopilot.config import load_settings
from autopilot.domain.orders import OrderType, Side
from autopilot.domain.triggers.order import OrderTemplate
from autopilot.domain.triggers.ownership import owner
from autopilot.services.orders import PlaceOrder
from autopilot.services.platform import PriceTick
from autopilot.services.ports import FixedClock
from autopilot.services.triggers.orders import ConditionSpec, TriggerSpec
from autopilot.storage import tables
from autopilot.storage.migrate import upgrade
from tests.support.processes import AS_OF, MARKET, SETTINGS, Processes, Worker, test_engine
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(240)]

HOUR_MS = str(3_600_000)
LEASE_S = "3"
SYMBOLS = [f"S{n:02d}" for n in range(12)]
SELL_ALL = OrderTemplate(side=Side.SELL, sell_all=True)
AT = datetime.combine(AS_OF, dtime(12, 0), tzinfo=MARKET)


@dataclass(frozen=True, slots=True)
class Brackets:
    stops: dict[str, str]  # symbol -> the stop-loss's id
    takes: dict[str, str]  # symbol -> the take-profit's id


@pytest.fixture
def platform(pg_url: str) -> Iterator[Services]:
    """The test's own services on the database (what an API process runs), migrated."""
    upgrade(pg_url)
    settings = {k.lower(): v for k, v in SETTINGS.items()}
    services = build(
        load_settings(database_url=pg_url, automation_worker_lease=float(LEASE_S), **settings),
        clock=FixedClock(AT),
    )
    yield services
    services.close()


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    made = test_engine(pg_url)
    yield made
    made.dispose()


@pytest.fixture
def start_worker(procs: Processes, pg_url: str) -> Callable[[str], Worker]:
    def start(worker_id: str) -> Worker:
        return procs(
            pg_url,
            "worker",
            "--id",
            worker_id,
            "--as-of",
            AS_OF.isoformat(),
            AUTOMATION_CHECK_INTERVAL=HOUR_MS,  # the first pass only: the lane does the work
            AUTOMATION_WORKER_LEASE=LEASE_S,
        )

    return start


def seed(services: Services, symbols: list[str] = SYMBOLS) -> Brackets:
    services.platform.record_prices([PriceTick(symbol=s, price=Decimal("100.00")) for s in symbols])
    stops, takes = {}, {}
    for symbol in symbols:
        client = services.platform.create_client(f"Holder of {symbol}", None)
        account = services.platform.open_account(client.id, "USD")
        services.platform.deposit(account.id, Decimal("2000.00"))
        services.orders.place(
            PlaceOrder(
                account_id=account.id,
                symbol=symbol,
                side=Side.BUY,
                order_type=OrderType.MARKET,
                quantity=Decimal("10"),
            )
        )
        stop, take = services.trigger_orders.create(
            [
                TriggerSpec(
                    client_id=client.id,
                    account_id=account.id,
                    symbol=symbol,
                    condition=ConditionSpec(type=kind, level=Decimal(level)),
                    order=SELL_ALL,
                    oco_group=f"bracket-{symbol}",
                )
                for kind, level in (("priceBelow", "90.00"), ("priceAbove", "120.00"))
            ]
        )
        stops[symbol], takes[symbol] = stop.trigger.id, take.trigger.id
    return Brackets(stops, takes)


def post(services: Services, price: str, symbols: list[str] = SYMBOLS) -> None:
    services.platform.record_prices([PriceTick(symbol=s, price=Decimal(price)) for s in symbols])


def sees(worker: Worker, *workers: str) -> bool:
    """Whether the worker's latest view of the live workers is exactly ``workers``."""
    views = [ln for ln in worker.stderr().splitlines() if "evaluates the triggers of" in ln]
    return bool(views) and views[-1].endswith(f"(live workers: {', '.join(workers)})")


@dataclass(frozen=True, slots=True)
class Fired:
    status: dict[str, str]  # trigger id -> status
    by: dict[str, list[str]]  # trigger id -> triggeredBy of each of its log rows
    orders: dict[str, int]  # trigger id -> its orders
    price: dict[str, Decimal | None]


def read(engine: Engine) -> Fired:
    t, lg, o = tables.trigger_orders, tables.automation_execution_logs, tables.orders
    with engine.connect() as c:
        rows = list(c.execute(select(t.c.id, t.c.status, t.c.trigger_price)))
        logs = list(c.execute(select(lg.c.automation_id, lg.c.triggered_by)))
        orders = list(c.execute(select(o.c.automation_id).where(o.c.automation_id.is_not(None))))
    by: dict[str, list[str]] = {}
    for log in logs:
        by.setdefault(log.automation_id, []).append(log.triggered_by)
    counts: dict[str, int] = {}
    for order in orders:
        counts[order.automation_id] = counts.get(order.automation_id, 0) + 1
    return Fired(
        status={r.id: r.status for r in rows},
        by=by,
        orders=counts,
        price={r.id: r.trigger_price for r in rows},
    )


def all_stops_fired(engine: Engine, brackets: Brackets) -> Fired | None:
    state = read(engine)
    done = all(state.status[i] == "Triggered" for i in brackets.stops.values())
    return state if done else None


def check_fired_once(state: Fired, brackets: Brackets, symbols: list[str] = SYMBOLS) -> None:
    for symbol in symbols:
        stop, take = brackets.stops[symbol], brackets.takes[symbol]
        assert state.status[stop] == "Triggered", (symbol, state.status[stop])
        assert len(state.by[stop]) == 1 and state.orders.get(stop) == 1, (symbol, state)
        assert state.status[take] == "Cancelled" and take not in state.by, (symbol, state)
        assert take not in state.orders


def test_two_workers_split_the_symbols_each_symbol_fired_by_its_one_owner(
    platform: Services, engine: Engine, start_worker: Callable[[str], Worker]
) -> None:
    brackets = seed(platform)
    w1, w2 = start_worker("w1"), start_worker("w2")
    wait_for(
        lambda: sees(w1, "w1", "w2") and sees(w2, "w1", "w2"),
        what="both workers to see each other",
        alive=[w1, w2],
    )
    wait_for(platform.routing.workers_evaluate, what="the platform to see the workers")
    post(platform, "85.00")
    state = wait_for(
        lambda: all_stops_fired(engine, brackets), what="every stop-loss to fire", alive=[w1, w2]
    )
    check_fired_once(state, brackets)
    owners = {s: owner(s, ["w1", "w2"]) for s in SYMBOLS}
    assert {s: state.by[brackets.stops[s]][0] for s in SYMBOLS} == owners
    assert set(owners.values()) == {"w1", "w2"}  # both own some; every symbol fired by its owner


def test_a_killed_workers_symbols_move_to_the_survivor_and_a_price_posted_meanwhile_fires(
    platform: Services, engine: Engine, start_worker: Callable[[str], Worker]
) -> None:
    brackets = seed(platform)
    w1, w2 = start_worker("w1"), start_worker("w2")
    wait_for(
        lambda: sees(w1, "w1", "w2") and sees(w2, "w1", "w2"),
        what="both workers to see each other",
        alive=[w1, w2],
    )
    wait_for(platform.routing.workers_evaluate, what="the platform to see the workers")
    os.kill(w2.proc.pid, signal.SIGKILL)
    w2.proc.wait(timeout=30)
    # A dip through every stop and back, while w2 is dead but its lease has not run out: its
    # symbols have no owner now, and their latest price (100) crosses nothing.
    post(platform, "85.00")
    post(platform, "100.00")
    with engine.connect() as c:
        age = c.execute(
            text("SELECT extract(epoch FROM now() - heartbeat_at) FROM workers WHERE id = 'w2'")
        ).scalar_one()
    assert float(age) < float(LEASE_S), "the dip was posted after w2's lease had run out"

    state = wait_for(
        lambda: all_stops_fired(engine, brackets),
        what="the survivor to take w2's symbols over and fire their stops",
        alive=[w1],
    )
    check_fired_once(state, brackets)
    assert {state.by[brackets.stops[s]][0] for s in SYMBOLS} == {"w1"}
    assert {state.price[brackets.stops[s]] for s in SYMBOLS} == {Decimal("85.00")}
    moved = [s for s in SYMBOLS if owner(s, ["w1", "w2"]) == "w2"]
    assert moved
    wait_for(  # logged once the round that fired them is done
        lambda: f"Worker w1 took {len(moved)} symbol(s) over" in w1.stderr(),
        what="w1 to log the takeover",
        alive=[w1],
    )
    assert sees(w1, "w1")


def test_a_lost_notify_and_a_dropped_listen_connection_still_fire_through_the_poll(
    platform: Services, engine: Engine, start_worker: Callable[[str], Worker]
) -> None:
    brackets = seed(platform)
    w1 = start_worker("w1")
    wait_for(lambda: sees(w1, "w1"), what="the worker to start evaluating", alive=[w1])

    def end_listen() -> bool:
        with engine.connect() as c:
            ended = c.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = 'autopilot-worker w1' AND query LIKE 'LISTEN%'"
                )
            ).scalar_one()
        return bool(ended)

    wait_for(end_listen, what="the worker's LISTEN connection, to end it", alive=[w1])
    # Stored behind the API's back: no NOTIFY at all, and nobody listening anyway.
    with engine.begin() as c:
        c.execute(
            tables.prices.insert(), [{"symbol": "S00", "price": Decimal("85.00"), "as_of": AT}]
        )
    state = wait_for(
        lambda: (s := read(engine)).status[brackets.stops["S00"]] == "Triggered" and s,
        what="the poll to find the price and fire",
        alive=[w1],
    )
    assert state.by[brackets.stops["S00"]] == ["w1"]
    wait_for(
        lambda: "Listening for prices again" in w1.stderr(),
        what="the worker to listen again",
        alive=[w1],
    )
    assert "LISTEN for prices failed" in w1.stderr()
    wait_for(platform.routing.workers_evaluate, what="the platform to see the worker")
    post(platform, "85.00", ["S01"])  # with a NOTIFY, heard again
    state = wait_for(
        lambda: (s := read(engine)).status[brackets.stops["S01"]] == "Triggered" and s,
        what="the stop of S01 to fire",
        alive=[w1],
    )
    check_fired_once(state, brackets, ["S00", "S01"])


def test_two_workers_that_both_evaluate_a_symbol_fire_its_trigger_once(
    platform: Services, engine: Engine, start_worker: Callable[[str], Worker]
) -> None:
    """w1 alone owns every symbol and is firing S's stop-loss, held at the account's row lock by
    the test, when w2 starts and takes S (its owner of the two): w2 evaluates S's price from its
    floor, and both queue to fire the same trigger. Only the conditional update of the trigger's
    row decides, and it decides once."""
    brackets = seed(platform)
    symbol = next(s for s in SYMBOLS if owner(s, ["w1", "w2"]) == "w2")
    w1 = start_worker("w1")
    wait_for(lambda: sees(w1, "w1"), what="w1 to start evaluating", alive=[w1])
    # This process leaves its prices to the workers once it has seen one alive (it looks at
    # most once a second): until then it would evaluate the dip itself, and wait on the lock.
    wait_for(platform.routing.workers_evaluate, what="the platform to see w1", alive=[w1])

    def waiting(n: int) -> bool:
        with engine.connect() as c:
            return bool(
                c.execute(
                    text(
                        "SELECT count(*) >= :n FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    ),
                    {"n": n},
                ).scalar_one()
            )

    with engine.connect() as gate:
        tx = gate.begin()
        gate.execute(text("SELECT id FROM accounts ORDER BY id FOR UPDATE"))
        post(platform, "85.00", [symbol])
        wait_for(lambda: waiting(1), what="w1 to queue to fire", alive=[w1])
        w2 = start_worker("w2")
        wait_for(lambda: waiting(2), what="w2 to queue to fire the same trigger", alive=[w1, w2])
        tx.rollback()

    state = wait_for(
        lambda: all_stops_fired(engine, Brackets({symbol: brackets.stops[symbol]}, {})),
        what="the stop to fire",
        alive=[w1, w2],
    )
    wait_for(lambda: not waiting(1), what="both workers to be through", alive=[w1, w2])
    check_fired_once(read(engine), brackets, [symbol])
    assert state.by[brackets.stops[symbol]] == ["w1"]  # the first in the queue
    assert all(state.status[brackets.stops[s]] == "Active" for s in SYMBOLS if s != symbol)
