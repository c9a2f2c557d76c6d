"""The dashboard over real HTTP (`autopilot serve`): sessions, CSRF, the API's roles and a
client's isolation, bad filters, and the pages' numbers (issue 11). The browser's view of the same
pages is in test_dashboard_browser.py."""

from __future__ import annotations

import httpx
import pytest

from tests.support.dashboard import csrf_of, signed_in
from tests.support.http import data, funded_account, rule_body
from tests.support.server import RunningServer, StartServer

pytestmark = [pytest.mark.e2e, pytest.mark.real_clock]

RULES = "/api/automation/auto-invest-rules"
PRICES = {"VTI": "250.00", "BND": "72.50"}


def a_rule(server: RunningServer) -> tuple[int, str]:
    """A funded client with one auto-invest rule: (client id, rule id)."""
    who = funded_account(server.client, "10000.00", PRICES)
    rule = data(server.client.post(RULES, json=rule_body(who)), 201)
    return who.client_id, rule["id"]


def rule_status(server: RunningServer, rule_id: str) -> str:
    status: str = data(server.client.get(f"{RULES}/{rule_id}"))["status"]
    return status


@pytest.fixture
def server(start_server: StartServer) -> RunningServer:
    return start_server(AUTOMATION_SCHEDULER_ENABLED="false")


def test_every_page_needs_a_session_and_signing_in_sets_a_strict_httponly_cookie(
    server: RunningServer,
) -> None:
    anonymous = httpx.Client(base_url=server.base_url, follow_redirects=False)
    for path in (
        "/dashboard",
        "/dashboard/executions",
        "/dashboard/rules",
        "/dashboard/failures",
        "/dashboard/proposals",
        "/dashboard/rules/auto-invest/AUTO-1",
    ):
        answer = anonymous.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/sign-in"
    live = anonymous.get("/dashboard/executions", params={"fragment": "1"})
    assert live.status_code == 401 and live.json() == {"signIn": "/dashboard/sign-in"}
    refused = anonymous.post("/dashboard/rules/auto-invest/AUTO-1/pause", data={"csrf": "x"})
    assert refused.status_code == 303 and refused.headers["location"] == "/dashboard/sign-in"

    form = anonymous.get("/dashboard/sign-in")
    assert "default-src 'self'" in form.headers["content-security-policy"]
    answer = anonymous.post(
        "/dashboard/sign-in", data={"csrf": csrf_of(form.text), "key": server.admin_key}
    )
    assert answer.status_code == 303
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("autopilot_session=")
    )
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=strict", "path=/dashboard"} <= attributes
    assert server.admin_key not in cookie  # a session token, not the key
    page = anonymous.get("/dashboard")
    assert page.status_code == 200 and "first admin · admin" in page.text
    anonymous.close()


def test_a_bad_key_a_stale_form_or_a_market_data_key_opens_no_session(
    server: RunningServer,
) -> None:
    browser = httpx.Client(base_url=server.base_url, follow_redirects=False)
    form = browser.get("/dashboard/sign-in")
    token = csrf_of(form.text)
    wrong = browser.post("/dashboard/sign-in", data={"csrf": token, "key": "ap_" + "x" * 43})
    assert wrong.status_code == 401 and "That key was not accepted." in wrong.text
    assert "autopilot_session" not in wrong.headers.get("set-cookie", "")

    stale = browser.post("/dashboard/sign-in", data={"csrf": "forged", "key": server.admin_key})
    assert stale.status_code == 400 and "stale" in stale.text
    fresh = httpx.Client(base_url=server.base_url, follow_redirects=False)
    cross_site = fresh.post(  # a form posted from elsewhere: no sign-in cookie of this site
        "/dashboard/sign-in", data={"csrf": token, "key": server.admin_key}
    )
    assert cross_site.status_code == 400

    feed = server.new_key("market-data")
    form = browser.get("/dashboard/sign-in")
    answer = browser.post("/dashboard/sign-in", data={"csrf": csrf_of(form.text), "key": feed})
    assert answer.status_code == 403 and "market-data key has no dashboard" in answer.text
    browser.close()
    fresh.close()


