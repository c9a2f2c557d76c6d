"""The rebalancing pass on a database, against the naive per-account loop (issue 9, point 4).

Seeds N drifted accounts (10 holdings over a few model portfolios, as `rebalancing.py` builds
them), each with a drift-triggered rebalancing rule, and times the pass the scheduler runs
(`Runner.run_due` of the rebalancing automation: claims, the set-based drift check, the plans,
orders written `Pending` with their cash held, rule state and log rows) to its commit. The naive
loop, in the same run, takes one account per transaction on a raw psycopg cursor: lock the rule
and the account, read the holdings and prices, check the drift, plan with the same domain
planner, insert the orders and the log row, hold the cash, update the rule, commit.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb
from sqlalchemy import func, select

from autopilot.bootstrap import Services, build
from autopilot.config import load_settings
from autopilot.domain.orders import Order, Side
from autopilot.domain.rebalancing.batch import AccountSnapshot
from autopilot.domain.rebalancing.drift import Holding, Target, drift_exceeds, measure_drift
from autopilot.domain.rebalancing.plan import plan_trades
from autopilot.domain.rebalancing.rule import RebalancingRule, RebalancingStatus, TriggerMode
from autopilot.services.ids import new_id
from autopilot.services.rebalancing.accounts import details
from autopilot.storage.bulk import insert_rows
from autopilot.storage.migrate import upgrade
from autopilot.storage.rebalancing_repo import rule_from_row, rule_to_row
from autopilot.storage.tables import (
    accounts,
    automation_execution_logs,
    clients,
    orders,
    positions,
    rebalancing_rules,
)

TODAY = date(2025, 6, 16)  # a Monday and a NYSE trading day
SEED_CHUNK = 5_000
DRIFT = Decimal(5)


class HandedLater:
    """A broker for the timed pass that takes nothing yet: the pass ends at its commit, its
    orders Pending with their cash held."""

    def submit(self, orders: Sequence[Order]) -> None:
        return None

    def on_prices(self, symbols: Sequence[str]) -> None:
        return None


def seed(
    services: Services,
    snapshots: Sequence[AccountSnapshot],
    targets: dict[int, tuple[Target, ...]],
    prices: dict[str, Decimal],
    tag: str,
    *,
    min_trade: Decimal,
    reserve: Decimal,
) -> list[str]:
    """One client, account and drift rule per snapshot, written set-based; the rule ids."""
    now = datetime.now(UTC)
    with services.uow() as uow:
        uow.market.record_prices([(s, p, now) for s, p in prices.items()])
        first = uow.connection.execute(select(func.coalesce(func.max(clients.c.id), 0))).scalar()
    base = int(first or 0) + 1
    ids: list[str] = []
    for start in range(0, len(snapshots), SEED_CHUNK):
        chunk = list(enumerate(snapshots[start : start + SEED_CHUNK], start=base + start))
        rules = [_rule(i, targets[s.account_id], tag, min_trade, reserve) for i, s in chunk]
        with services.uow() as uow:
            c = uow.connection
            insert_rows(
                c,
                clients,
                [
                    {"id": i, "name": f"Client {i}", "email": None, "created_at": now}
                    for i, _ in chunk
                ],
            )
            insert_rows(
                c,
                accounts,
                [
                    {
                        "id": i,
                        "client_id": i,
                        "currency": "USD",
                        "cash": s.cash,
                        "held": Decimal(0),
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i, s in chunk
                ],
            )
            insert_rows(
                c,
                positions,
                [
                    {
                        "account_id": i,
                        "symbol": symbol,
                        "quantity": quantity,
                        "cost_basis": Decimal(0),
                        "updated_at": now,
                    }
                    for i, s in chunk
                    for symbol, quantity in zip(s.symbols, s.quantities, strict=True)
                    if quantity
                ],
            )
            insert_rows(
                c,
                rebalancing_rules,
                [{**rule_to_row(r), "created_at": now, "updated_at": now} for r in rules],
            )
        ids.extend(r.id for r in rules)
    return ids


def _rule(
    number: int, targets: tuple[Target, ...], tag: str, min_trade: Decimal, reserve: Decimal
) -> RebalancingRule:
    return RebalancingRule(
        id=f"REBAL-{tag}-{number:09d}",
        client_id=number,
        account_id=number,  # one client, one account, same id
        name=f"bench rule {number}",
        targets=targets,
        trigger_mode=TriggerMode.DRIFT,
        drift_threshold=DRIFT,
        relative_threshold=None,
        schedule=None,
        next_check_date=None,
        require_confirmation=False,
        min_trade_amount=min_trade,
        allow_sells=True,
        cash_reserve=reserve,
        cooldown_days=0,
        last_executed_at=None,
        status=RebalancingStatus.ACTIVE,
        is_enabled=True,
    )


def check(services: Services, rule_ids: Sequence[str], tag: str) -> int:
    """Every seeded rule rebalanced once, with its log row and its orders; the order count."""
    logs = automation_execution_logs
    with services.uow() as uow:
        c = uow.connection
        logged = dict(
            c.execute(
                select(logs.c.status, func.count())
                .where(logs.c.automation_id.like(f"REBAL-{tag}-%"))
                .group_by(logs.c.status)
            ).all()
        )
        placed = c.execute(
            select(func.count()).where(orders.c.automation_id.like(f"REBAL-{tag}-%"))
        ).scalar_one()
        held = c.execute(select(func.count()).where(accounts.c.held > 0)).scalar_one()
    if logged.get("Success", 0) != len(rule_ids) or sum(logged.values()) != len(rule_ids):
        raise SystemExit(f"{tag}: {len(rule_ids)} rules, logged {logged}")
    if placed < len(rule_ids) or not held:
        raise SystemExit(f"{tag}: {placed} orders, {held} accounts holding cash")
    return int(placed)


def run_pass(url: str) -> float:
    """The scheduler's rebalancing pass (one `run_due`), to its commit; seconds."""
    staged = build(load_settings(database_url=url), broker=HandedLater())
    try:
        started = time.perf_counter()
        staged.rebalancing.run_due(TODAY, triggered_by="bench")
        return time.perf_counter() - started
    finally:
        staged.close()


