"""SQLite's fast executemany (storage/bulk.py) stores exactly what SQLAlchemy's own would: the
same rows, byte for byte, read back raw from the file."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from bench.auto_invest_workload import _rule
from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.exc import IntegrityError

from autopilot.storage import bulk
from autopilot.storage.auto_invest_repo import rule_to_row
from autopilot.storage.db import make_engine
from autopilot.storage.migrate import upgrade
from autopilot.storage.tables import (
    accounts,
    auto_invest_rules,
    automation_execution_logs,
    clients,
    orders,
)

NOW = datetime(2026, 6, 1, 16, 0, 0, 123456, tzinfo=UTC)


def _logs(n: int) -> list[dict[str, Any]]:
    return [
        {
            "automation_type": "AutoInvest",
            "automation_id": f"AUTO-{i}",
            "client_id": i,
            "execution_date": date(2026, 6, 1) + timedelta(days=i % 3),
            "status": "Success" if i % 2 else "Failed",
            "order_ids": [f"ORD-{i}-a", f"ORD-{i}-b"],
            "message": f"invested {i}.00 — über",
            "error": None if i % 2 else "RuntimeError: boom",
            "details": {"amount": f"{i}.25", "nested": [1, None, "x"]},
            "triggered_by": "scheduler",
            "attempt": 1 + i % 3,
            "started_at": NOW - timedelta(seconds=i),
            "finished_at": NOW,
            "created_at": NOW.astimezone(),  # the same instant in another zone
            "no_op": bool(i % 5 == 0),
        }
        for i in range(1, 61)
    ]


def _orders(n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"ORD-{i:04d}",
            "account_id": 1,
            "client_id": 1,
            "symbol": "VTI",
            "side": "buy",
            "order_type": "market",
            "notional": Decimal("123.45") + i,
            "quantity": None if i % 2 else Decimal("0.123456") * i,
            "reserved_amount": Decimal("123.45") + i,
            "status": "Pending",
            "automation_type": "AutoInvest",
            "automation_id": f"AUTO-{i}",
            "created_at": NOW,
            "updated_at": NOW,
        }
        for i in range(n)
    ]


def _raw(path: Path, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as c:
        return c.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()


def _both(tmp_path: Path, table: Table, rows: list[dict[str, Any]]) -> None:
    written = {}
    for way in ("fast", "sqlalchemy"):
        path = tmp_path / f"{way}.db"
        upgrade(f"sqlite:///{path}")
        engine = make_engine(f"sqlite:///{path}")
        with engine.begin() as c:
            if way == "fast":
                bulk.executemany(c, table.insert(), rows)
            else:
                c.execute(table.insert(), rows)
        engine.dispose()
        written[way] = _raw(path, table.name)
    assert len(written["fast"]) == len(rows)
    assert written["fast"] == written["sqlalchemy"]


def test_log_rows_are_stored_as_sqlalchemy_stores_them(tmp_path: Path) -> None:
    _both(tmp_path, automation_execution_logs, _logs(60))


def test_order_rows_are_stored_as_sqlalchemy_stores_them(tmp_path: Path) -> None:
    for way in ("fast", "sqlalchemy"):
        path = tmp_path / f"{way}.db"
        upgrade(f"sqlite:///{path}")
        engine = make_engine(f"sqlite:///{path}")
        with engine.begin() as c:
            c.execute(insert(clients).values(id=1, name="Ada", created_at=NOW))
            c.execute(
                insert(accounts).values(
                    id=1,
                    client_id=1,
                    currency="USD",
                    cash=Decimal("1"),
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        engine.dispose()
    rows = _orders(50)
    written = {}
    for way in ("fast", "sqlalchemy"):
        path = tmp_path / f"{way}.db"
        engine = make_engine(f"sqlite:///{path}")
        with engine.begin() as c:
            if way == "fast":
                bulk.executemany(c, orders.insert(), rows)
            else:
                c.execute(orders.insert(), rows)
        engine.dispose()
        written[way] = _raw(path, "orders")
    assert len(written["fast"]) == 50 and written["fast"] == written["sqlalchemy"]


def test_a_batched_update_matches_too_and_a_driver_error_is_sqlalchemys(tmp_path: Path) -> None:
    rules = [
        rule_to_row(_rule(i, 1, "BULK")) | {"created_at": NOW, "updated_at": NOW} for i in range(40)
    ]
    changes = [
        {
            "v_id": r["id"],
            "v_execution_count": 7,
            "v_total_invested": Decimal("10.50"),
            "v_updated_at": NOW + timedelta(hours=1),
        }
        for r in rules
    ]
    stmt = (
        update(auto_invest_rules)
        .where(auto_invest_rules.c.id == bindparam("v_id"))
        .values(
            execution_count=bindparam("v_execution_count"),
            total_invested=bindparam("v_total_invested"),
            updated_at=bindparam("v_updated_at"),
        )
    )
    written = {}
    for way in ("fast", "sqlalchemy"):
        path = tmp_path / f"{way}.db"
        upgrade(f"sqlite:///{path}")
        engine = make_engine(f"sqlite:///{path}")
        with engine.begin() as c:
            c.execute(insert(clients).values(id=1, name="Ada", created_at=NOW))
            c.execute(
                insert(accounts).values(
                    id=1,
                    client_id=1,
                    currency="USD",
                    cash=Decimal("1"),
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            c.execute(auto_invest_rules.insert(), rules)
            if way == "fast":
                bulk.executemany(c, stmt, changes)
            else:
                c.execute(stmt, changes)
        engine.dispose()
        written[way] = _raw(path, "auto_invest_rules")
    assert written["fast"] == written["sqlalchemy"]

    engine = make_engine(f"sqlite:///{tmp_path / 'fast.db'}")
    with pytest.raises(IntegrityError), engine.begin() as c:
        bulk.executemany(c, auto_invest_rules.insert(), rules)  # the same ids again
    engine.dispose()
