"""The database a benchmark runs on: a SQLite file in a temporary folder, or PostgreSQL (the
URL given, else a throwaway server from the test suite's `tests/pg.py`)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def database(backend: str, postgres_url: str | None = None) -> Iterator[str]:
    """A fresh database's URL for ``backend`` (``sqlite`` or ``postgres``), gone afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="autopilot-bench-") as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    if postgres_url is not None:
        yield postgres_url
        return
    from tests.pg import ThrowawayPostgres

    with ThrowawayPostgres() as server:
        yield server.create_database()
