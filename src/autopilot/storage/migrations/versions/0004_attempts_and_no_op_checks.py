"""failed attempts of every automation in one table; no-op checks leave their day open

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 12:00:00.000000

Failed attempts were counted two ways: on the rule row for auto-invest (``failed_attempts``)
and from the log's Failed rows for rebalancing. They move to ``automation_attempts``, one row per
automation whose occurrence has no outcome yet, for every automation alike.

A rebalancing check that found nothing to trade logged a Skipped row that took its day's
outcome key, so a drift later that day could not rebalance. Such rows are now ``no_op``: outside
the outcome key, one per rule and day. Existing "nothing to trade" rows become no-op rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OLD_OUTCOME_ROWS = "status NOT IN ('Failed', 'PendingApproval')"
OUTCOME_ROWS = "status NOT IN ('Failed', 'PendingApproval') AND NOT no_op"
NO_OP_ROWS = "no_op"
LOGS = "automation_execution_logs"


def upgrade() -> None:
    op.create_table(
        "automation_attempts",
        sa.Column("automation_id", sa.String(length=40), nullable=False),
        sa.Column("automation_type", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("occurrence", sa.Date(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("automation_id", name=op.f("pk_automation_attempts")),
    )
    op.execute(
        "INSERT INTO automation_attempts (automation_id, automation_type, client_id, occurrence,"
        " failed_attempts, last_error, updated_at)"
        " SELECT id, 'AutoInvest', client_id, next_execution_date, failed_attempts,"
        " 'counted before this migration', updated_at FROM auto_invest_rules"
        " WHERE failed_attempts > 0 AND next_execution_date IS NOT NULL"
    )
    # A rebalancing rule's latest occurrence with failed attempts and no outcome yet.
    op.execute(
        "INSERT INTO automation_attempts (automation_id, automation_type, client_id, occurrence,"
        " failed_attempts, last_error, updated_at)"
        " SELECT f.automation_id, 'Rebalancing', min(f.client_id), f.execution_date, count(*),"
        " coalesce(max(f.error), ''), max(f.finished_at)"
        f" FROM {LOGS} f"
        " WHERE f.automation_type = 'Rebalancing' AND f.status = 'Failed'"
        f" AND f.execution_date = (SELECT max(g.execution_date) FROM {LOGS} g"
        "   WHERE g.automation_id = f.automation_id AND g.status = 'Failed')"
        f" AND NOT EXISTS (SELECT 1 FROM {LOGS} o WHERE o.automation_id = f.automation_id"
        f"   AND o.execution_date = f.execution_date AND {OLD_OUTCOME_ROWS.replace('status', 'o.status')})"
        " GROUP BY f.automation_id, f.execution_date"
    )
    with op.batch_alter_table("auto_invest_rules", schema=None) as batch_op:
        batch_op.drop_column("failed_attempts")

    with op.batch_alter_table(LOGS, schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("no_op", sa.Boolean(), nullable=False, server_default=sa.text("false"))
        )
        batch_op.drop_index("uq_automation_execution_logs_outcome")
    op.execute(
        f"UPDATE {LOGS} SET no_op = true WHERE automation_type = 'Rebalancing'"
        " AND status = 'Skipped' AND message = 'nothing to trade'"
    )
    with op.batch_alter_table(LOGS, schema=None) as batch_op:
        batch_op.create_index(
            "uq_automation_execution_logs_outcome",
            ["automation_id", "execution_date"],
            unique=True,
            postgresql_where=sa.text(OUTCOME_ROWS),
            sqlite_where=sa.text(OUTCOME_ROWS),
        )
        batch_op.create_index(
            "uq_automation_execution_logs_no_op",
            ["automation_id", "execution_date"],
            unique=True,
            postgresql_where=sa.text(NO_OP_ROWS),
            sqlite_where=sa.text(NO_OP_ROWS),
        )


def downgrade() -> None:
    with op.batch_alter_table(LOGS, schema=None) as batch_op:
        batch_op.drop_index("uq_automation_execution_logs_no_op")
        batch_op.drop_index("uq_automation_execution_logs_outcome")
    # A day with a no-op check and a later rebalance cannot keep both under the old key.
    op.execute(f"DELETE FROM {LOGS} WHERE no_op")
    with op.batch_alter_table(LOGS, schema=None) as batch_op:
        batch_op.drop_column("no_op")
        batch_op.create_index(
            "uq_automation_execution_logs_outcome",
            ["automation_id", "execution_date"],
            unique=True,
            postgresql_where=sa.text(OLD_OUTCOME_ROWS),
            sqlite_where=sa.text(OLD_OUTCOME_ROWS),
        )
    with op.batch_alter_table("auto_invest_rules", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failed_attempts", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
    op.execute(
        "UPDATE auto_invest_rules SET failed_attempts = coalesce((SELECT a.failed_attempts FROM"
        " automation_attempts a WHERE a.automation_id = auto_invest_rules.id"
        " AND a.occurrence = auto_invest_rules.next_execution_date), 0)"
        " WHERE id IN (SELECT automation_id FROM automation_attempts)"
    )
    op.drop_table("automation_attempts")
