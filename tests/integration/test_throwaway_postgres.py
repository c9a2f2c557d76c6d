"""The throwaway PostgreSQL helper itself works."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.pg import ThrowawayPostgres


def _scalar(url: str, query: str) -> object:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(query)).scalar_one()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_pg_url_accepts_connections(pg_url: str) -> None:
    assert _scalar(pg_url, "SELECT 1") == 1
    assert _scalar(pg_url, "SELECT current_database()") == make_url(pg_url).database


@pytest.mark.postgres
def test_each_pg_url_is_a_separate_database(pg_server: ThrowawayPostgres, pg_url: str) -> None:
    other = pg_server.create_database()
    try:
        assert make_url(other).database != make_url(pg_url).database
        engine = sa.create_engine(pg_url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("CREATE TABLE only_here (x int)"))
        finally:
            engine.dispose()
        assert _scalar(other, "SELECT to_regclass('only_here') IS NULL") is True
    finally:
        pg_server.drop_database(other)
    dropped = make_url(other).database
    count = f"SELECT count(*) FROM pg_database WHERE datname = '{dropped}'"
    assert _scalar(pg_url, count) == 0


# Not marked: the db_url fixture marks its own postgres case.
def test_db_url_fixture(db_url: str) -> None:
    assert _scalar(db_url, "SELECT 1") == 1


@pytest.fixture
def private_server(pg_server: ThrowawayPostgres) -> Iterator[ThrowawayPostgres]:
    """A second cluster, so that stopping it does not disturb the shared one."""
    with ThrowawayPostgres(pg_server.bin_dir) as server:
        yield server


@pytest.mark.postgres
def test_restart_keeps_data(private_server: ThrowawayPostgres) -> None:
    url = private_server.create_database()
    port = private_server.port
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE kept (x int)"))
            conn.execute(sa.text("INSERT INTO kept VALUES (42)"))

        private_server.stop_server()
        assert not private_server.running
        with pytest.raises(sa.exc.OperationalError), engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        private_server.stop_server()  # stopping twice is harmless

        private_server.start_server()
        assert private_server.running
        assert private_server.port == port
        engine.dispose()  # pooled connections died with the old server
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT x FROM kept")).scalar_one() == 42
    finally:
        engine.dispose()
    private_server.stop()
    private_server.stop()  # stopping twice is harmless
    assert private_server.root is None
