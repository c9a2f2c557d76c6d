"""rebalancing: rules and proposals

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 13:40:00.000000
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _decimal(precision: int, scale: int) -> sa.types.TypeEngine[Any]:
    # Exact decimals: NUMERIC on PostgreSQL, text on SQLite (its NUMERIC affinity goes via float).
    return sa.Numeric(precision, scale).with_variant(sa.String(40), "sqlite")


WATCHING = "status = 'Active' AND is_enabled"
PENDING = "status = 'PendingApproval'"


def upgrade() -> None:
    op.create_table(
        "rebalancing_rules",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("trigger_mode", sa.String(length=8), nullable=False),
        sa.Column("drift_threshold", _decimal(12, 4), nullable=False),
        sa.Column("relative_threshold", _decimal(12, 4), nullable=True),
        sa.Column("frequency", sa.String(length=10), nullable=True),
        sa.Column("day_of_month", sa.String(length=4), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("next_check_date", sa.Date(), nullable=True),
        sa.Column("require_confirmation", sa.Boolean(), nullable=False),
        sa.Column("min_trade_amount", _decimal(20, 2), nullable=False),
        sa.Column("allow_sells", sa.Boolean(), nullable=False),
        sa.Column("cash_reserve", _decimal(20, 2), nullable=False),
        sa.Column("cooldown_days", sa.Integer(), nullable=False),
        sa.Column("last_executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_rebalancing_rules_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_rebalancing_rules_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rebalancing_rules")),
    )
    with op.batch_alter_table("rebalancing_rules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rebalancing_rules_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_rebalancing_rules_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            "ix_rebalancing_rules_watching",
            ["id"],
            unique=False,
            postgresql_where=sa.text(WATCHING),
            sqlite_where=sa.text(WATCHING),
        )

    op.create_table(
        "rebalancing_proposals",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("rule_id", sa.String(length=40), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("occurrence", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trades", sa.JSON(), nullable=False),
        sa.Column("skipped", sa.JSON(), nullable=False),
        sa.Column("drift_before", _decimal(12, 4), nullable=False),
        sa.Column("prices", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("order_ids", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["rebalancing_rules.id"],
            name=op.f("fk_rebalancing_proposals_rule_id_rebalancing_rules"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rebalancing_proposals")),
    )
    with op.batch_alter_table("rebalancing_proposals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rebalancing_proposals_rule_id"), ["rule_id"], unique=False
        )
        batch_op.create_index(
            "uq_rebalancing_proposals_pending",
            ["rule_id"],
            unique=True,
            postgresql_where=sa.text(PENDING),
            sqlite_where=sa.text(PENDING),
        )


def downgrade() -> None:
    with op.batch_alter_table("rebalancing_proposals", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_rebalancing_proposals_pending",
            postgresql_where=sa.text(PENDING),
            sqlite_where=sa.text(PENDING),
        )
        batch_op.drop_index(batch_op.f("ix_rebalancing_proposals_rule_id"))
    op.drop_table("rebalancing_proposals")
    with op.batch_alter_table("rebalancing_rules", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_rebalancing_rules_watching",
            postgresql_where=sa.text(WATCHING),
            sqlite_where=sa.text(WATCHING),
        )
        batch_op.drop_index(batch_op.f("ix_rebalancing_rules_client_id"))
        batch_op.drop_index(batch_op.f("ix_rebalancing_rules_account_id"))
    op.drop_table("rebalancing_rules")