def test_an_action_without_the_sessions_csrf_token_changes_nothing(
    server: RunningServer,
) -> None:
    _, rule_id = a_rule(server)
    admin = signed_in(server, server.admin_key)
    other = signed_in(server, server.admin_key)
    pause = f"/dashboard/rules/auto-invest/{rule_id}/pause"
    others_token = csrf_of(other.get("/dashboard/rules").text)

    for form in ({}, {"csrf": ""}, {"csrf": "forged"}, {"csrf": others_token + "x"}):
        answer = admin.post(pause, data=form)
        assert answer.status_code == 400 and "csrf" in answer.text, answer.text
    assert rule_status(server, rule_id) == "Active"

    page = admin.get("/dashboard/rules")
    assert rule_id in page.text and 'data-action="pause"' in page.text
    done = admin.post(pause, data={"csrf": csrf_of(page.text), "next": "/dashboard/rules"})
    assert done.status_code == 303 and done.headers["location"] == "/dashboard/rules"
    assert rule_status(server, rule_id) == "Paused"
    shown = admin.get("/dashboard/rules")
    assert f"Paused {rule_id}." in shown.text  # the notice, once
    assert f"Paused {rule_id}." not in admin.get("/dashboard/rules").text
    again = admin.post(pause, data={"csrf": csrf_of(page.text)})  # a paused rule: 409's words
    assert again.status_code == 303
    assert "Not done" in admin.get("/dashboard").text

    offsite = admin.post(  # "next" never leads off the dashboard
        f"/dashboard/rules/auto-invest/{rule_id}/resume",
        data={"csrf": csrf_of(page.text), "next": "https://evil.example/"},
    )
    assert offsite.headers["location"] == "/dashboard"
    assert rule_status(server, rule_id) == "Active"


def test_an_operator_reads_every_page_but_may_not_act(server: RunningServer) -> None:
    _, rule_id = a_rule(server)
    operator = signed_in(server, server.new_key("operator"))
    for path in (
        "/dashboard",
        "/dashboard/executions",
        "/dashboard/failures",
        "/dashboard/proposals",
        "/dashboard/rules",
        f"/dashboard/rules/auto-invest/{rule_id}",
        "/dashboard/rules?kind=rebalancing",
        "/dashboard/rules?kind=triggers",
    ):
        page = operator.get(path)
        assert page.status_code == 200, (path, page.text)
        assert (
            'data-action="pause"' not in page.text and 'data-action="execute now"' not in page.text
        )
    assert 'id="scheduler"' in operator.get("/dashboard").text

    token = csrf_of(operator.get("/dashboard/rules").text)
    for verb in ("pause", "execute"):
        refused = operator.post(
            f"/dashboard/rules/auto-invest/{rule_id}/{verb}", data={"csrf": token}
        )
        assert refused.status_code == 403, refused.text
    assert rule_status(server, rule_id) == "Active"
    logs = data(server.client.get("/api/automation/execution-logs"))
    assert logs["total"] == 0  # nothing was executed either
    events = data(server.client.get("/api/audit-events", params={"outcome": "refused"}))["items"]
    assert {e["action"] for e in events} >= {"auto_invest_rule.pause", "scheduler.execute"}


