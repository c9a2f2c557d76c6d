"""A pass's claims read the rules' partial indexes, on SQLite and PostgreSQL.

A planner uses a partial index only where it can prove the query's WHERE implies the index's
predicate (`status = 'Active' AND is_enabled`). Spelled `is_enabled IS true` (SQLAlchemy's
`is_(True)`) it cannot, and every batch of a pass scanned and sorted the whole rule table: 64 ms a
batch at 100,000 rules on PostgreSQL instead of half a millisecond. Each claim below runs for real;
its statement, as sent to the database, is then explained with the same parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, event

from autopilot.domain.orders import Order, OrderStatus, OrderType, Side
from autopilot.services.records import DueCursor
from autopilot.storage.auto_invest_repo import AutoInvestRules
from autopilot.storage.db import make_engine
from autopilot.storage.migrate import upgrade
from autopilot.storage.orders_repo import Orders
from autopilot.storage.rebalancing_repo import RebalancingRules

TODAY = date(2026, 6, 1)


@pytest.fixture
def connection(db_url: str) -> Iterator[Connection]:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.begin() as c:
            yield c
    finally:
        engine.dispose()


def _plan_of(c: Connection, claim: Callable[[], Any]) -> str:
    """Run `claim`, then explain the statement it sent (with its parameters)."""
    sent: list[tuple[str, Any]] = []

    def remember(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(c, "before_cursor_execute", remember)
    try:
        claim()
    finally:
        event.remove(c, "before_cursor_execute", remember)
    statement, parameters = sent[-1]
    if c.dialect.name == "postgresql":
        c.exec_driver_sql("SET LOCAL enable_seqscan = off")  # tiny tables: force the choice
        rows = c.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        return "\n".join(r[0] for r in rows)
    rows = c.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    return "\n".join(str(r[-1]) for r in rows)


def test_the_auto_invest_claim_reads_the_due_index(connection: Connection) -> None:
    rules = AutoInvestRules(connection)
    first = _plan_of(connection, lambda: rules.claim_due(TODAY, None, 1000))
    assert "ix_auto_invest_rules_due" in first, first
    page = DueCursor(TODAY, "AUTO-20260601-000000000000001")
    later = _plan_of(connection, lambda: rules.claim_due(TODAY, page, 1000))
    assert "ix_auto_invest_rules_due" in later, later


def test_the_rebalancing_claim_reads_the_watching_index(connection: Connection) -> None:
    rules = RebalancingRules(connection)
    plan = _plan_of(connection, lambda: rules.claim_watching("REBAL-1", 1000))
    assert "ix_rebalancing_rules_watching" in plan, plan


def test_the_resting_orders_of_posted_prices_are_read_from_the_open_orders_index(
    connection: Connection,
) -> None:
    """Every price posted asks the broker for the resting orders of its symbols, in the write
    transaction that every other writer waits for: it reads the open orders of those symbols,
    not the whole history of orders."""
    orders = Orders(connection)
    plan = _plan_of(
        connection, lambda: orders.open_orders(status=OrderStatus.SUBMITTED, symbols=["VTI"])
    )
    assert "ix_orders_open_symbol" in plan, plan


def test_the_submission_stage_reads_each_page_of_pending_orders_in_order(
    connection: Connection,
) -> None:
    """Each batch of the submission stage reads the next page of Pending orders as a range of
    their own index, in the order it hands them over: not every order ever made, and no sort of
    all the Pending ones left on every page (a stage of N orders sorted about N² / 2P rows)."""
    orders = Orders(connection)
    later = Order(
        id="ORD-20260601-000000000000001",
        account_id=7,
        symbol="VTI",
        side=Side.SELL,
        order_type=OrderType.MARKET,
        quantity=Decimal(1),
        notional=None,
        limit_price=None,
        reserved_amount=Decimal(0),
        status=OrderStatus.PENDING,
    )
    first = _plan_of(connection, lambda: orders.pending(after=None, limit=1000))
    page = _plan_of(connection, lambda: orders.pending(after=later, limit=1000))
    for plan in (first, page):
        assert "ix_orders_pending" in plan, plan
        assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan
    # A later page starts where the last one ended, not at the index's first entry.
    assert "Index Cond: (account_id >= 7)" in page or "(account_id>?)" in page, page
