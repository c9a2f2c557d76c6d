"""The deployment files name commands, options and settings that exist (issue 10).

The compose file cannot be run on these machines (no container runtime in CI), so this checks
what can go stale: every `autopilot` command line in deploy/ is a command of the CLI with options
it has, and every AUTOMATION_* or DATABASE_URL variable is a setting the service reads.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import typer.main
import yaml

from autopilot.cli import app
from autopilot.config import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SETTINGS = {name.upper() for name in Settings.model_fields}


def _command(argv: list[str]) -> Any:
    """The CLI command an `autopilot ...` argv names; fails on an unknown command or option."""
    assert argv[0].endswith("autopilot"), argv
    command: Any = typer.main.get_command(app)
    words = argv[1:]
    while hasattr(command, "commands") and words and not words[0].startswith("-"):
        sub = command.commands.get(words[0])
        assert sub is not None, f"no command {words[0]!r} in {argv}"
        command, words = sub, words[1:]
    options = {o for p in command.params for o in getattr(p, "opts", [])}
    for word in words:
        if word.startswith("--"):
            assert word.split("=")[0] in options, f"{argv}: {word} is not an option of it"
    return command


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return loaded


def test_the_compose_file_runs_postgres_one_server_with_the_scheduler_off_and_two_workers() -> None:
    services = _compose()["services"]
    assert services["postgres"]["image"] == "postgres:15"
    commands = {name: s.get("command") for name, s in services.items()}
    assert commands["migrate"] == ["autopilot", "db", "upgrade"]
    assert commands["api"][:2] == ["autopilot", "serve"]
    assert services["api"]["environment"]["AUTOMATION_SCHEDULER_ENABLED"] == "false"
    assert commands["worker"] == ["autopilot", "worker"]
    assert services["worker"]["deploy"]["replicas"] == 2
    for name in ("api", "worker"):  # migrations run once, before either starts
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    for argv in commands.values():
        if argv and argv[0] == "autopilot":
            _command(argv)


def test_every_setting_the_deploy_files_use_is_one_the_service_reads() -> None:
    used: set[str] = set()
    for service in _compose()["services"].values():
        used |= {k for k in service.get("environment", {}) if not k.startswith("POSTGRES_")}
    unit = (DEPLOY / "autopilot-worker.service").read_text()
    used |= set(re.findall(r"\b(?:AUTOMATION_[A-Z_]+|DATABASE_URL)\b", unit))
    assert {"DATABASE_URL", "AUTOMATION_WORKER_LEASE"} <= used
    assert used <= SETTINGS, used - SETTINGS


def test_the_systemd_unit_starts_a_worker_and_gives_it_time_to_stop() -> None:
    unit = (DEPLOY / "autopilot-worker.service").read_text()
    [start] = re.findall(r"^ExecStart=(.+)$", unit, re.MULTILINE)
    command = _command(shlex.split(start))
    assert command.name == "worker"
    assert "KillSignal=SIGTERM" in unit
    [stop_s] = re.findall(r"^TimeoutStopSec=(\d+)$", unit, re.MULTILINE)
    default_timeout = Settings.model_fields["automation_worker_shutdown_timeout"].default
    assert int(stop_s) > default_timeout  # systemd waits past the worker's own timeout