# -- the naive loop ------------------------------------------------------------------------------


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def run_naive(url: str, rule_ids: Sequence[str]) -> float:
    """One transaction per rule on a raw psycopg cursor; seconds."""
    with psycopg.connect(libpq_url(url), row_factory=namedtuple_row) as c:
        started = time.perf_counter()
        for rule_id in rule_ids:
            _naive_one(c, rule_id)
        return time.perf_counter() - started


def _naive_one(c: psycopg.Connection[Any], rule_id: str) -> None:
    with c.transaction(), c.cursor() as cur:
        rule = rule_from_row(
            cur.execute(
                "SELECT * FROM rebalancing_rules WHERE id = %s FOR UPDATE", (rule_id,)
            ).fetchone()
        )
        account = cur.execute(
            "SELECT cash, held FROM accounts WHERE id = %s FOR UPDATE", (rule.account_id,)
        ).fetchone()
        held = cur.execute(
            "SELECT symbol, quantity FROM positions WHERE account_id = %s AND quantity <> 0"
            " ORDER BY symbol",
            (rule.account_id,),
        ).fetchall()
        wanted = sorted({p.symbol for p in held} | {t.symbol for t in rule.targets} - {"CASH"})
        quotes = {
            r.symbol: r
            for r in cur.execute(
                "SELECT symbol, last_price, tradable, fractionable FROM securities"
                " WHERE symbol = ANY(%s)",
                (wanted,),
            )
        }
        quantity = {p.symbol: p.quantity for p in held}
        holdings = [
            Holding(
                symbol=s,
                quantity=quantity.get(s, Decimal(0)),
                price=quotes[s].last_price,
                fractionable=quotes[s].fractionable,
                tradable=quotes[s].tradable,
            )
            for s in [p.symbol for p in held] + [s for s in wanted if s not in quantity]
        ]
        cash = account.cash - account.held
        drift = measure_drift(holdings, cash, rule.targets)
        if not drift_exceeds(drift, rule.drift_threshold, rule.relative_threshold):
            return
        plan = plan_trades(
            holdings,
            cash,
            rule.targets,
            min_trade_amount=rule.min_trade_amount,
            allow_sells=rule.allow_sells,
            cash_reserve=rule.cash_reserve,
        )
        at = datetime.now(UTC)
        ids: list[str] = []
        hold = Decimal(0)
        for trade in sorted(plan.trades, key=lambda t: t.side is Side.BUY):
            order_id = new_id("ORD", TODAY)
            reserved = trade.amount if trade.side is Side.BUY else Decimal(0)
            cur.execute(
                "INSERT INTO orders (id, account_id, client_id, symbol, side, order_type,"
                " quantity, reserved_amount, status, automation_type, automation_id,"
                " created_at, updated_at) VALUES (%s, %s, %s, %s, %s, 'market', %s, %s,"
                " 'Pending', 'Rebalancing', %s, %s, %s)",
                (
                    order_id,
                    rule.account_id,
                    rule.client_id,
                    trade.symbol,
                    trade.side.value,
                    trade.quantity,
                    reserved,
                    rule.id,
                    at,
                    at,
                ),
            )
            hold += reserved
            ids.append(order_id)
        cur.execute(
            "UPDATE accounts SET held = held + %s, updated_at = %s WHERE id = %s",
            (hold, at, rule.account_id),
        )
        cur.execute(
            "INSERT INTO automation_execution_logs (automation_type, automation_id, client_id,"
            " execution_date, status, order_ids, message, details, triggered_by, attempt,"
            " started_at, finished_at, created_at, no_op) VALUES ('Rebalancing', %s, %s, %s,"
            " 'Success', %s, %s, %s, 'baseline', 1, %s, %s, %s, false)",
            (
                rule.id,
                rule.client_id,
                TODAY,
                Jsonb(ids),
                f"{len(ids)} order(s) placed",
                Jsonb(details(drift.drift, plan, trigger="drift")),
                at,
                at,
                at,
            ),
        )
        cur.execute(
            "UPDATE rebalancing_rules SET last_executed_at = %s, updated_at = %s WHERE id = %s",
            (at, at, rule.id),
        )


