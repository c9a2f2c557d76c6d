"""The Pending orders in the submission stage's order: an index of their own

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 00:00:00.000000

Each batch of the submission stage reads the next page of Pending orders, an account's orders
together and sells first (``ORDER BY account_id, side DESC, id``). Read through the open-orders
index (0003's ``ix_orders_open_symbol``, by symbol), every page sorted all the Pending orders
left: a stage over N orders in pages of P sorted about N² / 2P rows. This partial index holds the
Pending orders in that order, so a page is a range read of P entries; a fill moves its order out
of the index. Building it locks the orders table against writes for as long as it takes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

PENDING = "status = 'Pending'"


def upgrade() -> None:
    op.create_index(
        "ix_orders_pending",
        "orders",
        ["account_id", sa.text("side DESC"), "id"],
        postgresql_where=sa.text(PENDING),
        sqlite_where=sa.text(PENDING),
    )


def downgrade() -> None:
    op.drop_index("ix_orders_pending", table_name="orders")
