"""auto-invest slice: platform tables, auto-invest rules, execution logs

Revision ID: 0001
Revises:
Create Date: 2026-11-28 12:30:53.633588
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _decimal(precision: int, scale: int) -> sa.types.TypeEngine[Any]:
    # Exact decimals: NUMERIC on PostgreSQL, text on SQLite (its NUMERIC affinity goes via float).
    return sa.Numeric(precision, scale).with_variant(sa.String(40), "sqlite")


def upgrade() -> None:
    op.create_table(
        "automation_execution_logs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("automation_type", sa.String(length=16), nullable=False),
        sa.Column("automation_id", sa.String(length=40), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("execution_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("order_ids", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("triggered_by", sa.String(length=80), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_execution_logs")),
    )
    with op.batch_alter_table("automation_execution_logs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_automation_execution_logs_automation_id",
            ["automation_id", "execution_date"],
            unique=False,
        )
        batch_op.create_index(
            "ix_automation_execution_logs_client_created", ["client_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "uq_automation_execution_logs_outcome",
            ["automation_id", "execution_date"],
            unique=True,
            postgresql_where=sa.text("status NOT IN ('Failed', 'PendingApproval')"),
            sqlite_where=sa.text("status NOT IN ('Failed', 'PendingApproval')"),
        )

    op.create_table(
        "clients",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clients")),
    )
    op.create_table(
        "securities",
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("tradable", sa.Boolean(), nullable=False),
        sa.Column("fractionable", sa.Boolean(), nullable=False),
        sa.Column("last_price", _decimal(20, 6), nullable=True),
        sa.Column("last_price_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("symbol", name=op.f("pk_securities")),
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("cash", _decimal(20, 2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_accounts_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_accounts_client_id"), ["client_id"], unique=False)

    op.create_table(
        "prices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("price", _decimal(20, 6), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["symbol"], ["securities.symbol"], name=op.f("fk_prices_symbol_securities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prices")),
    )
    with op.batch_alter_table("prices", schema=None) as batch_op:
        batch_op.create_index("ix_prices_symbol_as_of", ["symbol", "as_of"], unique=False)

    op.create_table(
        "auto_invest_rules",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("amount", _decimal(20, 2), nullable=False),
        sa.Column("allocations", sa.JSON(), nullable=False),
        sa.Column("frequency", sa.String(length=10), nullable=False),
        sa.Column("day_of_week", sa.Integer(), nullable=True),
        sa.Column("day_of_month", sa.String(length=4), nullable=True),
        sa.Column("holiday_rule", sa.String(length=10), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("next_execution_date", sa.Date(), nullable=True),
        sa.Column("execution_count", sa.Integer(), nullable=False),
        sa.Column("total_invested", _decimal(20, 2), nullable=False),
        sa.Column("max_total_amount", _decimal(20, 2), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_auto_invest_rules_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_auto_invest_rules_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auto_invest_rules")),
    )
    with op.batch_alter_table("auto_invest_rules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_auto_invest_rules_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            "ix_auto_invest_rules_due",
            ["next_execution_date", "id"],
            unique=False,
            postgresql_where=sa.text("status = 'Active' AND is_enabled"),
            sqlite_where=sa.text("status = 'Active' AND is_enabled"),
        )

    op.create_table(
        "orders",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("order_type", sa.String(length=8), nullable=False),
        sa.Column("quantity", _decimal(28, 6), nullable=True),
        sa.Column("notional", _decimal(20, 2), nullable=True),
        sa.Column("limit_price", _decimal(20, 6), nullable=True),
        sa.Column("reserved_amount", _decimal(20, 2), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("filled_quantity", _decimal(28, 6), nullable=True),
        sa.Column("filled_price", _decimal(20, 6), nullable=True),
        sa.Column("filled_amount", _decimal(20, 2), nullable=True),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("automation_type", sa.String(length=16), nullable=True),
        sa.Column("automation_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("filled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_orders_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_account_id"), ["account_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_orders_automation_id"), ["automation_id"], unique=False
        )
        batch_op.create_index(
            "ix_orders_open_symbol",
            ["symbol"],
            unique=False,
            postgresql_where=sa.text("status IN ('Pending', 'Submitted')"),
            sqlite_where=sa.text("status IN ('Pending', 'Submitted')"),
        )

    op.create_table(
        "positions",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("quantity", _decimal(28, 6), nullable=False),
        sa.Column("cost_basis", _decimal(20, 2), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_positions_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["symbol"], ["securities.symbol"], name=op.f("fk_positions_symbol_securities")
        ),
        sa.PrimaryKeyConstraint("account_id", "symbol", name=op.f("pk_positions")),
    )


def downgrade() -> None:
    op.drop_table("positions")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_open_symbol")
        batch_op.drop_index(batch_op.f("ix_orders_automation_id"))
        batch_op.drop_index(batch_op.f("ix_orders_account_id"))

    op.drop_table("orders")
    with op.batch_alter_table("auto_invest_rules", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_auto_invest_rules_due",
            postgresql_where=sa.text("status = 'Active' AND is_enabled"),
            sqlite_where=sa.text("status = 'Active' AND is_enabled"),
        )
        batch_op.drop_index(batch_op.f("ix_auto_invest_rules_client_id"))

    op.drop_table("auto_invest_rules")
    with op.batch_alter_table("prices", schema=None) as batch_op:
        batch_op.drop_index("ix_prices_symbol_as_of")

    op.drop_table("prices")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_accounts_client_id"))

    op.drop_table("accounts")
    op.drop_table("securities")
    op.drop_table("clients")
    with op.batch_alter_table("automation_execution_logs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_automation_execution_logs_outcome",
            postgresql_where=sa.text("status NOT IN ('Failed', 'PendingApproval')"),
            sqlite_where=sa.text("status NOT IN ('Failed', 'PendingApproval')"),
        )
        batch_op.drop_index("ix_automation_execution_logs_client_created")
        batch_op.drop_index("ix_automation_execution_logs_automation_id")

    op.drop_table("automation_execution_logs")
