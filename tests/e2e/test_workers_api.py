"""The dedicated workers as the operator sees them over HTTP: GET /api/automation/workers and
the status endpoint, with a real `autopilot worker` beside a real server on PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.http import data
from tests.support.server import StartServer, child_env, free_port
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

WORKERS = "/api/automation/workers"


def _passes(url: str) -> str | None:
    """The worker's metrics once they count a finished pass."""
    try:
        text = httpx.get(url).text
    except httpx.HTTPError:
        return None
    return text if 'autopilot_passes_total{outcome="ok"} 1.0' in text else None


def listed(api: httpx.Client) -> dict[str, dict[str, Any]]:
    return {w["id"]: w for w in data(api.get(WORKERS))["items"]}


def test_a_worker_is_listed_alive_while_it_runs_and_stopped_after_sigterm(
    start_server: StartServer, pg_url: str, tmp_path: Path
) -> None:
    server = start_server(AUTOMATION_SCHEDULER_ENABLED="false", DATABASE_URL=pg_url)
    api = server.client
    assert data(api.get(WORKERS)) == {"items": [], "total": 0, "page": 1, "pageSize": 50}
    err = (tmp_path / "worker.err").open("wb")
    port = free_port()
    argv = ["-m", "autopilot", "worker", "--id", "host-a:1", "--metrics-port", str(port)]
    worker = subprocess.Popen(
        [sys.executable, *argv],
        cwd=tmp_path,
        env=child_env(DATABASE_URL=pg_url, AUTOMATION_WORKER_LEASE="3"),
        stdout=subprocess.DEVNULL,
        stderr=err,
    )
    try:
        seen = wait_for(
            lambda: listed(api).get("host-a:1"), what="the worker to register", timeout_s=60
        )
        assert (seen["status"], seen["stoppedAt"]) == ("alive", None)
        assert seen["pid"] == worker.pid and seen["host"]
        status = data(api.get("/api/automation/scheduler/status"))
        assert [w["id"] for w in status["workers"]] == ["host-a:1"]
        scraped = wait_for(
            lambda: _passes(f"http://127.0.0.1:{port}/metrics"),
            what="the worker's /metrics to count its first pass",
        )
        assert "autopilot_workers_alive 1.0" in scraped
        operator = server.client_as("operator")
        assert [w["id"] for w in data(operator.get(WORKERS))["items"]] == ["host-a:1"]

        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
        stopped = listed(api)["host-a:1"]
        assert stopped["status"] == "stopped" and stopped["stoppedAt"] is not None
        assert data(api.get("/api/automation/scheduler/status"))["workers"] == []
    finally:
        if worker.poll() is None:
            worker.kill()
        err.close()
