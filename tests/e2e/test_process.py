"""The `autopilot` command as a real process: shutdown, bad settings, run-once, prices import."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.http import (
    data,
    first_run_of_rule_body,
    funded_account,
    market_today,
    position_quantities,
    rule_body,
)
from tests.support.server import StartServer, child_env, run_cli

pytestmark = pytest.mark.e2e


@pytest.mark.real_clock
def test_sigterm_stops_the_server_cleanly(start_server: StartServer) -> None:
    server = start_server(AUTOMATION_CHECK_INTERVAL="200")
    assert data(server.client.get("/api/automation/scheduler/status"))["isRunning"] is True
    server.proc.send_signal(signal.SIGTERM)
    # uvicorn re-raises the signal after its graceful shutdown, so the exit is "killed by
    # SIGTERM" (-15), which systemd and container runtimes count as a clean stop.
    assert server.proc.wait(15) == -signal.SIGTERM
    log = server.stderr
    assert "Traceback" not in log
    assert "[Automation Scheduler] Scheduler stopped" in log
    assert "Application shutdown complete" in log


BAD_SETTINGS = [
    ("AUTOMATION_CHECK_INTERVAL", "abc"),
    ("AUTOMATION_CHECK_INTERVAL", "0"),
    ("AUTOMATION_CHECK_INTERVAL", "-5"),
    ("AUTOMATION_TIMEZONE", "Mars/Base"),
    ("AUTOMATION_SCHEDULER_ENABLED", "maybe"),
    ("DATABASE_URL", "notaurl://"),
    ("DATABASE_URL", "mysql://u@h/db"),
    ("AUTOMATION_RATE_LIMIT_API", "lots"),
    ("AUTOMATION_RATE_LIMIT_EXECUTE", "0/minute"),
    ("AUTOMATION_RATE_LIMIT_AUTH_FAILURES", "5/fortnight"),
    ("AUTOMATION_ADMIN_KEY_FILE", ""),
    ("AUTOMATION_FORWARDED_ALLOW_IPS", "10.0.0.300"),
    ("AUTOMATION_WORKER_LEASE", "0"),
    ("AUTOMATION_WORKER_SHUTDOWN_TIMEOUT", "soon"),
]


@dataclass(frozen=True)
class Refusal:
    returncode: int
    stderr: str
    database_created: bool


@pytest.fixture(scope="module")
def refusals(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Refusal]:
    """`serve` with each bad setting, all started at once (each is a Python start-up)."""
    running = {}
    for variable, value in BAD_SETTINGS:
        folder = tmp_path_factory.mktemp("bad-setting")
        env = child_env(DATABASE_URL=f"sqlite:///{folder}/autopilot.db", AUTOMATION_PORT="1")
        env[variable] = value
        proc = subprocess.Popen(
            [sys.executable, "-m", "autopilot", "serve"],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        running[(variable, value)] = (proc, folder)
    results = {}
    for key, (proc, folder) in running.items():
        try:
            _, stderr = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
        results[key] = Refusal(
            returncode=proc.returncode,
            stderr=stderr,
            database_created=(folder / "autopilot.db").exists(),
        )
    return results


@pytest.mark.parametrize(("variable", "value"), BAD_SETTINGS)
def test_bad_setting_stops_start_up_with_one_line_naming_it(
    refusals: dict[tuple[str, str], Refusal], variable: str, value: str
) -> None:
    result = refusals[(variable, value)]
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert not result.database_created  # stopped before touching the database


def test_bad_setting_in_dot_env_is_named_too(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("AUTOMATION_CHECK_INTERVAL=soon\n")
    env = child_env(DATABASE_URL=f"sqlite:///{tmp_path}/autopilot.db")
    result = run_cli(["serve"], cwd=tmp_path, env=env, timeout=30)
    assert result.returncode != 0
    assert "AUTOMATION_CHECK_INTERVAL" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_once_with_the_database_unreachable_exits_1_with_one_line_and_its_json(
    tmp_path: Path,
) -> None:
    env = child_env(DATABASE_URL="postgresql+psycopg://autopilot@127.0.0.1:1/autopilot")

    result = run_cli(["run-once", "--json"], cwd=tmp_path, env=env, timeout=60)

    assert result.returncode == 1, (result.returncode, result.stderr)  # cron: try again later
    assert "Traceback" not in result.stderr
    assert "cannot prepare the database at DATABASE_URL" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["type"] == "all" and "DATABASE_URL" in summary["error"]


@pytest.mark.real_clock
def test_run_once_as_of_prints_the_pass_as_json(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server(AUTOMATION_SCHEDULER_ENABLED="false")
    who = funded_account(server.client, "10000.00", {"VTI": "250.00", "BND": "72.50"})
    rule = data(server.client.post("/api/automation/auto-invest-rules", json=rule_body(who)), 201)
    first_run = first_run_of_rule_body(market_today()).isoformat()  # the server's today decides
    assert rule["nextExecutionDate"] == first_run
    server.stop()

    env = child_env(DATABASE_URL=server.database_url)
    as_of = ["run-once", "--as-of", first_run, "--json"]
    result = run_cli(as_of, cwd=server.workdir, env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert {"executed", "skipped", "failed"} <= set(summary)
    assert summary["error"] is None
    assert [r["ruleId"] for r in summary["executed"]] == [rule["id"]]
    assert summary["executed"][0]["executionDate"] == first_run
    assert (summary["skipped"], summary["failed"]) == ([], [])

    # The same occurrence never runs twice.
    again = run_cli(as_of, cwd=server.workdir, env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["executed"] == []


@pytest.mark.real_clock
def test_run_once_type_chooses_the_automations_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    env = child_env(DATABASE_URL=f"sqlite:///{tmp_path}/autopilot.db")
    for kind in ("all", "auto-invest", "rebalancing", "triggers"):
        result = run_cli(["run-once", "--type", kind, "--json"], cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["type"] == kind
    refused = run_cli(["run-once", "--type", "bogus"], cwd=tmp_path, env=env)
    assert refused.returncode != 0
    assert "bogus" in refused.stderr and "Traceback" not in refused.stderr


@pytest.mark.parametrize("value", ["2026-13-01", "tomorrow", "2026-02-30"])
def test_run_once_with_a_bad_as_of_names_the_value(tmp_path: Path, value: str) -> None:
    env = child_env(DATABASE_URL=f"sqlite:///{tmp_path}/autopilot.db")
    result = run_cli(["run-once", "--as-of", value, "--json"], cwd=tmp_path, env=env)
    assert result.returncode != 0
    assert value in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.real_clock
def test_prices_import_refuses_a_bad_line_then_imports_a_good_file(
    start_server: StartServer, tmp_path: Path
) -> None:
    workdir = tmp_path / "srv"
    workdir.mkdir()
    url = f"sqlite:///{workdir}/autopilot.db"
    env = child_env(DATABASE_URL=url)

    bad = tmp_path / "bad.csv"
    bad.write_text("symbol,price\nVTI,250.00\nBND,abc\n")
    result = run_cli(["prices", "import", str(bad)], cwd=workdir, env=env)
    assert result.returncode != 0
    assert ":3:" in result.stderr and "abc" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr

    # Nothing was imported: VTI is still unknown.
    server = start_server(workdir=workdir, DATABASE_URL=url, AUTOMATION_SCHEDULER_ENABLED="false")
    who = funded_account(server.client, "1000.00")
    order = {"accountId": who.account_id, "symbol": "VTI", "side": "buy", "notional": "100.00"}
    response = server.client.post("/api/orders", json=order)
    assert response.status_code == 422, response.text
    assert "VTI" in response.json()["error"]["message"]

    good = tmp_path / "good.csv"
    good.write_text("symbol,price\nVTI,250.00\nBND,72.50\n")
    result = run_cli(["prices", "import", str(good)], cwd=workdir, env=env)
    assert result.returncode == 0, result.stderr
    assert "imported 2 price(s)" in result.stdout

    placed = data(server.client.post("/api/orders", json=order), 201)
    assert placed["status"] == "Filled"
    account = data(server.client.get(f"/api/accounts/{who.account_id}"))
    assert position_quantities(account) == {"VTI": "0.400000"}


@pytest.mark.real_clock
def test_serve_on_a_port_in_use_stops_with_one_line_before_running_anything(
    start_server: StartServer, tmp_path: Path
) -> None:
    running = start_server(AUTOMATION_SCHEDULER_ENABLED="false")
    port = running.base_url.rsplit(":", 1)[1]
    env = child_env(DATABASE_URL=f"sqlite:///{tmp_path}/autopilot.db", AUTOMATION_PORT=port)

    result = run_cli(["serve"], cwd=tmp_path, env=env, timeout=30)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Running scheduled checks" not in result.stderr  # no pass before the failed start
    assert f"Listening on http://127.0.0.1:{port}" in running.stderr  # the first one says where
