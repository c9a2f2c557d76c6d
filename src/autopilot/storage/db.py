"""Database engines for SQLite (embedded) and PostgreSQL (production).

SQLite is shared by the API and the in-process scheduler: WAL lets readers run beside the writer,
a busy timeout makes a writer wait instead of failing with "database is locked", and every
transaction starts with BEGIN IMMEDIATE so a transaction never has to upgrade a read lock to a write
lock mid-way (the one case SQLite's busy timeout cannot wait out).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY = "autopilot_read_only"
"""The execution option of a read-only unit of work's connection (a plain BEGIN on SQLite)."""


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout, foreign keys and BEGIN IMMEDIATE."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 5},
    )


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A writer takes the write lock at once (it never has to upgrade a read lock mid-way, the
        # one wait SQLite's busy timeout cannot make); a read-only unit reads its WAL snapshot.
        deferred = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")

    return engine


# SQLSTATE classes and codes of a connection that is gone: connection exceptions, shutdowns.
_UNREACHABLE_STATES = ("08", "57P01", "57P02", "57P03")
# ... and of a statement that gave up waiting: deadlock, serialization failure, lock not available.
_BUSY_STATES = ("40P01", "40001", "55P03")
_BUSY_SQLITE = ("database is locked", "database is busy")


def is_unreachable(exc: DBAPIError) -> bool:
    """Whether the database could not be reached or the connection was lost."""
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if isinstance(orig, psycopg.OperationalError):
        # A failure to connect (refused, reset, timed out) carries no SQLSTATE at all.
        state = orig.sqlstate
        return state is None or state.startswith(_UNREACHABLE_STATES)
    return False


def is_busy(exc: DBAPIError) -> bool:
    """Whether a statement gave up on a lock (the rows were busy, not wrong)."""
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        return str(orig).startswith(_BUSY_SQLITE)
    if isinstance(orig, psycopg.Error):
        return (orig.sqlstate or "").startswith(_BUSY_STATES)
    return False
