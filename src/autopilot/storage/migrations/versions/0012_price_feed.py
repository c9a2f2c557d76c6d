"""Prices carry a revision the database sets, and each symbol a floor: the workers' price feed

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 00:00:00.000000

In the workers shape (DESIGN §1) the API processes store prices and the workers evaluate them,
each worker the symbols it owns. A worker reads the prices stored since its last read the way
every process reads the triggers' change feed (0008): ``revision`` is the inserting
transaction's id (``pg_current_xact_id()``, a column default, so COPY and every writer set it),
and a reader keeps the snapshot of its last read and asks for the rows of the transactions that
snapshot did not see, so a price committed after a later one is still read.

``trigger_price_floors`` says, per symbol, below which revision every price of the symbol has
been evaluated against its triggers (by a worker, or by a process that evaluated its own prices).
A worker that gains a symbol (another died, stopped or joined) evaluates the symbol's prices from
its floor on, so a price that arrived while nobody owned the symbol is evaluated, not lost.

Rows stored before this migration keep revision 0 and count as evaluated (a symbol without a
floor replays from revision 1). On SQLite (no workers) the feed reads ``id``: one writer at a
time commits ids in order. Building the two indexes locks the prices table against writes for
as long as they take.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("prices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("revision", sa.BigInteger(), nullable=False, server_default="0")
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE prices ALTER COLUMN revision"
            " SET DEFAULT pg_current_xact_id()::text::bigint"
        )
    op.create_index("ix_prices_revision", "prices", ["revision"])
    op.create_index("ix_prices_symbol_revision", "prices", ["symbol", "revision"])
    op.create_table(
        "trigger_price_floors",
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("evaluated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("symbol", name=op.f("pk_trigger_price_floors")),
    )


def downgrade() -> None:
    op.drop_table("trigger_price_floors")
    op.drop_index("ix_prices_symbol_revision", table_name="prices")
    op.drop_index("ix_prices_revision", table_name="prices")
    with op.batch_alter_table("prices", schema=None) as batch_op:
        batch_op.drop_column("revision")
