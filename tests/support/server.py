"""Real `python -m autopilot serve` processes, reached over real HTTP, and the CLI.

`launch(workdir, env)` starts a server on a free port on 127.0.0.1 with its own SQLite file (or
the DATABASE_URL given), in its own working folder so no stray `.env` is read, waits until the
status endpoint answers, and returns a `RunningServer` (base URL, an httpx client, the process,
its output). `RunningServer.stop()` sends SIGTERM, then kills a server that hangs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.waiting import wait_for

HOST = "127.0.0.1"
STARTUP_DEADLINE_S = 30.0
STOP_DEADLINE_S = 15.0
STATUS_PATH = "/api/automation/scheduler/status"
HEALTH_PATH = "/api/health"
KEY_FILE = "autopilot-admin.key"
# Generous limits for the suite's traffic; the rate-limit tests set their own.
TEST_LIMITS = {
    "AUTOMATION_RATE_LIMIT_API": "100000/minute",
    "AUTOMATION_RATE_LIMIT_EXECUTE": "100000/minute",
    "AUTOMATION_RATE_LIMIT_AUTH_FAILURES": "100000/minute",
}


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
    admin_key: str = ""
    returncode: int | None = field(default=None)
    others: list[httpx.Client] = field(default_factory=list)

    def poll(self) -> int | None:
        return self.proc.poll()

    def describe(self) -> str:
        return f"the server exited with {self.proc.returncode}"

    def answers(self) -> bool:
        """Whether the server answers its health endpoint (it has started)."""
        try:
            return self.client.get(HEALTH_PATH, timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    def client_with(self, key: str | None) -> httpx.Client:
        """An HTTP client that sends ``key`` (none: no Authorization header); closed at stop."""
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        made = httpx.Client(base_url=self.base_url, timeout=10.0, headers=headers)
        self.others.append(made)
        return made

    def new_key(self, role: str, client_id: int | None = None, name: str = "test") -> str:
        """A new key of ``role`` (of ``client_id``), made by the admin over HTTP."""
        body = {"name": name, "role": role, "clientId": client_id}
        answer = self.client.post("/api/api-keys", json=body)
        assert answer.status_code == 201, answer.text
        key: str = answer.json()["data"]["key"]
        return key

    def client_as(self, role: str, client_id: int | None = None) -> httpx.Client:
        """An HTTP client with a new key of ``role`` (of ``client_id``)."""
        return self.client_with(self.new_key(role, client_id))

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
        for other in self.others:
            other.close()
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


def launch(workdir: Path, env_overrides: Mapping[str, str]) -> RunningServer:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    settings = {
        "DATABASE_URL": f"sqlite:///{workdir}/autopilot.db",
        "AUTOMATION_HOST": HOST,
        "AUTOMATION_PORT": str(port),
        **TEST_LIMITS,
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
    try:
        wait_for(
            server.answers,
            what=f"the server to answer on {base_url}",
            timeout_s=STARTUP_DEADLINE_S,
            interval_s=0.1,
            alive=[server],
        )
    except AssertionError as exc:
        server.stop()
        pytest.fail(f"{exc}\n{server.output()}")
    server.admin_key = admin_key(workdir, env)
    server.client.headers["Authorization"] = f"Bearer {server.admin_key}"
    return server


StartServer = Callable[..., RunningServer]


def admin_key(workdir: Path, env: Mapping[str, str]) -> str:
    """The admin key a server wrote on its first start, or (the database had one already: a
    second server on it) a new one made with the CLI on the same database."""
    written = workdir / KEY_FILE
    if written.exists():
        return written.read_text().strip()
    made = run_cli(
        ["keys", "create", "--role", "admin", "--name", "e2e admin", "--json"], cwd=workdir, env=env
    )
    assert made.returncode == 0, made.stderr
    key: str = json.loads(made.stdout)["key"]
    return key
