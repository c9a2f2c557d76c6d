"""Accounts keep their cash and, beside it, what their open buy orders hold

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 00:00:00.000000

Until now a buy's hold was taken out of ``cash`` when the order was written, and a fill gave
back the difference. Now ``cash`` is the account's cash until a fill debits it, and ``held`` is
the sum of the reservations of its open buy orders (DESIGN §4: available cash = cash − holds).
The upgrade moves each account's open reservations from its cash into ``held``: its available
cash is unchanged. In Python, not in SQL: SQLite keeps money as text and would sum in floats.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CENT = Decimal("0.01")


def _decimal() -> sa.types.TypeEngine[Any]:
    return sa.Numeric(20, 2).with_variant(sa.String(40), "sqlite")


def _open_reservations(bind: sa.Connection) -> dict[int, Decimal]:
    rows = bind.execute(
        sa.text(
            "SELECT account_id, reserved_amount FROM orders"
            " WHERE side = 'buy' AND status IN ('Pending', 'Submitted')"
        )
    )
    held: dict[int, Decimal] = defaultdict(Decimal)
    for account_id, reserved in rows:
        held[account_id] += Decimal(str(reserved))
    return {a: v for a, v in held.items() if v}


def _move(bind: sa.Connection, held: dict[int, Decimal], sign: int) -> None:
    as_stored = str if bind.dialect.name == "sqlite" else Decimal
    for account_id, amount in sorted(held.items()):
        (cash,) = bind.execute(
            sa.text("SELECT cash FROM accounts WHERE id = :id"), {"id": account_id}
        ).one()
        bind.execute(
            sa.text("UPDATE accounts SET cash = :cash, held = :held WHERE id = :id"),
            {
                "id": account_id,
                "cash": as_stored((Decimal(str(cash)) + sign * amount).quantize(CENT)),
                "held": as_stored(amount.quantize(CENT) if sign > 0 else Decimal("0.00")),
            },
        )


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("held", _decimal(), nullable=False, server_default="0.00"),
        )
    bind = op.get_bind()
    _move(bind, _open_reservations(bind), 1)


def downgrade() -> None:
    bind = op.get_bind()
    _move(bind, _open_reservations(bind), -1)
    # Not a batch (a copy of the table): SQLite could not drop `accounts` under its foreign
    # keys. SQLite drops a column itself since 3.35.
    op.drop_column("accounts", "held")
