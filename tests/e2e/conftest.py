"""End-to-end fixtures: servers started as real processes (:mod:`tests.support.server`).

`start_server(**env)` starts a server for one test; `shared_server` is one server for the whole
session, for tests that only add their own rows. Every server is stopped at teardown.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import RunningServer, StartServer, launch


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """Factory: `start_server(AUTOMATION_CHECK_INTERVAL="200", ...)` → a running server.

    Keyword arguments are environment variables for the server (DATABASE_URL included); `workdir=`
    chooses its working folder (default: a new folder under tmp_path).
    """
    started: list[RunningServer] = []

    def start(*, workdir: Path | None = None, **env: str) -> RunningServer:
        folder = workdir or tmp_path / f"server{len(started)}"
        server = launch(folder, env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
        assert server.proc.poll() is not None


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for the session (scheduler enabled, hourly): tests create their own rows."""
    server = launch(tmp_path_factory.mktemp("shared"), {})
    yield server
    server.stop()


@pytest.fixture
def api(shared_server: RunningServer) -> httpx.Client:
    return shared_server.client
