"""Writing many rows with one statement: the scheduler's batched inserts, updates and upserts.

On PostgreSQL each column travels as one array and `unnest()` turns the arrays back into rows:
one statement, one round trip, and no per-row parameter handling in Python (an executemany
costs tens of microseconds a row in the driver, more than the database spends on the row).
Elsewhere (SQLite) the same write is an executemany of the equivalent Core statement.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Column, Connection, Table, bindparam, func, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

Row = Mapping[str, Any]


def insert_rows(
    c: Connection, table: Table, rows: Sequence[Row], *, upsert_on: Sequence[str] = ()
) -> None:
    """Insert `rows` (dicts with the same keys); with `upsert_on`, a row whose key columns
    match an existing one overwrites that row's other given columns instead."""
    if not rows:
        return
    names = list(rows[0])
    if c.dialect.name == "postgresql":
        q = c.dialect.identifier_preparer.quote
        sql = (
            f"INSERT INTO {q(table.name)} ({', '.join(q(n) for n in names)}) "
            f"SELECT * FROM {_unnest(c, table, names)}"
        )
        if upsert_on:
            changed = [n for n in names if n not in upsert_on]
            sql += f" ON CONFLICT ({', '.join(q(n) for n in upsert_on)}) DO UPDATE SET "
            sql += ", ".join(f"{q(n)} = EXCLUDED.{q(n)}" for n in changed)
        c.exec_driver_sql(sql, _arrays(table, names, rows))
        return
    if not upsert_on:
        c.execute(table.insert(), list(rows))
        return
    stmt = sqlite_insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c[n] for n in upsert_on],
        set_={n: stmt.excluded[n] for n in names if n not in upsert_on},
    )
    c.execute(stmt, list(rows))


def update_rows(
    c: Connection, table: Table, rows: Sequence[Row], *, key: str, keep_set: Sequence[str] = ()
) -> None:
    """Update the row whose `key` column matches each dict's `key` with the dict's other
    columns; a column in `keep_set` is written only where it is still NULL."""
    if not rows:
        return
    names = list(rows[0])
    changed = [n for n in names if n != key]
    if c.dialect.name == "postgresql":
        q = c.dialect.identifier_preparer.quote
        target = q(table.name)
        sets = ", ".join(
            f"{q(n)} = COALESCE({target}.{q(n)}, v.{q(n)})"
            if n in keep_set
            else f"{q(n)} = v.{q(n)}"
            for n in changed
        )
        sql = (
            f"UPDATE {target} SET {sets} FROM {_unnest(c, table, names)} "
            f"WHERE {target}.{q(key)} = v.{q(key)}"
        )
        c.exec_driver_sql(sql, _arrays(table, names, rows))
        return
    values = {
        n: func.coalesce(table.c[n], bindparam(f"v_{n}")) if n in keep_set else bindparam(f"v_{n}")
        for n in changed
    }
    stmt = update(table).where(table.c[key] == bindparam(f"v_{key}")).values(values)
    c.execute(stmt, [{f"v_{n}": row[n] for n in names} for row in rows])


def _unnest(c: Connection, table: Table, names: Sequence[str]) -> str:
    """`unnest(%(a)s::type[], ...) AS v(a, ...)`: the column arrays as a row source."""
    q = c.dialect.identifier_preparer.quote
    arrays = ", ".join(
        f"CAST(%({n})b AS {table.c[n].type.compile(dialect=c.dialect)}[])" for n in names
    )
    return f"unnest({arrays}) AS v({', '.join(q(n) for n in names)})"


def _arrays(table: Table, names: Sequence[str], rows: Sequence[Row]) -> dict[str, list[Any]]:
    return {n: _column_values(table.c[n], [row[n] for row in rows]) for n in names}


def _column_values(column: Column[Any], values: list[Any]) -> list[Any]:
    if isinstance(column.type, JSON):  # sent as text, cast to json by the statement
        # As SQLAlchemy's JSON type does: None is JSON null unless none_as_null.
        keep_null = column.type.none_as_null
        return [None if v is None and keep_null else json.dumps(v) for v in values]
    return values
