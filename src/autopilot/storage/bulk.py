"""Writing many rows at once: the scheduler's batched inserts, updates and upserts.

On PostgreSQL the rows travel by COPY (psycopg formats them in C), straight into the table for a
plain insert, or into a session-local staging table that one INSERT … ON CONFLICT or
UPDATE … FROM then applies: a few statements per batch and no per-row work in Python beyond
handing over the values. Elsewhere (SQLite), and for a handful of rows, the same write is an
executemany of the equivalent Core statement.
"""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

import psycopg
from psycopg.types.json import Json
from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Integer,
    String,
    Table,
    any_,
    bindparam,
    func,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import UpdateBase

Row = Mapping[str, Any]
COPY_THRESHOLD = 32


def key_in(c: Connection, column: Any, keys: Sequence[str]) -> ColumnElement[bool]:
    """``column IN keys``; on PostgreSQL one array parameter instead of thousands of IN-list
    parameters (string keys)."""
    return _in_array(c, column, keys, String())


def id_in(c: Connection, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """:func:`key_in` for integer keys (account ids): one array parameter on PostgreSQL, where
    a statement of thousands of IN-list parameters is also re-parsed by the driver each time
    (it caches only short statements)."""
    return _in_array(c, column, ids, Integer())


def _in_array(c: Connection, column: Any, keys: Sequence[Any], element: Any) -> ColumnElement[bool]:
    if c.dialect.name == "postgresql":
        result: ColumnElement[bool] = column == any_(
            bindparam(f"keys_{column.name}", list(keys), type_=postgresql.ARRAY(element))
        )
        return result
    in_list: ColumnElement[bool] = column.in_(list(keys))
    return in_list


def insert_rows(
    c: Connection,
    table: Table,
    rows: Sequence[Row],
    *,
    upsert_on: Sequence[str] = (),
    upsert_where: str | None = None,
    keep: Sequence[str] = (),
) -> None:
    """Insert `rows` (dicts with the same keys); with `upsert_on`, a row whose key columns
    match an existing one overwrites that row's other given columns instead (but those in
    `keep`). `upsert_where` is the predicate of the partial unique index the key belongs to."""
    if not rows:
        return
    names = list(rows[0])
    kept = set(upsert_on) | set(keep)
    if _copy_pays(c, rows):
        q = c.dialect.identifier_preparer.quote
        columns = ", ".join(q(n) for n in names)
        if not upsert_on:
            _copy(c, table, q(table.name), names, rows)
            return
        staged = _stage(c, table, names, rows)
        changed = [n for n in names if n not in kept]
        where = f" WHERE {upsert_where}" if upsert_where else ""
        c.exec_driver_sql(
            f"INSERT INTO {q(table.name)} ({columns}) SELECT {columns} FROM {staged} "
            f"ON CONFLICT ({', '.join(q(n) for n in upsert_on)}){where} DO UPDATE SET "
            + ", ".join(f"{q(n)} = EXCLUDED.{q(n)}" for n in changed)
        )
        return
    if not upsert_on:
        executemany(c, table.insert(), rows)
        return
    stmt = (pg_insert if c.dialect.name == "postgresql" else sqlite_insert)(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c[n] for n in upsert_on],
        index_where=None if upsert_where is None else text(upsert_where),
        set_={n: stmt.excluded[n] for n in names if n not in kept},
    )
    executemany(c, stmt, rows)


def update_rows(
    c: Connection, table: Table, rows: Sequence[Row], *, key: str, keep_set: Sequence[str] = ()
) -> None:
    """Update the row whose `key` column matches each dict's `key` with the dict's other
    columns; a column in `keep_set` is written only where it is still NULL."""
    if not rows:
        return
    names = list(rows[0])
    changed = [n for n in names if n != key]
    if _copy_pays(c, rows):
        q = c.dialect.identifier_preparer.quote
        target = q(table.name)
        staged = _stage(c, table, names, rows)
        sets = ", ".join(
            f"{q(n)} = COALESCE({target}.{q(n)}, v.{q(n)})"
            if n in keep_set
            else f"{q(n)} = v.{q(n)}"
            for n in changed
        )
        c.exec_driver_sql(
            f"UPDATE {target} SET {sets} FROM {staged} AS v WHERE {target}.{q(key)} = v.{q(key)}"
        )
        return
    values = {
        n: func.coalesce(table.c[n], bindparam(f"v_{n}")) if n in keep_set else bindparam(f"v_{n}")
        for n in changed
    }
    stmt = update(table).where(table.c[key] == bindparam(f"v_{key}")).values(values)
    executemany(c, stmt, rows, prefix="v_")


