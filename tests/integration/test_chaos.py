"""The chaos run, short (bench/chaos.py is the long one): workers killed with SIGKILL and replaced
every second while they work, PostgreSQL crashed and restarted once, 2,000 trigger orders on 50
symbols under a stream of prices meanwhile; at the end every rule executed exactly once, every
trigger group whose level a stored price crossed fired exactly once (its OCO sibling
cancelled), every order filled, no hold open, nothing locked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pg import find_pg_bin

ROOT = Path(__file__).resolve().parents[2]
RULES = 8000
CHAOS = ["--rules", str(RULES), "--workers", "3", "--kill-every", "1", "--batch-size", "100"]

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.timeout(600),
    pytest.mark.skipif(find_pg_bin() is None, reason="no PostgreSQL server binaries"),
]


def test_workers_killed_and_postgres_crashed_lose_and_repeat_nothing(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "chaos.py"), *CHAOS, "--json"],
        capture_output=True,
        text=True,
        timeout=540,
        env={**os.environ, "CHAOS_LOGS": str(tmp_path)},
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert (result["expected"], result["executed"]) == (RULES, RULES)
    assert (result["duplicates"], result["lost"], result["problems"]) == (0, 0, [])
    assert result["orders"] == result["filled"] > RULES
    assert result["triggers"] == 2000 and result["trigger_expected"] > 0
    assert result["trigger_executed"] == result["trigger_expected"]
    assert (result["trigger_duplicates"], result["trigger_lost"]) == (0, 0)
    assert result["trigger_problems"] == []
    assert result["postgres_restarted"] is True
    assert result["workers_killed"] >= 2  # kills happened while the rules were being executed
    assert result["stop_exit_codes"] == [0]
