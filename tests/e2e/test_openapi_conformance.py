"""The OpenAPI document tells the truth (DESIGN §6): schemathesis, run as a user runs it against
the running server with an admin key, finds every answer each operation gives documented with
its content type and schema, and no server error.

A small, fixed budget (seeded, so every run sends the same cases): the coverage phase (the
boundaries of each schema, missing and malformed parts, no key) and a few fuzzed cases per
operation. Path parameters name real objects of one client's world, so the operations reach
their successes and conflicts, not only 404s; the revoke operation revokes that world's spare
key, never the key the run calls with.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import StartServer
from tests.support.world import World, make_world

pytestmark = pytest.mark.e2e

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
SEED = "20261201"
MAX_EXAMPLES = "10"


def config(world: World, key: str) -> str:
    """schemathesis.toml: the key on every call and the world's ids as path parameters."""
    per_path = {
        "/auto-invest-rules/": f'"path.rule_id" = "{world.auto_rule}"',
        "/rebalancing-rules/": f'"path.rule_id" = "{world.rebalancing_rule}"',
        "/rebalancing-proposals/": f'"path.proposal_id" = "{world.proposal}"',
        "/trigger-orders/": f'"path.trigger_id" = "{world.trigger}"',
        "/orders/": f'"path.order_id" = "{world.order}"',
        "/clients/": f'"path.client_id" = {world.client_id}',
        "/accounts/": f'"path.account_id" = {world.account_id}',
        "/api-keys/": f'"path.key_id" = {world.spare_key}',
        "/securities/": '"path.symbol" = "VTI"',
        "/webhooks/": f'"path.webhook_id" = {world.webhook}',
    }
    text = f'headers = {{ Authorization = "Bearer {key}" }}\n'
    for fragment, parameter in per_path.items():
        regex = fragment if fragment != "/orders/" else "^/api/orders/"
        text += f'\n[[operations]]\ninclude-path-regex = "{regex}"\n'
        text += f"parameters = {{ {parameter} }}\n"
    return text


def test_every_answer_of_every_operation_is_in_the_document(
    start_server: StartServer, tmp_path: Path
) -> None:
    server = start_server(AUTOMATION_SCHEDULER_ENABLED="false")
    world = make_world(server.client, server, "Conformance")
    settings = tmp_path / "schemathesis.toml"
    settings.write_text(config(world, server.admin_key))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(settings),
            "run",
            f"{server.base_url}/openapi.json",
            "--checks",
            ",".join(CHECKS),
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            MAX_EXAMPLES,
            "--seed",
            SEED,
            "--workers",
            "1",
            "--no-color",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-6000:]
    document = server.client.get("/openapi.json").json()
    operations = sum(len(methods) for methods in document["paths"].values())
    assert operations >= 56
    assert f"Tested: {operations}" in report, report[-3000:]  # every operation, none skipped
    assert "Authentication failed" not in report, report[-3000:]  # the key held throughout