def measure(
    backend: str,
    url: str,
    snapshots: Sequence[AccountSnapshot],
    naive_snapshots: Sequence[AccountSnapshot],
    targets: dict[int, tuple[Target, ...]],
    prices: dict[str, Decimal],
    *,
    min_trade: Decimal,
    reserve: Decimal,
) -> dict[str, Any]:
    """The pass over ``snapshots`` and, on PostgreSQL, the naive loop over ``naive_snapshots``."""
    upgrade(url)
    services = build(load_settings(database_url=url))
    try:
        terms = {"min_trade": min_trade, "reserve": reserve}
        ids = seed(services, snapshots, targets, prices, "PASS", **terms)
        pass_seconds = run_pass(url)
        placed = check(services, ids, "PASS")
        result: dict[str, Any] = {
            "backend": backend,
            "accounts": len(ids),
            "pass_s": round(pass_seconds, 3),
            "pass_orders": placed,
            "pass_accounts_per_s": round(len(ids) / pass_seconds),
        }
        if backend == "postgres":  # the baseline runs last: its orders stay Pending too
            naive_ids = seed(services, naive_snapshots, targets, prices, "NAIVE", **terms)
            naive_seconds = run_naive(url, naive_ids)
            check(services, naive_ids, "NAIVE")
            result["naive_sample"] = len(naive_ids)
            result["naive_s"] = round(naive_seconds, 3)
            result["naive_accounts_per_s"] = round(len(naive_ids) / naive_seconds)
    finally:
        services.close()
    return result
