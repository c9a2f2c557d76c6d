"""Migrations that move data, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic import command

from autopilot.storage import tables
from autopilot.storage.db import make_engine
from autopilot.storage.migrate import alembic_config, upgrade

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def _order(order_id: str, side: str, status: str, reserved: str) -> dict[str, object]:
    return {
        "id": order_id,
        "account_id": 1,
        "client_id": 1,
        "symbol": "VTI",
        "side": side,
        "order_type": "market",
        "quantity": Decimal("1"),
        "reserved_amount": Decimal(reserved),
        "status": status,
        "created_at": NOW,
        "updated_at": NOW,
    }


def test_holds_move_out_of_cash_into_held_and_back(db_url: str) -> None:
    """Before 0007 a buy's hold was taken out of cash; after it, cash stays and `held` holds it.
    An account's available cash is the same on both sides of the upgrade, and of the downgrade."""
    upgrade(db_url, "0006")
    engine = make_engine(db_url)
    cash = str if engine.dialect.name == "sqlite" else Decimal
    try:
        with engine.begin() as c:
            c.execute(
                sa.text("INSERT INTO clients (name, created_at) VALUES ('A', :t)"), {"t": NOW}
            )
            c.execute(
                sa.text(
                    "INSERT INTO accounts (client_id, currency, cash, created_at, updated_at)"
                    " VALUES (1, 'USD', :cash, :t, :t)"
                ),
                {"cash": cash("899.95"), "t": NOW},  # 1,000.00 less the two open buys' holds
            )
            c.execute(
                tables.orders.insert(),
                [
                    _order("ORD-1", "buy", "Pending", "60.00"),
                    _order("ORD-2", "buy", "Submitted", "40.05"),
                    _order("ORD-3", "buy", "Filled", "25.00"),  # debited already
                    _order("ORD-4", "sell", "Pending", "0.00"),
                    _order("ORD-5", "buy", "Rejected", "10.00"),  # released already
                ],
            )

        upgrade(db_url)
        with engine.connect() as c:
            row = c.execute(sa.select(tables.accounts.c.cash, tables.accounts.c.held)).one()
        assert (row.cash, row.held) == (Decimal("1000.00"), Decimal("100.05"))

        command.downgrade(alembic_config(db_url), "0006")
        with engine.connect() as c:
            (back,) = c.execute(sa.text("SELECT cash FROM accounts")).one()
        assert Decimal(str(back)) == Decimal("899.95")
    finally:
        engine.dispose()
