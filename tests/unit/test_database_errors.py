"""Which database errors mean "unavailable, try again" (a 503) rather than a bug (a 500)."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from sqlalchemy.exc import OperationalError

from autopilot.storage.db import is_unavailable


def wrapped(orig: BaseException, *, invalidated: bool = False) -> OperationalError:
    return OperationalError("SELECT 1", {}, orig, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    ("orig", "retry"),
    [
        (sqlite3.OperationalError("database is locked"), True),
        (sqlite3.OperationalError("no such table: auto_invest_rules"), False),  # not migrated
        (sqlite3.OperationalError('near "SELEC": syntax error'), False),
        (psycopg.OperationalError("connection refused"), True),  # no SQLSTATE: never connected
        (psycopg.errors.AdminShutdown("terminating connection"), True),
        (psycopg.errors.DeadlockDetected("deadlock detected"), True),
        (psycopg.errors.LockNotAvailable("could not obtain lock"), True),
        (psycopg.errors.DiskFull("no space left on device"), False),
    ],
)
def test_only_an_unreachable_or_busy_database_is_unavailable(
    orig: BaseException, retry: bool
) -> None:
    assert is_unavailable(wrapped(orig)) is retry


def test_a_connection_sqlalchemy_found_dead_is_unavailable() -> None:
    assert is_unavailable(wrapped(sqlite3.OperationalError("disk I/O error"), invalidated=True))
