"""The trigger orders of the chaos run (bench/chaos.py): seeded, a stream of prices, checked.

T trigger orders on S symbols (default 2,000 on 50), in groups of one account each holding 10
shares of the symbol: brackets (a stop-loss below and a take-profit above, one OCO group, each
selling all) and single stop-losses or take-profits, levels 2–12% from the opening 100.00. A
thread posts prices through ``PlatformService.record_prices`` (what an API process runs: with
live workers it stores and NOTIFYs, and the workers evaluate) every ``every_s``: a random walk
of a few symbols each time, to the cent. A post that fails (PostgreSQL is down) is dropped.

The check reads the truth from the database: the prices stored (a post that failed may have
committed), hence each symbol's lowest and highest price; a group whose level was crossed by a
stored price must have exactly one leg Triggered, with one order and one log row, its OCO
sibling Cancelled; a group never crossed is untouched.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, insert, select

from autopilot.bootstrap import Services, build
from autopilot.config import load_settings
from autopilot.domain.orders import Side
from autopilot.domain.triggers.conditions import Condition, PriceAbove, PriceBelow, Trigger
from autopilot.domain.triggers.order import OrderTemplate
from autopilot.services.platform import PriceTick
from autopilot.services.records import TriggerOrderRecord
from autopilot.storage.tables import (
    accounts,
    automation_execution_logs,
    clients,
    orders,
    positions,
    prices,
    trigger_orders,
)
from autopilot.storage.trigger_repo import TriggerOrders

OPENING_CENTS = 10_000
HELD = Decimal("10.000000")
BRACKET_SHARE = 0.6  # of the groups; the rest are single stop-losses or take-profits
TICKS_PER_POST = 5


def symbol_of(n: int) -> str:
    return f"CT{n:02d}"


@dataclass(frozen=True, slots=True)
class Leg:
    id: str
    below: bool  # priceBelow (a stop-loss); else priceAbove (a take-profit)
    level: Decimal


@dataclass(frozen=True, slots=True)
class Group:
    symbol: str
    legs: tuple[Leg, ...]

    def crossed(self, low: Decimal, high: Decimal) -> set[str]:
        return {
            leg.id for leg in self.legs if (low <= leg.level if leg.below else high >= leg.level)
        }


def _cents(value: float) -> Decimal:
    return Decimal(round(value)).scaleb(-2)


def seed(services: Services, count: int, symbols: int) -> list[Group]:
    """Prices at 100.00, then the groups' clients, accounts, positions and triggers."""
    rng = random.Random(20261203)
    now = datetime.now(UTC)
    names = [symbol_of(n) for n in range(symbols)]
    services.platform.record_prices([PriceTick(symbol=s, price=Decimal("100.00")) for s in names])
    with services.uow() as uow:
        first = int(
            uow.connection.execute(select(func.coalesce(func.max(clients.c.id), 0))).scalar() or 0
        )
    groups: list[Group] = []
    made = 0
    while made < count:
        symbol = names[len(groups) % symbols]
        below = _cents(OPENING_CENTS * (1 - rng.uniform(0.02, 0.12)))
        above = _cents(OPENING_CENTS * (1 + rng.uniform(0.02, 0.12)))
        n = len(groups)
        if count - made >= 2 and rng.random() < BRACKET_SHARE:
            legs = (
                Leg(f"TRIG-CHAOS-{n:05d}-S", True, below),
                Leg(f"TRIG-CHAOS-{n:05d}-T", False, above),
            )
        elif rng.random() < 0.5:
            legs = (Leg(f"TRIG-CHAOS-{n:05d}-S", True, below),)
        else:
            legs = (Leg(f"TRIG-CHAOS-{n:05d}-T", False, above),)
        groups.append(Group(symbol, legs))
        made += len(legs)
    with services.uow() as uow:
        c = uow.connection
        ids = [first + 1 + n for n in range(len(groups))]
        c.execute(
            insert(clients),
            [{"id": i, "name": f"Trader {i}", "email": None, "created_at": now} for i in ids],
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
                for i in ids
            ],
        )
        c.execute(
            insert(positions),
            [
                {
                    "account_id": i,
                    "symbol": g.symbol,
                    "quantity": HELD,
                    "cost_basis": Decimal("1000.00"),
                    "updated_at": now,
                }
                for i, g in zip(ids, groups, strict=True)
            ],
        )
        TriggerOrders(c).add_many(
            [_record(leg, i, g, now) for i, g in zip(ids, groups, strict=True) for leg in g.legs]
        )
    return groups


def _record(leg: Leg, owner: int, group: Group, now: datetime) -> TriggerOrderRecord:
    condition: Condition = PriceBelow(level=leg.level) if leg.below else PriceAbove(level=leg.level)
    return TriggerOrderRecord(
        trigger=Trigger(
            id=leg.id,
            account_id=owner,
            symbol=group.symbol,
            condition=condition,
            oco_group=f"chaos-{owner}" if len(group.legs) > 1 else None,
        ),
        client_id=owner,
        order=OrderTemplate(side=Side.SELL, sell_all=True),
        created_at=now,
        updated_at=now,
    )


