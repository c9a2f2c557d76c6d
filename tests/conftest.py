"""Shared fixtures: database URLs for SQLite and a throwaway PostgreSQL server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.pg import ThrowawayPostgres, find_pg_bin

# Locally hypothesis explores new examples on every run; in CI it replays a fixed sequence, so a
# submission lands or not on its own merits (a new counterexample found locally is kept in the
# example database and fixed before it reaches CI).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")

# `make test` spreads the files over worker processes (pytest-xdist, --dist loadfile), handing
# them out in collection order (the Makefile turns xdist's reordering off). These take the
# longest (minutes each on a 2-core machine), so they go first: started last, one of them would
# keep its worker busy after the rest had ended.
LONGEST_FIRST = (
    "tests/integration/test_chaos.py",
    "tests/e2e/test_openapi_conformance.py",
    "tests/e2e/test_security.py",
    "tests/e2e/test_process.py",
    "tests/integration/test_trigger_processes.py",
    "tests/integration/test_exactly_once_processes.py",
    "tests/e2e/test_access_matrix.py",
    "tests/e2e/test_dashboard_browser.py",
)
_ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The LONGEST_FIRST files first; the order is otherwise kept (the sort is stable), so each
    file's tests still run in the order they are written."""
    rank = {_ROOT / name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path, len(rank)))


PG_MISSING = (
    "PostgreSQL binaries (initdb, pg_ctl) not found; "
    "install postgresql-15 to run the PostgreSQL tests"
)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[ThrowawayPostgres]:
    """One throwaway PostgreSQL cluster for the whole session (started on first use)."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{PG_MISSING} (CI=true: PostgreSQL tests must run in CI)")
        pytest.skip(PG_MISSING)
    server = ThrowawayPostgres(bin_dir).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: ThrowawayPostgres) -> Iterator[str]:
    """SQLAlchemy URL of a fresh PostgreSQL database, dropped after the test."""
    if not pg_server.running:  # a previous test stopped the server and did not restart it
        pg_server.start_server()
    url = pg_server.create_database()
    yield url
    if not pg_server.running:  # this test simulated an outage; bring the server back
        pg_server.start_server()
    pg_server.drop_database(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """SQLAlchemy URL of a new SQLite database file in the test's tmp_path."""
    return f"sqlite:///{tmp_path}/autopilot.db"


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest) -> str:
    """Run the test once against SQLite and once against PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(fixture)
    return url
