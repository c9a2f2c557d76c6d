"""trigger orders

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 14:00:00.000000
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _decimal(precision: int, scale: int) -> sa.types.TypeEngine[Any]:
    # Exact decimals: NUMERIC on PostgreSQL, text on SQLite (its NUMERIC affinity goes via float).
    return sa.Numeric(precision, scale).with_variant(sa.String(40), "sqlite")


ACTIVE = "status = 'Active'"


def upgrade() -> None:
    op.create_table(
        "trigger_orders",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("condition", sa.JSON(), nullable=False),
        sa.Column("order", sa.JSON(), nullable=False),
        sa.Column("oco_group", sa.String(length=80), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("mark", _decimal(20, 6), nullable=True),
        sa.Column("triggered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("trigger_price", _decimal(20, 6), nullable=True),
        sa.Column("order_id", sa.String(length=40), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_trigger_orders_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_trigger_orders_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trigger_orders")),
    )
    with op.batch_alter_table("trigger_orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trigger_orders_client_id"), ["client_id"])
        batch_op.create_index(batch_op.f("ix_trigger_orders_account_id"), ["account_id"])
        batch_op.create_index(
            "ix_trigger_orders_active_symbol",
            ["symbol"],
            unique=False,
            postgresql_where=sa.text(ACTIVE),
            sqlite_where=sa.text(ACTIVE),
        )
        batch_op.create_index(
            "ix_trigger_orders_oco_group", ["client_id", "oco_group"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("trigger_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_trigger_orders_oco_group")
        batch_op.drop_index(
            "ix_trigger_orders_active_symbol",
            postgresql_where=sa.text(ACTIVE),
            sqlite_where=sa.text(ACTIVE),
        )
        batch_op.drop_index(batch_op.f("ix_trigger_orders_account_id"))
        batch_op.drop_index(batch_op.f("ix_trigger_orders_client_id"))
    op.drop_table("trigger_orders")