@dataclass
class PriceStream:
    """Posts a random walk of prices every ``every_s`` until stopped, through the services of
    this process (what an API process runs), so it stores and NOTIFYs as a server would."""

    url: str
    symbols: int
    every_s: float
    lease_s: float
    posted: int = 0
    failed: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="prices", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._stop.is_set()

    def _run(self) -> None:
        rng = random.Random(7)
        walk = [OPENING_CENTS] * self.symbols
        # The services log an outage's failed evaluations; the check reads the outcome instead.
        logging.getLogger("autopilot").setLevel(logging.CRITICAL)
        settings = load_settings(database_url=self.url, automation_worker_lease=self.lease_s)
        services = build(settings)
        try:
            while not self._stop.wait(self.every_s):
                ticks = []
                for n in rng.sample(range(self.symbols), min(TICKS_PER_POST, self.symbols)):
                    walk[n] = max(100, walk[n] + rng.randint(-250, 250))
                    ticks.append(PriceTick(symbol=symbol_of(n), price=Decimal(walk[n]).scaleb(-2)))
                try:
                    services.platform.record_prices(ticks)
                    self.posted += 1
                except Exception:  # PostgreSQL is down: the post is dropped, as a client's would
                    self.failed += 1
        finally:
            services.close()


def check(engine: Engine, groups: list[Group]) -> dict[str, Any]:
    """The counts (expected, executed, duplicates, lost) and the problems found."""
    t, lg, o = trigger_orders, automation_execution_logs, orders
    with engine.connect() as c:
        ranges = {
            r.symbol: (r.low, r.high)
            for r in c.execute(
                select(
                    prices.c.symbol,
                    func.min(prices.c.price).label("low"),
                    func.max(prices.c.price).label("high"),
                )
                .where(prices.c.symbol.like("CT%"))
                .group_by(prices.c.symbol)
            )
        }
        status = dict(
            c.execute(select(t.c.id, t.c.status).where(t.c.id.like("TRIG-CHAOS-%"))).all()
        )
        logs = dict(
            c.execute(
                select(lg.c.automation_id, func.count())
                .where(lg.c.automation_id.like("TRIG-CHAOS-%"))
                .group_by(lg.c.automation_id)
            ).all()
        )
        placed = dict(
            c.execute(
                select(o.c.automation_id, func.count())
                .where(o.c.automation_id.like("TRIG-CHAOS-%"))
                .group_by(o.c.automation_id)
            ).all()
        )
        stored = int(
            c.execute(
                select(func.count()).select_from(prices).where(prices.c.symbol.like("CT%"))
            ).scalar_one()
        )
    counts = {"expected": 0, "executed": 0, "duplicates": 0, "lost": 0}
    problems: list[str] = []
    for g in groups:
        low, high = ranges.get(g.symbol, (Decimal("100"), Decimal("100")))
        crossed = g.crossed(low, high)
        fired = [leg.id for leg in g.legs if status.get(leg.id) == "Triggered"]
        twice = [
            i for i in (leg.id for leg in g.legs) if logs.get(i, 0) > 1 or placed.get(i, 0) > 1
        ]
        if crossed:
            counts["expected"] += 1
        if len(fired) > 1 or twice:
            counts["duplicates"] += 1
            problems.append(f"{g.legs[0].id}…: fired {fired}, more than once {twice}")
            continue
        if not fired:
            if crossed:
                counts["lost"] += 1
                problems.append(f"{g.symbol} {[leg.id for leg in g.legs]}: crossed, not fired")
            elif any(status.get(leg.id) != "Active" for leg in g.legs):
                problems.append(
                    f"{g.legs[0].id}…: never crossed but {[status.get(leg.id) for leg in g.legs]}"
                )
            continue
        leg_id = fired[0]
        counts["executed"] += 1
        if leg_id not in crossed:
            problems.append(f"{leg_id}: fired though its level was never crossed")
        if logs.get(leg_id) != 1 or placed.get(leg_id) != 1:
            problems.append(
                f"{leg_id}: {logs.get(leg_id, 0)} log rows, {placed.get(leg_id, 0)} orders"
            )
        for leg in g.legs:
            if leg.id != leg_id and status.get(leg.id) != "Cancelled":
                problems.append(f"{leg.id}: its OCO sibling fired, it is {status.get(leg.id)}")
    return {
        **{f"trigger_{k}": v for k, v in counts.items()},
        "triggers": sum(len(g.legs) for g in groups),
        "trigger_groups": len(groups),
        "prices_stored": stored,
        "trigger_problems": problems[:20],
    }
