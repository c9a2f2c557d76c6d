"""Dedicated workers: who is working, since when, and what they hold

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 00:00:00.000000

One row per `autopilot worker` (its id: `--id`, by default host:pid). A live worker beats every
few seconds; one whose heartbeat is older than AUTOMATION_WORKER_LEASE is dead, and the others
take its work over. Times are the database's clock.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("holds", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )


def downgrade() -> None:
    op.drop_table("workers")