def test_a_client_sees_and_acts_on_its_own_alone(server: RunningServer) -> None:
    mine_client, mine = a_rule(server)
    _, theirs = a_rule(server)
    client = signed_in(server, server.new_key("client", mine_client))

    listed = client.get("/dashboard/rules").text
    assert mine in listed and theirs not in listed
    overview = client.get("/dashboard")
    assert overview.status_code == 200 and 'id="scheduler"' not in overview.text
    missing = client.get("/dashboard/rules/auto-invest/AUTO-NOPE")
    hidden = client.get(f"/dashboard/rules/auto-invest/{theirs}")
    assert missing.status_code == hidden.status_code == 404
    assert theirs not in client.get("/dashboard/executions", params={"client": "2"}).text

    token = csrf_of(listed)
    refused = client.post(f"/dashboard/rules/auto-invest/{theirs}/pause", data={"csrf": token})
    assert refused.status_code == 404 and rule_status(server, theirs) == "Active"
    done = client.post(f"/dashboard/rules/auto-invest/{mine}/pause", data={"csrf": token})
    assert done.status_code == 303 and rule_status(server, mine) == "Paused"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"client": "abc"}, "client:"),
        ({"client": "0"}, "client:"),
        ({"from": "2026-13-01"}, "from:"),
        ({"from": "2026-12-02", "to": "2026-12-01"}, "to:"),
        ({"automation": "nope"}, "automation:"),
        ({"status": "Done"}, "status:"),
        ({"page": "-1"}, "page:"),
        ({"rule": "x" * 41}, "rule:"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_field(
    shared_server: RunningServer, query: dict[str, str], field: str
) -> None:
    admin = signed_in(shared_server, shared_server.admin_key)
    for path in ("/dashboard/executions", "/dashboard/failures"):
        if path.endswith("failures") and field == "status:":
            continue  # the failures page has no status filter
        answer = admin.get(path, params=query)
        assert answer.status_code == 400, (path, query, answer.text)
        assert field in answer.text


def test_revoking_the_key_or_signing_out_ends_the_session(server: RunningServer) -> None:
    key = server.new_key("operator")
    browser = signed_in(server, key)
    assert browser.get("/dashboard").status_code == 200
    (made,) = [
        k for k in data(server.client.get("/api/api-keys"))["items"] if k["role"] == "operator"
    ]
    data(server.client.post(f"/api/api-keys/{made['id']}/revoke"))
    assert browser.get("/dashboard").headers["location"] == "/dashboard/sign-in"

    admin = signed_in(server, server.admin_key)
    token = csrf_of(admin.get("/dashboard").text)
    out = admin.post("/dashboard/sign-out", data={"csrf": token})
    assert out.status_code == 303 and out.headers["location"] == "/dashboard/sign-in"
    assert admin.get("/dashboard").status_code == 303


def test_execute_now_writes_the_log_row_the_executions_page_shows_with_its_links(
    server: RunningServer,
) -> None:
    client_id, rule_id = a_rule(server)
    admin = signed_in(server, server.admin_key)
    token = csrf_of(admin.get("/dashboard/rules").text)
    done = admin.post(f"/dashboard/rules/auto-invest/{rule_id}/execute", data={"csrf": token})
    assert done.status_code == 303
    assert f"Executed {rule_id}" in admin.get("/dashboard").text

    (row,) = data(server.client.get("/api/automation/execution-logs"))["items"]
    assert row["automationId"] == rule_id and row["triggeredBy"].startswith("key:")
    page = admin.get("/dashboard/executions", params={"rule": rule_id, "client": str(client_id)})
    assert f'data-log-id="{row["id"]}"' in page.text
    assert f'href="/dashboard/rules/auto-invest/{rule_id}"' in page.text
    for order_id in row["orderIds"]:
        assert f'href="/dashboard/orders/{order_id}"' in page.text
        order = admin.get(f"/dashboard/orders/{order_id}")
        assert order.status_code == 200 and rule_id in order.text
    live = admin.get("/dashboard/executions", params={"rule": rule_id, "fragment": "1"})
    assert live.status_code == 200 and "<html" not in live.text and rule_id in live.text
    none = admin.get("/dashboard/executions", params={"rule": "AUTO-OTHER"})
    assert f'data-log-id="{row["id"]}"' not in none.text


def test_odd_input_is_a_4xx_naming_the_field_never_a_500(server: RunningServer) -> None:
    _, rule_id = a_rule(server)
    browser = httpx.Client(base_url=server.base_url, follow_redirects=False)
    browser.get("/dashboard/sign-in")
    odd = browser.post("/dashboard/sign-in", data={"csrf": "é", "key": server.admin_key})
    assert odd.status_code == 400
    admin = signed_in(server, server.admin_key)
    token = csrf_of(admin.get("/dashboard/rules").text)
    pause = f"/dashboard/rules/auto-invest/{rule_id}/pause"
    assert admin.post(pause, data={"csrf": "\xff\xfe"}).status_code == 400
    for query in ({"client": "²"}, {"page": "³"}, {"client": "１"}):
        answer = admin.get("/dashboard/executions", params=query)
        assert answer.status_code == 400 and "must be a whole number" in answer.text
    nul = admin.post(
        "/dashboard/failures/execute", data={"csrf": token, "kind": "auto-invest", "rule": "a\x00b"}
    )
    assert nul.status_code == 400 and "rule: must not contain a NUL" in nul.text
    upload = admin.post(pause, data={"csrf": token}, files={"next": ("x.txt", b"/dashboard")})
    assert upload.status_code == 400 and "next: must be text" in upload.text
    assert rule_status(server, rule_id) == "Active"
    assert "Traceback" not in server.output()
    browser.close()


def _fail(server: RunningServer, client_id: int, rule_id: str, *, retrying: bool) -> None:
    """A failed attempt of the rule's first occurrence, written as a pass writes it; with
    ``retrying`` the attempt is still open (the scheduler would try again)."""
    from datetime import UTC, date, datetime

    from autopilot.bootstrap import build
    from autopilot.config import load_settings
    from autopilot.domain.outcomes import AutomationType, OutcomeStatus
    from autopilot.services.records import FailedAttempts, LogEntry

    rule = data(server.client.get(f"{RULES}/{rule_id}"))
    day = date.fromisoformat(rule["nextExecutionDate"])
    now = datetime.now(UTC)
    services = build(load_settings(database_url=server.database_url))
    try:
        with services.uow() as uow:
            uow.logs.add_many(
                [
                    LogEntry(
                        automation_type=AutomationType.AUTO_INVEST,
                        automation_id=rule_id,
                        client_id=client_id,
                        execution_date=day,
                        status=OutcomeStatus.FAILED,
                        message="attempt 1 of 3 failed",
                        error="RuntimeError: quote feed exploded",
                        triggered_by="scheduler",
                        attempt=1,
                        started_at=now,
                    )
                ],
                now,
            )
            if retrying:
                uow.attempts.save(
                    [
                        FailedAttempts(
                            automation_type=AutomationType.AUTO_INVEST,
                            automation_id=rule_id,
                            client_id=client_id,
                            occurrence=day,
                            count=1,
                            last_error="RuntimeError: quote feed exploded",
                        )
                    ],
                    now,
                )
    finally:
        services.close()


def test_execute_all_runs_the_rules_still_failing_alone_and_every_execution_is_audited(
    server: RunningServer,
) -> None:
    client_id, retrying = a_rule(server)
    other_client, recovered = a_rule(server)
    _fail(server, client_id, retrying, retrying=True)
    _fail(server, other_client, recovered, retrying=False)
    admin = signed_in(server, server.admin_key)
    page = admin.get("/dashboard/failures")
    assert retrying in page.text and recovered in page.text and "quote feed exploded" in page.text

    done = admin.post(
        "/dashboard/failures/execute",
        data={"csrf": csrf_of(page.text), "all": "1", "next": "/dashboard/failures"},
    )
    assert done.status_code == 303
    notice = admin.get("/dashboard/failures").text
    assert "Executed 1 of the 1 rule(s) still failing." in notice
    ran = {
        r["automationId"]
        for r in data(server.client.get("/api/automation/execution-logs"))["items"]
        if r["triggeredBy"].startswith("key:")
    }
    assert ran == {retrying}  # the recovered rule was not run again
    events = data(server.client.get("/api/audit-events", params={"action": "scheduler.execute"}))[
        "items"
    ]
    assert [(e["resourceId"], e["outcome"], e["clientId"]) for e in events] == [
        (retrying, "success", client_id)
    ]


def test_a_refused_sign_in_is_in_the_audit_trail(server: RunningServer) -> None:
    browser = httpx.Client(base_url=server.base_url, follow_redirects=False)
    form = browser.get("/dashboard/sign-in")
    browser.post("/dashboard/sign-in", data={"csrf": csrf_of(form.text), "key": "ap_" + "y" * 43})
    events = data(server.client.get("/api/audit-events", params={"action": "dashboard.sign_in"}))[
        "items"
    ]
    assert [(e["outcome"], e["statusCode"], e["actorRole"]) for e in events] == [
        ("refused", 401, "anonymous")
    ]
    browser.close()
