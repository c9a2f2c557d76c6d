"""While PostgreSQL is down the running server answers 503 in the envelope, never a 500, logs one
line per request instead of a traceback, and recovers by itself when the database is back."""

from __future__ import annotations

import pytest

from tests.pg import ThrowawayPostgres
from tests.support.server import StartServer
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.real_clock]

RULES = "/api/automation/auto-invest-rules"


def test_a_database_outage_is_a_503_to_retry_and_the_server_recovers(
    start_server: StartServer, pg_server: ThrowawayPostgres, pg_url: str
) -> None:
    server = start_server(DATABASE_URL=pg_url, AUTOMATION_SCHEDULER_ENABLED="false")
    api = server.client
    assert api.get(RULES).status_code == 200

    pg_server.stop_server()
    try:
        down = api.get(RULES)
        created = api.post("/api/clients", json={"name": "Ada"})
    finally:
        pg_server.start_server()

    for response in (down, created):
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "5"
        body = response.json()
        assert body["success"] is False
        assert body["error"]["code"] == "database_unavailable"
    wait_for(  # the pool replaces the dead connections
        lambda: api.get(RULES).status_code == 200,
        what="the server to recover",
        timeout_s=30,
        interval_s=0.1,
    )
    assert "Traceback" not in server.stderr
    assert "database unavailable on GET /api/automation/auto-invest-rules" in server.stderr
