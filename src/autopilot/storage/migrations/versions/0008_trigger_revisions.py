"""Trigger orders carry a revision the database sets: the change feed between processes

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 00:00:00.000000

Every process that evaluates prices keeps an index of the Active triggers. A trigger created,
edited, paused, resumed, cancelled, fired or expired through another process must be in force
in this one before it evaluates the next price, so each evaluation first reads the triggers
changed since its last read. The database sets ``revision`` on every insert and every update
that changes more than a trailing mark (a mark moves on every price, and each process computes
it from the prices itself), whichever code wrote the row.

- PostgreSQL: the writing transaction's id (``pg_current_xact_id()``). Transactions commit out
  of id order, so a reader keeps the snapshot of its last read and asks for the rows of
  transactions that snapshot did not see (see ``TriggerOrders.changed_since``).
- SQLite: one more than the largest revision. SQLite runs one writer at a time, from its first
  write to its commit, so revisions are committed in order and the last one seen is the cursor.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The columns whose change matters to an index; `mark`, `updated_at` and the fire's own
# bookkeeping columns (after status has moved) do not.
WATCHED = ("symbol", "side", "condition", "order", "oco_group", "expires_at", "status")

PG_FUNCTION = f"""
CREATE FUNCTION trigger_orders_revise() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' OR {
    " OR ".join(f'NEW."{c}"::text IS DISTINCT FROM OLD."{c}"::text' for c in WATCHED)
} THEN
        NEW.revision := pg_current_xact_id()::text::bigint;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql
"""

SQLITE_NEXT = "(SELECT COALESCE(MAX(revision), 0) + 1 FROM trigger_orders)"


def upgrade() -> None:
    with op.batch_alter_table("trigger_orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("revision", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.create_index("ix_trigger_orders_revision", "trigger_orders", ["revision"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER trigger_orders_revise BEFORE INSERT OR UPDATE ON trigger_orders"
            " FOR EACH ROW EXECUTE FUNCTION trigger_orders_revise()"
        )
        return
    op.execute(
        "CREATE TRIGGER trigger_orders_revise_insert AFTER INSERT ON trigger_orders"
        f" BEGIN UPDATE trigger_orders SET revision = {SQLITE_NEXT} WHERE id = NEW.id; END"
    )
    columns = ", ".join(f'"{c}"' for c in WATCHED)
    op.execute(
        f"CREATE TRIGGER trigger_orders_revise_update AFTER UPDATE OF {columns} ON trigger_orders"
        f" BEGIN UPDATE trigger_orders SET revision = {SQLITE_NEXT} WHERE id = NEW.id; END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER trigger_orders_revise ON trigger_orders")
        op.execute("DROP FUNCTION trigger_orders_revise()")
    else:
        op.execute("DROP TRIGGER trigger_orders_revise_insert")
        op.execute("DROP TRIGGER trigger_orders_revise_update")
    op.drop_index("ix_trigger_orders_revision", table_name="trigger_orders")
    op.drop_column("trigger_orders", "revision")
