"""End-to-end fixtures: `python -m autopilot serve` as a real process, reached over real HTTP.

`start_server(**env)` starts a server on a free port on 127.0.0.1 with its own SQLite file (or the
DATABASE_URL given), in its own working folder so no stray `.env` is read, waits until the status
endpoint answers, and returns a `RunningServer` (base URL, an httpx client, the process, its
output). Every server a test starts is stopped at teardown: SIGTERM, then a kill if it hangs.
`shared_server` is one server for the whole session, for tests that only add their own rows.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

HOST = "127.0.0.1"
STARTUP_DEADLINE_S = 30.0
STOP_DEADLINE_S = 15.0
STATUS_PATH = "/api/automation/scheduler/status"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def child_env(**overrides: str) -> dict[str, str]:
    """The test process's environment without any Autopilot setting, plus `overrides`.

    PYTHONPATH carries the test process's sys.path, so `-m autopilot` finds the package whether or
    not it is installed.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AUTOMATION_") and k != "DATABASE_URL"
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def run_cli(
    args: list[str], *, cwd: Path, env: Mapping[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m autopilot ARGS` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "autopilot", *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class RunningServer:
    proc: subprocess.Popen[bytes]
    base_url: str
    client: httpx.Client
    workdir: Path
    database_url: str
    env: dict[str, str]
    stdout_path: Path
    stderr_path: Path
    returncode: int | None = field(default=None)

    def output(self) -> str:
        out = self.stdout_path.read_text(errors="replace")
        err = self.stderr_path.read_text(errors="replace")
        return f"--- stdout ---\n{out}\n--- stderr ---\n{err}"

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, wait; kill if it hangs. Returns the exit code; the process is gone after."""
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_DEADLINE_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_DEADLINE_S)
                pytest.fail(f"the server ignored SIGTERM for {STOP_DEADLINE_S}s\n{self.output()}")
        self.returncode = self.proc.returncode
        return self.returncode


def _launch(workdir: Path, env_overrides: Mapping[str, str]) -> RunningServer:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    settings = {
        "DATABASE_URL": f"sqlite:///{workdir}/autopilot.db",
        "AUTOMATION_HOST": HOST,
        "AUTOMATION_PORT": str(port),
        **env_overrides,
    }
    env = child_env(**settings)
    stdout_path, stderr_path = workdir / "server.stdout", workdir / "server.stderr"
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "autopilot", "serve"],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=err,
        )
    base_url = f"http://{HOST}:{port}"
    server = RunningServer(
        proc=proc,
        base_url=base_url,
        client=httpx.Client(base_url=base_url, timeout=10.0),
        workdir=workdir,
        database_url=settings["DATABASE_URL"],
        env=env,
        stdout_path=stdout_path,
        stderr_path=stderr_path,
    )
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while True:
        if proc.poll() is not None:
            server.client.close()
            pytest.fail(f"the server exited with {proc.returncode} at start-up\n{server.output()}")
        try:
            if server.client.get(STATUS_PATH, timeout=1.0).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            pytest.fail(
                f"the server did not answer within {STARTUP_DEADLINE_S}s\n{server.output()}"
            )
        time.sleep(0.1)


StartServer = Callable[..., RunningServer]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """Factory: `start_server(AUTOMATION_CHECK_INTERVAL="200", ...)` → a running server.

    Keyword arguments are environment variables for the server (DATABASE_URL included); `workdir=`
    chooses its working folder (default: a new folder under tmp_path).
    """
    started: list[RunningServer] = []

    def start(*, workdir: Path | None = None, **env: str) -> RunningServer:
        folder = workdir or tmp_path / f"server{len(started)}"
        server = _launch(folder, env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
        assert server.proc.poll() is not None


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for the session (scheduler enabled, hourly): tests create their own rows."""
    server = _launch(tmp_path_factory.mktemp("shared"), {})
    yield server
    server.stop()


@pytest.fixture
def api(shared_server: RunningServer) -> httpx.Client:
    return shared_server.client
