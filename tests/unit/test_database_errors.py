"""How a driver's error reaches the services: unavailable (try again later), busy (try again),
out of range (the caller's input), or refused (the rows the statements wrote)."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from autopilot.services.ports import DatabaseUnavailable, Refusal, RefusedByDatabase
from autopilot.storage.unit_of_work import translate


def wrapped(orig: BaseException, *, invalidated: bool = False) -> OperationalError:
    return OperationalError("SELECT 1", {}, orig, connection_invalidated=invalidated)


def retryable(exc: Exception) -> bool:
    """What the API answers 503 for: the caller can try again."""
    return isinstance(exc, DatabaseUnavailable) or (
        isinstance(exc, RefusedByDatabase) and exc.refusal is Refusal.BUSY
    )


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
    assert retryable(translate(wrapped(orig))) is retry


@pytest.mark.parametrize(
    ("orig", "expected"),
    [
        (psycopg.OperationalError("connection refused"), DatabaseUnavailable),
        (psycopg.errors.AdminShutdown("terminating connection"), DatabaseUnavailable),
        (sqlite3.OperationalError("database is locked"), Refusal.BUSY),
        (psycopg.errors.LockNotAvailable("could not obtain lock"), Refusal.BUSY),
        (psycopg.errors.DeadlockDetected("deadlock detected"), Refusal.BUSY),
        (sqlite3.OperationalError("no such table: auto_invest_rules"), Refusal.REFUSED),
    ],
)
def test_unreachable_is_unavailable_and_a_lock_given_up_is_busy(
    orig: BaseException, expected: type[Exception] | Refusal
) -> None:
    translated = translate(wrapped(orig))
    if isinstance(expected, Refusal):
        assert isinstance(translated, RefusedByDatabase)
        assert translated.refusal is expected
    else:
        assert isinstance(translated, expected)


def test_a_connection_sqlalchemy_found_dead_is_unavailable() -> None:
    dead = wrapped(sqlite3.OperationalError("disk I/O error"), invalidated=True)
    assert isinstance(translate(dead), DatabaseUnavailable)


def test_no_free_connection_in_the_pool_is_unavailable() -> None:
    assert isinstance(translate(PoolTimeout("QueuePool limit reached")), DatabaseUnavailable)


def test_a_value_that_does_not_fit_its_column_is_out_of_range() -> None:
    overflow = DataError("INSERT", {}, psycopg.errors.NumericValueOutOfRange("overflow"))
    translated = translate(overflow)
    assert isinstance(translated, RefusedByDatabase)
    assert translated.refusal is Refusal.OUT_OF_RANGE


def test_a_constraint_the_rows_break_is_refused_and_names_the_error() -> None:
    duplicate = IntegrityError(
        "INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed: logs.id")
    )
    translated = translate(duplicate)
    assert isinstance(translated, RefusedByDatabase)
    assert translated.refusal is Refusal.REFUSED
    assert "UNIQUE constraint failed" in str(translated)