def executemany(c: Connection, stmt: UpdateBase, rows: Sequence[Row], prefix: str = "") -> None:
    """``c.execute(stmt, rows)``, the same rows written; the statement's parameters are named
    ``prefix`` + the rows' keys. On SQLite a batch skips SQLAlchemy's per-row parameter
    bookkeeping (most of a pass's time in the writes there): the statement is compiled once,
    each value goes through its column type's own bind processor, and the driver's executemany
    takes the values; a datetime shared by the rows (a batch's "now") is converted once. Driver
    errors are raised as SQLAlchemy raises them."""
    if c.dialect.name != "sqlite" or len(rows) < COPY_THRESHOLD:
        c.execute(stmt, _named(rows, prefix))
        return
    compiled = stmt.compile(dialect=c.dialect, column_keys=[prefix + k for k in rows[0]])
    names = compiled.positiontup or []
    keys = [n[len(prefix) :] for n in names]
    if any(not n.startswith(prefix) for n in names) or set(keys) - set(rows[0]):
        c.execute(stmt, _named(rows, prefix))  # a column default SQLAlchemy computes per row
        return
    processors = [
        compiled.binds[n].type.dialect_impl(c.dialect).bind_processor(c.dialect) for n in names
    ]
    # Only the columns with a bind processor (money as exact text, datetimes, JSON) are touched
    # value by value; the rest go through as they are.
    processed = [(i, p) for i, p in enumerate(processors) if p is not None]
    converted: list[dict[datetime, Any]] = [{} for _ in names]
    take = itemgetter(*keys)
    params = []
    for row in rows:
        values = list(take(row)) if len(keys) > 1 else [row[keys[0]]]
        for i, process in processed:
            value = values[i]
            if value is None:
                continue
            if type(value) is datetime:
                seen = converted[i]
                if value not in seen:
                    seen[value] = process(value)
                values[i] = seen[value]
            else:
                values[i] = process(value)
        params.append(values)
    sql = compiled.string
    cursor = c.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, params)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc
    finally:
        cursor.close()


def _named(rows: Sequence[Row], prefix: str) -> list[Row]:
    if not prefix:
        return list(rows)
    return [{prefix + k: v for k, v in row.items()} for row in rows]


def _copy_pays(c: Connection, rows: Sequence[Row]) -> bool:
    # COPY's fixed cost (a staging table, a copy round trip) pays off from a few dozen rows;
    # a single API order goes the plain way.
    return c.dialect.name == "postgresql" and len(rows) >= COPY_THRESHOLD


def _stage(c: Connection, table: Table, names: Sequence[str], rows: Sequence[Row]) -> str:
    """COPY `rows` into a temporary table of just `names` (emptied at commit); its name."""
    q = c.dialect.identifier_preparer.quote
    staged = q(f"_stage_{table.name}_{zlib.crc32(','.join(names).encode()):08x}")
    c.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {staged} ON COMMIT DELETE ROWS AS "
        f"SELECT {', '.join(q(n) for n in names)} FROM {q(table.name)} WITH NO DATA"
    )
    _copy(c, table, staged, names, rows)
    return staged


def _copy(
    c: Connection, table: Table, target: str, names: Sequence[str], rows: Sequence[Row]
) -> None:
    """COPY `rows` into `target` (the table, or its staging table of the same column types) in
    PostgreSQL's binary format: psycopg packs each value in C and the server parses no text,
    about half the time of a text COPY of the scheduler's order rows."""
    q = c.dialect.identifier_preparer.quote
    as_json = {n for n in names if isinstance(table.c[n].type, JSON)}
    statement = f"COPY {target} ({', '.join(q(n) for n in names)}) FROM STDIN (FORMAT BINARY)"
    cursor = c.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        types = _column_types(cursor, table.name, names)
        with cursor.copy(statement) as copy:
            copy.set_types(types)
            if as_json:
                # Wrapped, a JSON value is dumped as JSON even when it is None ('null', as
                # SQLAlchemy's JSON type writes it), not taken for SQL NULL.
                for row in rows:
                    copy.write_row([Json(row[n]) if n in as_json else row[n] for n in names])
            elif len(names) > 1:
                take = itemgetter(*names)
                for row in rows:
                    copy.write_row(take(row))
            else:
                for row in rows:
                    copy.write_row((row[names[0]],))
    except psycopg.Error as exc:
        # Raised as SQLAlchemy raises driver errors (IntegrityError, OperationalError, ...),
        # so callers handle COPY failures like any other statement's.
        raise DBAPIError.instance(statement, None, exc, psycopg.Error) from exc
    finally:
        cursor.close()


_TYPES: dict[str, dict[str, int]] = {}
"""The type oid of each column of a table, by table name. Only tables of built-in types are
kept: a built-in type's oid is the same in every database, a user-defined type's is not."""
_FIRST_USER_OID = 16384  # PostgreSQL's FirstNormalObjectId


def _column_types(cursor: Any, table: str, names: Sequence[str]) -> list[int]:
    """The type oids of `names` in `table`, which a binary COPY must be given (read once)."""
    known = _TYPES.get(table)
    if known is None or any(n not in known for n in names):
        found: dict[str, int] = dict(
            cursor.execute(
                "SELECT attname, atttypid::int FROM pg_attribute WHERE attrelid = %s::regclass"
                " AND attnum > 0 AND NOT attisdropped",
                (table,),
            ).fetchall()
        )
        if all(oid < _FIRST_USER_OID for oid in found.values()):
            _TYPES[table] = found
        known = found
    return [known[n] for n in names]
