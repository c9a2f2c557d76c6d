"""The auto-invest benchmarks' workload: the same due rules for `auto_invest.py` (Autopilot's
pass) and `auto_invest_ceiling.py` (PostgreSQL alone), seeded set-based."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select

from autopilot.bootstrap import Services
from autopilot.domain.auto_invest.rule import Allocation, AutoInvestRule
from autopilot.domain.schedule import Frequency, Schedule
from autopilot.storage.tables import accounts, clients

TODAY = date(2025, 6, 16)  # a Monday and a NYSE trading day: every seeded rule is due on it
RULES_PER_CLIENT = 10
SEED_CHUNK = 10_000
PRICES = {
    "VTI": Decimal("287.41"),
    "VXUS": Decimal("63.18"),
    "BND": Decimal("72.55"),
    "QQQ": Decimal("529.92"),
    "SPY": Decimal("602.04"),
    "GLD": Decimal("311.27"),
}
SYMBOLS = tuple(PRICES)
MIXES = (
    (Decimal(60), Decimal(40)),
    (Decimal(50), Decimal(30), Decimal(20)),
    (Decimal(34), Decimal(33), Decimal(33)),
)
SCHEDULES = (
    Schedule(frequency=Frequency.MONTHLY, start_date=date(2025, 1, 16), day_of_month=16),
    Schedule(frequency=Frequency.WEEKLY, start_date=date(2025, 1, 6), day_of_week=0),
    Schedule(frequency=Frequency.DAILY, start_date=date(2025, 1, 2)),
)

# -- seeding -------------------------------------------------------------------------------------


DAILY = (Schedule(frequency=Frequency.DAILY, start_date=date(2025, 1, 2)),)


def _rule(
    number: int,
    client_id: int,
    tag: str,
    due: date = TODAY,
    schedules: tuple[Schedule, ...] = SCHEDULES,
) -> AutoInvestRule:
    weights = MIXES[number % len(MIXES)]
    symbols = [SYMBOLS[(number + i) % len(SYMBOLS)] for i in range(len(weights))]
    return AutoInvestRule(
        id=f"AUTO-{tag}-{number:09d}",
        client_id=client_id,
        account_id=client_id,  # one account per client, same id
        name=f"bench rule {number}",
        amount=Decimal(100 + 25 * (number % 17)),
        allocations=tuple(
            Allocation(symbol=s, weight=w) for s, w in zip(symbols, weights, strict=True)
        ),
        schedule=schedules[number % len(schedules)],
        next_execution_date=due,
    )


def seed(
    services: Services,
    count: int,
    tag: str,
    due: date = TODAY,
    schedules: tuple[Schedule, ...] = SCHEDULES,
) -> list[str]:
    """Insert `count` rules due on `due` (and their clients and accounts) set-based, in
    chunks; on another day than TODAY (a Monday the 16th) give schedules that fall on it."""
    now = datetime.now(UTC)
    with services.uow() as uow:
        uow.market.record_prices([(s, p, now) for s, p in PRICES.items()])
        first = uow.connection.execute(select(func.coalesce(func.max(clients.c.id), 0))).scalar()
    first_client = int(first or 0) + 1
    ids: list[str] = []
    for start in range(0, count, SEED_CHUNK):
        numbers = range(start, min(count, start + SEED_CHUNK))
        owners = sorted({first_client + n // RULES_PER_CLIENT for n in numbers})
        rules = [
            _rule(n, first_client + n // RULES_PER_CLIENT, tag, due, schedules) for n in numbers
        ]
        with services.uow() as uow:
            c = uow.connection
            c.execute(insert(clients), [_client_row(i, now) for i in owners])
            c.execute(insert(accounts), [_account_row(i, now) for i in owners])
            uow.auto_invest.add_many(rules, now)
        ids.extend(r.id for r in rules)
    return ids


def _client_row(client_id: int, now: datetime) -> dict[str, Any]:
    return {"id": client_id, "name": f"Client {client_id}", "email": None, "created_at": now}


def _account_row(account_id: int, now: datetime) -> dict[str, Any]:
    # Ample cash: no rule is skipped for want of it.
    return {
        "id": account_id,
        "client_id": account_id,
        "currency": "USD",
        "cash": Decimal("1000000.00"),
        "created_at": now,
        "updated_at": now,
    }
