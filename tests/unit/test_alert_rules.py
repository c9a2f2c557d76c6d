"""deploy/prometheus/alerts.yml: valid for Prometheus, its alerts unit-tested with promtool, and
every metric it reads one that Autopilot exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from autopilot.metrics import Metrics

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian: apt-get install prometheus)"
)
# Read from the database at scrape time (autopilot.metrics.WaitingWork), not in the registry.
SCRAPE_TIME = {
    "autopilot_due_rules",
    "autopilot_pending_approvals",
    "autopilot_trigger_orders_active",
    "autopilot_workers_alive",
    "autopilot_workers_dead",
}


def promtool(*args: str) -> str:
    assert PROMTOOL is not None
    run = subprocess.run(
        [PROMTOOL, *args], cwd=RULES, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout + run.stderr


@needs_promtool
def test_promtool_finds_the_rules_valid() -> None:
    assert "SUCCESS: 5 rules found" in promtool("check", "rules", "alerts.yml")


@needs_promtool
def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml")


def test_every_metric_the_alerts_read_is_exported() -> None:
    groups = yaml.safe_load((RULES / "alerts.yml").read_text())["groups"]
    names = {
        name
        for rule in groups[0]["rules"]
        for name in re.findall(r"\b(autopilot_[a-z_]+)", rule["expr"])
    }
    exported = {
        sample.name
        for family in Metrics(zone=ZoneInfo("America/New_York")).registry.collect()
        for sample in family.samples
    }
    assert names, "the rules read no Autopilot metric"
    assert names <= exported | SCRAPE_TIME, names - exported - SCRAPE_TIME
