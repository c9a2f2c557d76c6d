"""The README's walk-through, run as written: its bash blocks, in order, with bash, curl and jq,
from the folder of a server started as `make run` starts one (a fresh database, so the ids the
README names are the ones it gets, and the admin key the server wrote on its first start)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import StartServer

pytestmark = [pytest.mark.e2e, pytest.mark.real_clock]

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)


def walk_through_script() -> str:
    text = README.read_text()
    section = text[
        text.index("## Walk-through") : text.index("\n## ", text.index("## Walk-through") + 1)
    ]
    return "\n".join(BLOCK.findall(section))


def answers(output: str) -> list[dict[str, Any]]:
    """The JSON answers curl printed one after another."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(output):
        if output[at].isspace():
            at += 1
            continue
        document, at = decoder.raw_decode(output, at)
        found.append(document)
    return found


def test_the_readme_walk_through_works_as_written(start_server: StartServer) -> None:
    server = start_server()
    script = walk_through_script()
    assert "KEY=$(cat autopilot-admin.key)" in script
    script = script.replace("B=http://127.0.0.1:8000", f"B={server.base_url}")
    script = script.replace(".venv/bin/autopilot", f"{shlex.quote(sys.executable)} -m autopilot")
    calls = [line for line in script.splitlines() if "curl -s" in line]
    unsigned = [c for c in calls if '-H "$A"' not in c and "Bearer $" not in c]
    assert unsigned == [], "every call of the walk-through sends a key"

    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=server.workdir,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr + run.stdout
    docs = answers(run.stdout)
    refused = [d for d in docs if not d["success"]]
    assert [d["error"]["code"] for d in refused] == ["not_found"], refused  # accounts/2
    assert len(docs) == len(calls) - 3  # three answers went into RULE, REBAL and CLIENT_KEY

    payloads = [d["data"] for d in docs if d["success"] and isinstance(d["data"], dict)]
    [rule] = [p for p in payloads if str(p.get("id")).startswith("AUTO-")]
    assert (rule["status"], rule["amount"]) == ("Active", "500.00")
    [after] = [p for p in payloads if p.get("cash") == "9500.00"]
    assert {h["symbol"]: h["quantity"] for h in after["positions"]} == {
        "VTI": "1.200000",
        "BND": "2.758620",
    }
    lists = [p["items"] for p in payloads if p.get("items")]
    [orders] = [items for items in lists if str(items[0].get("id")).startswith("ORD-")]
    assert {(o["symbol"], o["status"]) for o in orders} == {("VTI", "Filled"), ("BND", "Filled")}
    [[log]] = [items for items in lists if "executionDate" in items[0]]
    assert (log["status"], log["triggeredBy"]) == ("Success", "key:1")
    [bracket] = [items for items in lists if items[0].get("ocoGroup") == "vti-bracket"]
    assert sorted(t["status"] for t in bracket) == ["Cancelled", "Triggered"]
    audit = lists[-1]
    assert {e["action"] for e in audit} >= {"auto_invest_rule.create", "api_key.create"}
    assert "Traceback" not in server.stderr
