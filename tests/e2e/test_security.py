"""Keys, rate limits and the audit trail over real HTTP to running servers (DESIGN §6
"Security"); who may call which route is the access matrix's (test_access_matrix.py)."""

from __future__ import annotations

import json
import re
import sqlite3
import stat
import subprocess
import time
from typing import Any

import httpx
import pytest

from autopilot.services.keys import hash_key
from tests.support.http import data, failure, funded_account, post_prices, rule_body
from tests.support.server import KEY_FILE, RunningServer, StartServer, run_cli

pytestmark = pytest.mark.e2e

STATUS = "/api/automation/scheduler/status"
EXECUTE = "/api/automation/scheduler/execute"
AUTO = "/api/automation/auto-invest-rules"
TRIGGERS = "/api/automation/trigger-orders"
DAY = 86_400


def cli(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI on the server's database, while the server runs."""
    return run_cli(list(args), cwd=server.workdir, env=server.env)


def cli_key(server: RunningServer, role: str, *options: str) -> dict[str, Any]:
    made = cli(
        server, "keys", "create", "--role", role, "--name", f"{role} key", *options, "--json"
    )
    assert made.returncode == 0, made.stderr
    key: dict[str, Any] = json.loads(made.stdout)
    return key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def clear_of_the_window_end(period_s: int = DAY, margin_s: int = 20) -> None:
    """Wait, if the rate-limit window (aligned to the epoch) ends within ``margin_s``, until the
    next one starts: a test counting a budget must not see it renewed halfway."""
    left = period_s - int(time.time()) % period_s
    if left <= margin_s:
        time.sleep(left + 1)


def sqlite_file(server: RunningServer) -> str:
    return server.database_url.removeprefix("sqlite:///")


def test_every_bad_key_gets_one_and_the_same_401(start_server: StartServer) -> None:
    server = start_server(AUTOMATION_SCHEDULER_ENABLED="false")
    revoked = cli_key(server, "operator")
    assert cli(server, "keys", "revoke", str(revoked["id"])).stdout.strip() == (
        f"key {revoked['id']} revoked"
    )
    expired = cli_key(server, "operator", "--expires-in-days", "1")
    with sqlite3.connect(sqlite_file(server)) as db:  # a day later, as far as the key knows
        [(until,)] = db.execute("SELECT expires_at FROM api_keys WHERE id = ?", (expired["id"],))
        db.execute(
            "UPDATE api_keys SET expires_at = ? WHERE id = ?",
            (re.sub(r"^\d{4}", "2001", str(until)), expired["id"]),
        )
    assert f"{expired['id']}\toperator\texpired" in cli(server, "keys", "list").stdout
    valid = cli_key(server, "operator")["key"]
    tampered = valid[:-1] + ("A" if valid[-1] != "A" else "B")
    attempts = {
        "missing": {},
        "another scheme": {"Authorization": "Basic b3BlcmF0b3I6c2VjcmV0"},
        "no key": {"Authorization": "Bearer"},
        "malformed": bearer("ap_short"),
        "not ours": bearer("sk_" + valid[3:]),
        "unknown": bearer(tampered),
        "revoked": bearer(revoked["key"]),
        "expired": bearer(expired["key"]),
    }
    answers = {}
    for why, headers in attempts.items():
        answer = httpx.get(server.base_url + STATUS, headers=headers)
        assert answer.status_code == 401, (why, answer.text)
        assert answer.headers["www-authenticate"] == "Bearer", why
        answers[why] = answer.json()
    assert len({json.dumps(a, sort_keys=True) for a in answers.values()}) == 1, answers
    assert answers["revoked"]["error"]["code"] == "unauthorized"
    assert httpx.get(server.base_url + STATUS, headers=bearer(valid)).status_code == 200


def test_keys_are_shown_once_and_stored_only_as_hashes(start_server: StartServer) -> None:
    server = start_server(AUTOMATION_SCHEDULER_ENABLED="false")
    key_file = server.workdir / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert f"wrote the first one to {KEY_FILE}" in server.stderr
    who = funded_account(server.client, prices={"VTI": "100.00"})
    keys = [server.admin_key]
    keys += [cli_key(server, role)["key"] for role in ("admin", "operator", "market-data")]
    keys.append(cli_key(server, "client", "--client-id", str(who.client_id))["key"])
    made = data(
        server.client.post(
            "/api/api-keys", json={"name": "app", "role": "client", "clientId": who.client_id}
        ),
        201,
    )
    assert made["key"].startswith("ap_") and len(made["key"]) >= 3 + 43
    keys.append(made["key"])
    for key in keys:  # each is used, so authentication and its logging have seen it
        answer = httpx.get(server.base_url + "/api/api-keys", headers=bearer(key))
        assert answer.status_code in (200, 403), answer.text
    listed = server.client.get("/api/api-keys", params={"pageSize": 100})
    items = data(listed)["items"]
    assert len(items) == len(keys) and all("key" not in item for item in items)
    assert all(item["lastUsedAt"] for item in items)
    cli_listed = cli(server, "keys", "list", "--json").stdout + cli(server, "keys", "list").stdout
    server.stop()  # all written out

    stored = b"".join(
        path.read_bytes() for path in server.workdir.glob("autopilot.db*") if path.is_file()
    )
    said = server.output() + listed.text + cli_listed
    for key in keys:
        assert key.encode() not in stored
        assert hash_key(key).encode() in stored
        assert key not in said
    assert "first admin" in said  # the first key's name, not its secret


def test_the_cli_makes_lists_and_revokes_keys_while_a_server_runs(
    start_server: StartServer,
) -> None:
    server = start_server(AUTOMATION_SCHEDULER_ENABLED="false")
    mine, theirs = funded_account(server.client), funded_account(server.client)
    made = cli_key(server, "client", "--client-id", str(mine.client_id), "--expires-in-days", "30")
    assert set(made) == {"id", "key", "role", "clientId"}
    assert (made["role"], made["clientId"]) == ("client", mine.client_id)
    as_client = server.client_with(made["key"])
    assert data(as_client.get(f"/api/accounts/{mine.account_id}"))["clientId"] == mine.client_id
    failure(as_client.get(f"/api/accounts/{theirs.account_id}"), 404)

    plain = cli(server, "keys", "list").stdout
    assert f"{made['id']}\tclient client {mine.client_id}\tactive" in plain
    [row] = [
        r for r in json.loads(cli(server, "keys", "list", "--json").stdout) if r["id"] == made["id"]
    ]
    assert row["expiresAt"] and row["revokedAt"] is None and "key" not in row
    assert cli(server, "keys", "revoke", str(made["id"])).returncode == 0
    failure(as_client.get(f"/api/accounts/{mine.account_id}"), 401)
    assert (
        f"{made['id']}\tclient client {mine.client_id}\trevoked"
        in cli(server, "keys", "list").stdout
    )

    refusals = {
        ("--role", "root"): "root",
        ("--role", "client"): "--client-id",
        ("--role", "operator", "--client-id", str(mine.client_id)): "--client-id",
        ("--role", "client", "--client-id", "999999"): "999999",
        ("--role", "admin", "--expires-in-days", "0"): "--expires-in-days",
        ("--role", "admin", "--name", " "): "--name",
    }
    for options, named in refusals.items():
        args = ["keys", "create", "--name", "x", *options]
        refused = cli(server, *args)
        assert refused.returncode != 0, options
        assert named in refused.stderr and "Traceback" not in refused.stderr, refused.stderr
    refused = cli(server, "keys", "revoke", "999999")
    assert refused.returncode != 0 and "no API key 999999" in refused.stderr


def test_a_client_key_makes_client_keys_of_its_own_client_alone(
    start_server: StartServer,
) -> None:
    server = start_server(AUTOMATION_SCHEDULER_ENABLED="false")
    mine, theirs = funded_account(server.client), funded_account(server.client)
    theirs_key = data(
        server.client.post(
            "/api/api-keys", json={"name": "theirs", "role": "client", "clientId": theirs.client_id}
        ),
        201,
    )
    as_client = server.client_as("client", mine.client_id)
    for role in ("admin", "operator", "market-data"):
        failure(as_client.post("/api/api-keys", json={"name": "up", "role": role}), 403)
    body = {"name": "theirs too", "role": "client", "clientId": theirs.client_id}
    failure(as_client.post("/api/api-keys", json=body), 404)
    failure(as_client.post(f"/api/api-keys/{theirs_key['id']}/revoke"), 404)
    admins = [k for k in data(server.client.get("/api/api-keys"))["items"] if k["role"] == "admin"]
    failure(as_client.post(f"/api/api-keys/{admins[0]['id']}/revoke"), 404)  # no client's
    refusals = events(server.client, action="api_key.revoke")
    assert [(e["outcome"], e["statusCode"]) for e in refusals] == [("refused", 404)] * 2
    more = data(as_client.post("/api/api-keys", json={"name": "phone", "role": "client"}), 201)
    assert more["clientId"] == mine.client_id
    listed = data(as_client.get("/api/api-keys"))["items"]
    assert {k["clientId"] for k in listed} == {mine.client_id} and len(listed) == 2
    for bad, field in (
        ({"name": "x", "role": "superuser"}, "role"),
        ({"name": "", "role": "client"}, "name"),
        ({"role": "client"}, "name"),
        ({"name": "x", "role": "client", "expiresInDays": 0}, "expiresInDays"),
        ({"name": "x", "role": "client", "clientId": True}, "clientId"),
        ({"name": "x", "role": "operator", "expiresInDays": True}, "expiresInDays"),
    ):
        error = failure(server.client.post("/api/api-keys", json=bad), 422)
        assert error["details"][0]["field"] == field, error
    error = failure(server.client.post("/api/api-keys", json={"name": "x", "role": "client"}), 422)
    assert error["details"][0]["field"] == "clientId", error
    failure(server.client.post("/api/api-keys/999999/revoke"), 404)


def assert_rate_limited(answer: httpx.Response, name: str, count: int, period_s: int) -> None:
    error = failure(answer, 429)
    assert error["code"] == "rate_limited"
    retry_after = int(answer.headers["retry-after"])
    assert 0 < retry_after <= period_s
    assert answer.headers["ratelimit-policy"] == f'"{name}";q={count};w={period_s}'
    assert answer.headers["ratelimit"] == f'"{name}";r=0;t={retry_after}'


def test_manual_execution_is_limited_per_key(start_server: StartServer) -> None:
    server = start_server(
        AUTOMATION_SCHEDULER_ENABLED="false", AUTOMATION_RATE_LIMIT_EXECUTE="3/day"
    )
    clear_of_the_window_end()
    run = {"type": "triggers"}
    for remaining in (2, 1, 0):
        answer = server.client.post(EXECUTE, json=run)
        data(answer)
        assert answer.headers["ratelimit-policy"] == f'"execute";q=3;w={DAY}'
        assert answer.headers["ratelimit"].startswith(f'"execute";r={remaining};t=')
    assert_rate_limited(server.client.post(EXECUTE, json=run), "execute", 3, DAY)
    assert data(server.client.get(STATUS))  # the key's other calls are not execution
    another = server.client_with(cli_key(server, "admin")["key"])
    data(another.post(EXECUTE, json=run))  # a budget per key


def test_each_keys_traffic_is_limited_and_a_price_feed_is_not(start_server: StartServer) -> None:
    server = start_server(AUTOMATION_SCHEDULER_ENABLED="false", AUTOMATION_RATE_LIMIT_API="5/day")
    clear_of_the_window_end()
    operator = server.client_with(cli_key(server, "operator")["key"])
    for _ in range(5):
        data(operator.get(STATUS))
    assert_rate_limited(operator.get(STATUS), "api", 5, DAY)
    assert_rate_limited(operator.get("/api/orders"), "api", 5, DAY)
    data(server.client_with(cli_key(server, "operator")["key"]).get(STATUS))
    feed = server.client_with(cli_key(server, "market-data")["key"])
    for cents in range(12):
        post_prices(feed, {"VTI": f"100.{cents:02d}"})


def test_failed_authentications_slow_an_address_down_but_valid_keys_are_served(
    start_server: StartServer,
) -> None:
    server = start_server(
        AUTOMATION_SCHEDULER_ENABLED="false", AUTOMATION_RATE_LIMIT_AUTH_FAILURES="3/day"
    )
    clear_of_the_window_end()
    guess = httpx.Client(base_url=server.base_url, headers=bearer("ap_" + "g" * 43))
    for n in range(3):  # X-Forwarded-For is anyone's to send: no proxy is trusted by default
        failure(guess.get(STATUS, headers={"X-Forwarded-For": f"10.0.0.{n}"}), 401)
    assert_rate_limited(guess.get(STATUS, headers={"X-Forwarded-For": "10.0.0.9"}), "auth", 3, DAY)
    assert_rate_limited(httpx.get(server.base_url + STATUS), "auth", 3, DAY)
    data(server.client.get(STATUS))  # the same address, a valid key
    data(httpx.get(server.base_url + "/api/health"))
    guess.close()
    addresses = {e["address"] for e in events(server.client) if e["statusCode"] in (401, 429)}
    assert addresses == {"127.0.0.1"}


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_servers_on_one_database_draw_on_one_budget(
    start_server: StartServer, request: pytest.FixtureRequest, database: str
) -> None:
    settings = {"AUTOMATION_SCHEDULER_ENABLED": "false", "AUTOMATION_RATE_LIMIT_API": "6/day"}
    if database == "postgresql":
        settings["DATABASE_URL"] = request.getfixturevalue("pg_url")
    first = start_server(**settings)
    second = start_server(**{**settings, "DATABASE_URL": first.database_url})
    clear_of_the_window_end()
    key = cli_key(first, "operator")["key"]
    one, two = first.client_with(key), second.client_with(key)
    for _ in range(3):
        data(one.get(STATUS))
        data(two.get(STATUS))
    assert_rate_limited(one.get(STATUS), "api", 6, DAY)
    assert_rate_limited(two.get(STATUS), "api", 6, DAY)


def events(reader: httpx.Client, **where: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = data(
        reader.get("/api/audit-events", params={"pageSize": 200, **where})
    )["items"]
    return found


@pytest.mark.real_clock
def test_every_change_and_every_refusal_is_in_the_audit_trail(start_server: StartServer) -> None:
    server = start_server(
        AUTOMATION_SCHEDULER_ENABLED="false", AUTOMATION_RATE_LIMIT_EXECUTE="1/day"
    )
    clear_of_the_window_end()
    admin = server.client
    mine = funded_account(admin, prices={"VTI": "100.00", "BND": "50.00"})
    theirs = funded_account(admin)
    a_key, b_key = (
        cli_key(server, "client", "--client-id", str(w.client_id)) for w in (mine, theirs)
    )
    as_a, as_b = server.client_with(a_key["key"]), server.client_with(b_key["key"])
    operator_key = cli_key(server, "operator")
    operator = server.client_with(operator_key["key"])

    created = as_a.post(AUTO, json=rule_body(mine), headers={"X-Request-ID": "create-1"})
    rule = data(created, 201)
    assert created.headers["x-request-id"] == "create-1"
    data(as_a.patch(f"{AUTO}/{rule['id']}", json={"amount": "250.00"}))
    failure(httpx.post(server.base_url + AUTO, json=rule_body(mine)), 401)
    failure(operator.post(AUTO, json=rule_body(mine)), 403)
    failure(as_b.get(f"{AUTO}/{rule['id']}"), 404)
    failure(as_b.patch(f"{AUTO}/{rule['id']}", json={"amount": "1.00"}), 404)
    failure(as_b.post(AUTO, json=rule_body(theirs, accountId=mine.account_id)), 404)
    assert data(admin.get(AUTO, params={"clientId": mine.client_id}))["total"] == 1
    run = {"type": "auto-invest", "ruleId": rule["id"]}
    data(as_a.post(EXECUTE, json=run))
    failure(as_a.post(EXECUTE, json=run), 429)

    creates = events(operator, action="auto_invest_rule.create")
    [made] = [e for e in creates if e["outcome"] == "success"]
    assert made["actorKeyId"] == a_key["id"] and made["actorRole"] == "client"
    assert made["actorClientId"] == made["clientId"] == mine.client_id
    assert (made["resourceType"], made["resourceId"]) == ("auto_invest_rule", rule["id"])
    assert (made["statusCode"], made["requestId"], made["address"]) == (
        201,
        "create-1",
        "127.0.0.1",
    )
    assert "python-httpx" in made["userAgent"]
    [update] = events(operator, action="auto_invest_rule.update", actorKeyId=a_key["id"])
    assert update["changes"]["amount"] == {"before": "500.00", "after": "250.00"}

    refused = [e for e in events(operator) if e["outcome"] == "refused"]
    seen = {(e["action"], e["statusCode"], e["actorKeyId"]) for e in refused}
    assert ("auto_invest_rule.create", 401, None) in seen
    assert ("auto_invest_rule.create", 403, operator_key["id"]) in seen
    assert ("auto_invest_rule.get", 404, b_key["id"]) in seen
    # Filed under the client whose object it is: its own audit shows who tried.
    isolation = [e for e in refused if e["statusCode"] == 404 and e["actorKeyId"] == b_key["id"]]
    assert {e["clientId"] for e in isolation} == {mine.client_id}
    runs = events(operator, action="scheduler.execute", actorKeyId=a_key["id"])
    [executed] = [e for e in runs if e["outcome"] == "success"]
    assert (executed["resourceId"], executed["clientId"]) == (rule["id"], mine.client_id)
    assert ("auto_invest_rule.update", 404, b_key["id"]) in seen
    assert ("auto_invest_rule.create", 404, b_key["id"]) in seen
    assert ("scheduler.execute", 429, a_key["id"]) in seen
    assert {e["actorKeyId"] for e in events(operator, actorKeyId=b_key["id"])} == {b_key["id"]}
    assert {e["resourceId"] for e in events(operator, resourceId=rule["id"])} == {rule["id"]}
    assert {e["clientId"] for e in events(operator, clientId=theirs.client_id)} == {
        theirs.client_id
    }
    by_admin = data(admin.post(EXECUTE, json=run))  # the admin runs client A's rule
    assert by_admin["counts"]["executed"] == 1
    runs = events(operator, action="scheduler.execute", actorKeyId=1)
    [ran] = [e for e in runs if e["outcome"] == "success"]
    assert (ran["resourceId"], ran["clientId"]) == (rule["id"], mine.client_id)
    assert events(operator, **{"from": "2999-01-01T00:00:00Z"}) == []
    assert events(operator, to="2001-01-01T00:00:00Z") == []
    assert len(events(operator, **{"from": made["at"], "to": "2999-01-01T00:00:00Z"})) >= 8
    error = failure(operator.get("/api/audit-events", params={"from": "2026-01-01T00:00:00"}), 422)
    assert error["details"][0]["field"] == "from"
    page = data(operator.get("/api/audit-events", params={"pageSize": 2, "page": 2}))
    assert (len(page["items"]), page["page"], page["pageSize"]) == (2, 2, 2)
    assert page["total"] >= 10

    logs = data(admin.get("/api/automation/execution-logs", params={"automationId": rule["id"]}))
    # Who triggered each execution, from the log alone: client A's key, then the admin's.
    assert sorted(row["triggeredBy"] for row in logs["items"]) == sorted(
        [f"key:{a_key['id']}", "key:1"]
    )


def test_every_answer_carries_a_request_id(start_server: StartServer) -> None:
    server = start_server(AUTOMATION_SCHEDULER_ENABLED="false")
    for open_path in ("/docs", "/openapi.json", "/api/health"):  # no key needed
        assert httpx.get(server.base_url + open_path).status_code == 200, open_path
    for path, headers in (
        ("/api/health", {}),
        (STATUS, {}),
        (STATUS, bearer(server.admin_key)),
        ("/api/nowhere", bearer(server.admin_key)),
    ):
        kept = httpx.get(server.base_url + path, headers={**headers, "X-Request-ID": "abc.1-2_3"})
        assert kept.headers["x-request-id"] == "abc.1-2_3"
        for insane in ("has spaces", "x" * 65, "semi;colon"):
            made = httpx.get(server.base_url + path, headers={**headers, "X-Request-ID": insane})
            assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"]), made.headers
        fresh = httpx.get(server.base_url + path, headers=headers).headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", fresh)


@pytest.mark.real_clock
def test_a_client_keys_manual_run_executes_its_own_clients_triggers_alone(
    start_server: StartServer,
) -> None:
    server = start_server(AUTOMATION_SCHEDULER_ENABLED="false")
    admin = server.client
    post_prices(admin, {"VTI": "250.00"})
    stops = {}
    for name in ("mine", "theirs"):
        who = funded_account(admin)
        buy = {"accountId": who.account_id, "symbol": "VTI", "side": "buy", "quantity": "4"}
        data(admin.post("/api/orders", json=buy), 201)
        body = {
            "clientId": who.client_id,
            "accountId": who.account_id,
            "symbol": "VTI",
            "condition": {"type": "priceBelow", "level": "230.00"},
            "order": {"side": "sell", "quantity": "all"},
        }
        stop = data(admin.post(TRIGGERS, json=body), 201)
        data(admin.post(f"{TRIGGERS}/{stop['id']}/pause"))
        stops[name] = (who, stop["id"])
    post_prices(admin, {"VTI": "229.00"})  # past both stops, while they are paused
    for _, stop_id in stops.values():
        data(admin.post(f"{TRIGGERS}/{stop_id}/resume"))

    (mine, my_stop), (theirs, their_stop) = stops["mine"], stops["theirs"]
    as_mine = server.client_as("client", mine.client_id)
    failure(as_mine.post(EXECUTE, json={"type": "triggers", "clientId": theirs.client_id}), 404)
    run = data(as_mine.post(EXECUTE, json={"type": "triggers"}))
    assert run["counts"]["executed"] == 1, run
    assert data(admin.get(f"{TRIGGERS}/{my_stop}"))["status"] == "Triggered"
    assert data(admin.get(f"{TRIGGERS}/{their_stop}"))["status"] == "Active"


def test_nothing_answers_a_caller_without_a_valid_key_but_a_401(start_server: StartServer) -> None:
    server = start_server(AUTOMATION_SCHEDULER_ENABLED="false")
    base, malformed = server.base_url, {"content-type": "application/json"}
    anonymous = (
        ("POST", "/api/clients", "{not json"),  # FastAPI reads a body before a route's checks
        ("GET", "/api/nowhere", None),
        ("DELETE", "/api/accounts/1", None),  # a path with no such method
        ("GET", "/api/orders?symbol=VTI%00", None),
        ("POST", "/api/automation/scheduler/stop?x=%00", None),
    )
    for method, path, body in anonymous:
        answer = httpx.request(method, base + path, content=body, headers=malformed)
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.headers["www-authenticate"] == "Bearer"

    operator_key = cli_key(server, "operator")
    answer = httpx.post(
        base + "/api/clients",
        content="{not json",
        headers={**malformed, **bearer(operator_key["key"])},
    )
    assert failure(answer, 403)["code"] == "forbidden"  # its role, before the body
    admin = server.client
    assert (
        failure(admin.post("/api/clients", content="{not json", headers=malformed), 400)["code"]
        == "malformed_json"
    )
    failure(admin.delete("/api/accounts/1"), 405)
    failure(admin.post("/api/automation/scheduler/stop", params={"x": "\x00"}), 422)

    trail = events(admin)
    anonymous_events = [e for e in trail if e["actorName"] == "anonymous"]
    assert {(e["actorKeyId"], e["actorRole"]) for e in anonymous_events} == {(None, "anonymous")}
    assert {(e["action"], e["statusCode"]) for e in anonymous_events} >= {
        ("client.create", 401),
        ("get /api/nowhere", 401),
        ("delete /api/accounts/1", 401),
        ("post /api/automation/scheduler/stop", 401),
    }
    by_admin = {(e["action"], e["outcome"], e["statusCode"]) for e in trail if e["actorKeyId"] == 1}
    assert by_admin >= {
        ("client.create", "failed", 400),
        ("delete /api/accounts/1", "failed", 405),
        ("post /api/automation/scheduler/stop", "failed", 422),
    }
    assert ("client.create", "refused", 403) in {
        (e["action"], e["outcome"], e["statusCode"])
        for e in trail
        if e["actorKeyId"] == operator_key["id"]
    }
