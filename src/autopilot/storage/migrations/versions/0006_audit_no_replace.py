"""Audit events cannot be replaced either (SQLite)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 00:00:00.000000

SQLite's REPLACE (``REPLACE INTO``, ``INSERT OR REPLACE``) removes the row it collides with
without firing DELETE triggers, so 0005's triggers let an audit event be rewritten that way. An
insert naming the id of an event that exists is refused before it happens. PostgreSQL has no
REPLACE, and its ``INSERT … ON CONFLICT DO UPDATE`` fires the UPDATE trigger already.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

REFUSAL = "audit_events is append-only"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER audit_events_no_replace BEFORE INSERT ON audit_events "
            "WHEN EXISTS (SELECT 1 FROM audit_events WHERE id = NEW.id) "
            f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER audit_events_no_replace")
