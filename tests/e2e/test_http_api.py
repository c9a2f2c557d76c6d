"""Validation, rule lifecycle and orders, over real HTTP to one shared running server.

The server reads the real clock: a rule's next execution date is computed here from the real date
and the XNYS calendar.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.support.http import (
    README_START,
    Funded,
    data,
    failure,
    first_run_of_rule_body,
    funded_account,
    market_today,
    monthly_run_on_or_after,
    position_quantities,
    post_prices,
    rule_body,
    weekly_run_on_or_after,
)
from tests.support.server import RunningServer

pytestmark = [pytest.mark.e2e, pytest.mark.real_clock]

RULES = "/api/automation/auto-invest-rules"
EXECUTE = "/api/automation/scheduler/execute"
PRICES = {"VTI": "250.00", "BND": "72.50"}


@pytest.fixture
def who(api: httpx.Client) -> Funded:
    return funded_account(api, "10000.00", PRICES)


def rule_count(api: httpx.Client, who: Funded) -> int:
    total: int = data(api.get(RULES, params={"clientId": who.client_id}))["total"]
    return total


# --- validation: 4xx, the envelope names the field, nothing is written ------------------------


def allocations(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"symbol": s, "weight": w} for s, w in pairs]


INVALID_RULES: list[Any] = [
    pytest.param({"amount": "-5"}, "amount", id="negative-amount"),
    pytest.param({"amount": "0"}, "amount", id="zero-amount"),
    pytest.param(
        {"allocations": allocations(("VTI", "50"), ("BND", "40"))}, "allocations", id="sum-90"
    ),
    pytest.param(
        {"allocations": allocations(("VTI", "60"), ("ZZZZ", "40"))}, "ZZZZ", id="unknown-symbol"
    ),
    pytest.param({"accountId": 987654}, "accountId", id="unknown-account"),
    pytest.param({"dayOfMonth": 0}, "dayOfMonth", id="day-of-month-0"),
    pytest.param({"dayOfMonth": 32}, "dayOfMonth", id="day-of-month-32"),
    pytest.param({"endDate": "2026-11-30"}, "endDate", id="end-before-start"),
    pytest.param({"frequency": "hourly"}, "frequency", id="unknown-frequency"),
    pytest.param({"startDate": "2026-02-30"}, "startDate", id="impossible-date"),
    pytest.param({"amount": "NaN"}, "amount", id="nan-amount"),
    pytest.param({"maxTotalAmount": "-1"}, "maxTotalAmount", id="negative-cap"),
    pytest.param({"colour": "red"}, "colour", id="unknown-field"),
    pytest.param({"dayOfWeek": "monday"}, "dayOfWeek", id="weekday-for-monthly"),
    pytest.param(
        {"frequency": "weekly", "dayOfWeek": "monday"}, "dayOfMonth", id="month-day-for-weekly"
    ),
    pytest.param({"frequency": "daily"}, "dayOfMonth", id="month-day-for-daily"),
    # Found by fuzzing: accepted, then every execution failed (or a weight printed as 1 MB).
    pytest.param({"startDate": "9999-06-01"}, "startDate", id="start-in-year-9999"),
    pytest.param(
        {"allocations": allocations(("VTI", "1e-10000000"), ("BND", "100"))},
        "weight",
        id="weight-finer-than-4-decimals",
    ),
    pytest.param(
        {"allocations": allocations(("CASH", "60"), ("BND", "40"))}, "CASH", id="cash-as-security"
    ),
]


@pytest.mark.parametrize(("changes", "named"), INVALID_RULES)
def test_invalid_rule_is_refused_naming_the_field_and_nothing_is_written(
    api: httpx.Client, who: Funded, changes: dict[str, Any], named: str
) -> None:
    before = rule_count(api, who)
    response = api.post(RULES, json=rule_body(who, **changes))
    assert 400 <= response.status_code < 500, response.text
    error = failure(response, response.status_code)
    assert named in error["message"], error
    if response.status_code == 422:  # from the schema or from the service: one shape
        first = error["details"][0]
        assert set(first) == {"field", "message"} and first["field"] in error["message"], error
    assert rule_count(api, who) == before


def test_invalid_execute_requests_are_refused(api: httpx.Client, who: Funded) -> None:
    error = failure(api.post(EXECUTE, json={"type": "bogus"}), 422)
    assert "type" in error["message"]

    error = failure(api.post(EXECUTE, json={"type": "auto-invest", "ruleId": ""}), 422)
    assert error["details"][0]["field"] == "ruleId"

    error = failure(api.post(EXECUTE, json={"type": "auto-invest", "clientId": 1}), 422)
    assert error["details"][0]["field"] == "clientId"

    error = failure(api.post(EXECUTE, json={"type": "auto-invest", "ruleId": "AUTO-NOPE-1"}), 404)
    assert "AUTO-NOPE-1" in error["message"]
    logs = data(api.get("/api/automation/execution-logs", params={"automationId": "AUTO-NOPE-1"}))
    assert logs["total"] == 0


def test_malformed_json_is_400_in_the_envelope(api: httpx.Client, who: Funded) -> None:
    before = rule_count(api, who)
    response = api.post(
        RULES, content=b'{"clientId": 1, "name": ', headers={"content-type": "application/json"}
    )
    error = failure(response, 400)
    assert "JSON" in error["message"]
    assert rule_count(api, who) == before


def test_unknown_path_is_404_in_the_envelope(api: httpx.Client) -> None:
    failure(api.get("/api/no-such-thing"), 404)
    failure(api.get(f"{RULES}/AUTO-00000000-00000"), 404)
    failure(api.get("/api/orders/ORD-00000000-00000"), 404)
    failure(api.get("/api/accounts/987654"), 404)


@pytest.mark.parametrize("amount", ["-1", "0", "0.001", "abc"])
def test_bad_deposit_is_refused_and_cash_is_unchanged(
    api: httpx.Client, who: Funded, amount: str
) -> None:
    response = api.post(f"/api/accounts/{who.account_id}/deposits", json={"amount": amount})
    assert 400 <= response.status_code < 500, response.text
    assert "amount" in failure(response, response.status_code)["message"]
    assert data(api.get(f"/api/accounts/{who.account_id}"))["cash"] == "10000.00"


def test_bad_prices_are_refused(api: httpx.Client) -> None:
    for body in (
        {"prices": []},
        {"prices": [{"symbol": "VTI", "price": "-1"}]},
        {"prices": [{"symbol": "VTI", "price": "0"}]},
        {"prices": [{"symbol": "VTI"}]},
        # Found by fuzzing: these were 500s, or pinned the "latest" price for years.
        {"prices": [{"symbol": "VTI", "price": "300", "asOf": "9999-12-31T23:59:59-14:00"}]},
        {"prices": [{"symbol": "VTI", "price": "300", "asOf": "0001-01-01T00:00:00+14:00"}]},
        {"prices": [{"symbol": "VTI", "price": "300", "asOf": "2199-01-01T00:00:00Z"}]},
        {"prices": [{"symbol": "CASH", "price": "1.00"}]},
    ):
        response = api.post("/api/market/prices", json=body)
        assert 400 <= response.status_code < 500, (body, response.text)
        assert "price" in failure(response, response.status_code)["message"]


@pytest.mark.parametrize(
    ("order", "named"),
    [
        pytest.param({"type": "limit", "quantity": "1"}, "limitPrice", id="limit-without-price"),
        pytest.param({"quantity": "1", "notional": "100.00"}, "quantity", id="both-sizes"),
        pytest.param({}, "quantity", id="no-size"),
        pytest.param({"quantity": "-1"}, "quantity", id="negative-quantity"),
        pytest.param({"symbol": "ZZZZ", "notional": "100.00"}, "ZZZZ", id="unknown-symbol"),
        pytest.param({"side": "short", "notional": "100.00"}, "side", id="bad-side"),
    ],
)
def test_invalid_order_is_refused_and_nothing_is_written(
    api: httpx.Client, who: Funded, order: dict[str, Any], named: str
) -> None:
    body = {"accountId": who.account_id, "symbol": "VTI", "side": "buy", **order}
    response = api.post("/api/orders", json=body)
    assert 400 <= response.status_code < 500, response.text
    assert named in failure(response, response.status_code)["message"]
    assert data(api.get("/api/orders", params={"accountId": who.account_id}))["total"] == 0
    assert data(api.get(f"/api/accounts/{who.account_id}"))["cash"] == "10000.00"


def test_order_for_unknown_account_is_refused(api: httpx.Client) -> None:
    body = {"accountId": 987654, "symbol": "VTI", "side": "buy", "notional": "10.00"}
    response = api.post("/api/orders", json=body)
    assert 400 <= response.status_code < 500, response.text
    assert "accountId" in failure(response, response.status_code)["message"]


# --- rule lifecycle ------------------------------------------------------------------------------


def test_rule_lifecycle_pause_resume_update_cancel(api: httpx.Client, who: Funded) -> None:
    rule = data(api.post(RULES, json=rule_body(who)), 201)
    url = f"{RULES}/{rule['id']}"
    first_run = first_run_of_rule_body(market_today()).isoformat()
    assert rule["nextExecutionDate"] == first_run

    assert data(api.post(f"{url}/pause"))["status"] == "Paused"
    error = failure(api.post(EXECUTE, json={"type": "auto-invest", "ruleId": rule["id"]}), 409)
    assert rule["id"] in error["message"] or "Paused" in error["message"]
    assert data(api.get(f"/api/accounts/{who.account_id}"))["cash"] == "10000.00"
    failure(api.post(f"{url}/pause"), 409)

    resumed = data(api.post(f"{url}/resume"))
    assert resumed["status"] == "Active"
    # Resuming restarts from today: the same first run as a rule made today.
    assert resumed["nextExecutionDate"] == first_run

    updated = data(api.patch(url, json={"amount": "750.00"}))
    assert updated["amount"] == "750.00"
    assert updated["name"] == "Monthly"  # untouched fields keep their values
    assert updated["maxTotalAmount"] == "6000.00"
    assert data(api.get(url))["amount"] == "750.00"

    cancelled = data(api.post(f"{url}/cancel"))
    assert cancelled["status"] == "Cancelled"
    assert cancelled["nextExecutionDate"] is None
    failure(api.post(f"{url}/cancel"), 409)
    failure(api.post(f"{url}/resume"), 409)
    failure(api.patch(url, json={"amount": "10.00"}), 409)
    failure(api.post(EXECUTE, json={"type": "auto-invest", "ruleId": rule["id"]}), 409)

    listed = data(api.get(RULES, params={"clientId": who.client_id, "status": "Cancelled"}))
    assert [r["id"] for r in listed["items"]] == [rule["id"]]


def test_a_rule_shows_the_day_it_runs_on_and_drops_it_when_the_frequency_changes(
    api: httpx.Client, who: Funded
) -> None:
    weekly = rule_body(who, frequency="weekly")  # from README_START, a Tuesday
    del weekly["dayOfMonth"]
    rule = data(api.post(RULES, json=weekly), 201)
    assert (rule["dayOfWeek"], rule["dayOfMonth"]) == ("tuesday", None)
    # The first Tuesday on or after today (the next trading day when that Tuesday is a holiday).
    first_run = weekly_run_on_or_after(README_START, max(README_START, market_today()))
    assert rule["nextExecutionDate"] == first_run.isoformat()

    monthly = data(api.patch(f"{RULES}/{rule['id']}", json={"frequency": "monthly"}))
    assert (monthly["dayOfWeek"], monthly["dayOfMonth"]) == (None, 1)
    # A changed schedule restarts from today: the first 1st of a month on or after it.
    first_run = monthly_run_on_or_after(README_START, 1, max(README_START, market_today()))
    assert monthly["nextExecutionDate"] == first_run.isoformat()

    chosen = data(api.patch(f"{RULES}/{rule['id']}", json={"dayOfMonth": "last"}))
    assert chosen["dayOfMonth"] == "last"
    error = failure(api.patch(f"{RULES}/{rule['id']}", json={"dayOfWeek": "friday"}), 422)
    assert error["details"][0]["field"] == "dayOfWeek"
    assert data(api.get(f"{RULES}/{rule['id']}"))["dayOfMonth"] == "last"


def test_update_with_invalid_values_changes_nothing(api: httpx.Client, who: Funded) -> None:
    rule = data(api.post(RULES, json=rule_body(who)), 201)
    url = f"{RULES}/{rule['id']}"
    for body, named in (
        ({"amount": "-5"}, "amount"),
        ({"allocations": allocations(("VTI", "90"))}, "allocations"),
        ({"dayOfMonth": 32}, "dayOfMonth"),
        ({"endDate": "2026-01-01"}, "endDate"),
    ):
        response = api.patch(url, json=body)
        assert 400 <= response.status_code < 500, (body, response.text)
        assert named in failure(response, response.status_code)["message"]
    after = data(api.get(url))
    for key in ("amount", "allocations", "dayOfMonth", "endDate", "nextExecutionDate"):
        assert after[key] == rule[key]


# --- orders --------------------------------------------------------------------------------------


def test_market_buy_by_notional_fills(api: httpx.Client) -> None:
    who = funded_account(api, "1000.00", {"VTI": "250.00"})
    order = data(
        api.post(
            "/api/orders",
            json={"accountId": who.account_id, "symbol": "vti", "side": "buy", "notional": 100},
        ),
        201,
    )
    assert order["id"].startswith("ORD-")
    assert order["symbol"] == "VTI"
    assert order["status"] == "Filled"
    assert order["notional"] == "100.00"
    assert Decimal(order["filledPrice"]) == Decimal("250.00")
    account = data(api.get(f"/api/accounts/{who.account_id}"))
    assert account["cash"] == "900.00"
    assert position_quantities(account) == {"VTI": "0.400000"}

    error = failure(api.post(f"/api/orders/{order['id']}/cancel"), 409)
    assert "Filled" in error["message"]


def balances(api: httpx.Client, account_id: int) -> tuple[str, str, str]:
    """An account's cash, the part its open buys hold, and what new orders may spend."""
    account = data(api.get(f"/api/accounts/{account_id}"))
    return account["cash"], account["heldCash"], account["availableCash"]


def test_limit_buy_rests_until_the_price_reaches_it(api: httpx.Client) -> None:
    who = funded_account(api, "1000.00", {"BND": "72.50"})
    body = {
        "accountId": who.account_id,
        "symbol": "BND",
        "side": "buy",
        "type": "limit",
        "quantity": "2",
        "limitPrice": "70.00",
    }
    order = data(api.post("/api/orders", json=body), 201)
    assert order["status"] == "Submitted"
    assert order["reservedAmount"] == "140.00"
    assert balances(api, who.account_id) == ("1000.00", "140.00", "860.00")

    post_prices(api, {"BND": "71.00"})  # still above the limit
    assert data(api.get(f"/api/orders/{order['id']}"))["status"] == "Submitted"

    post_prices(api, {"BND": "70.00"})
    filled = data(api.get(f"/api/orders/{order['id']}"))
    assert filled["status"] == "Filled"
    assert filled["filledQuantity"] == "2.000000"
    account = data(api.get(f"/api/accounts/{who.account_id}"))
    assert position_quantities(account) == {"BND": "2.000000"}
    assert balances(api, who.account_id) == ("860.00", "0.00", "860.00")
    failure(api.post(f"/api/orders/{order['id']}/cancel"), 409)


def test_cancel_a_resting_limit_order_releases_the_cash(api: httpx.Client) -> None:
    who = funded_account(api, "1000.00", {"BND": "72.50"})
    body = {
        "accountId": who.account_id,
        "symbol": "BND",
        "side": "buy",
        "type": "limit",
        "quantity": "1",
        "limitPrice": "60.00",
    }
    order = data(api.post("/api/orders", json=body), 201)
    assert balances(api, who.account_id) == ("1000.00", "60.00", "940.00")
    assert data(api.post(f"/api/orders/{order['id']}/cancel"))["status"] == "Cancelled"
    assert balances(api, who.account_id) == ("1000.00", "0.00", "1000.00")
    failure(api.post(f"/api/orders/{order['id']}/cancel"), 409)


def test_buy_beyond_the_cash_is_refused(api: httpx.Client) -> None:
    who = funded_account(api, "100.00", {"VTI": "250.00"})
    body = {"accountId": who.account_id, "symbol": "VTI", "side": "buy", "notional": "100.01"}
    error = failure(api.post("/api/orders", json=body), 409)
    assert "cash" in error["message"]
    assert data(api.get(f"/api/accounts/{who.account_id}"))["cash"] == "100.00"


# --- numbers the database cannot hold are refused, never a 500 ------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "named"),
    [
        pytest.param("post", "/api/accounts", {"clientId": 2**70}, "clientId", id="client-2^70"),
        pytest.param("post", "/api/accounts", {"clientId": 2**31}, "clientId", id="client-2^31"),
        pytest.param("get", "/api/accounts/99999999999999999999", None, "accountId", id="path-id"),
        pytest.param("get", f"{RULES}?clientId=99999999999999999999", None, "clientId", id="query"),
        pytest.param(
            "post",
            "/api/market/prices",
            {"prices": [{"symbol": "BIG", "price": "1e30"}]},
            "price",
            id="price-1e30",
        ),
        pytest.param(
            "post",
            "/api/market/prices",
            {"prices": [{"symbol": "TINY", "price": "0.0000001"}]},
            "price",
            id="price-7-decimals",
        ),
    ],
)
def test_numbers_out_of_range_are_refused_naming_the_field(
    api: httpx.Client, method: str, path: str, body: Any, named: str
) -> None:
    response = api.request(method.upper(), path, json=body)
    assert 400 <= response.status_code < 500, response.text
    assert named in failure(response, response.status_code)["message"]


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"amount": "1e30"}, id="amount-1e30"),
        pytest.param({"clientId": 2**70}, id="client-2^70"),
        pytest.param({"accountId": 2**63}, id="account-2^63"),
    ],
)
def test_rule_with_numbers_out_of_range_is_refused(
    api: httpx.Client, who: Funded, changes: dict[str, Any]
) -> None:
    before = rule_count(api, who)
    response = api.post(RULES, json=rule_body(who, **changes))
    assert 400 <= response.status_code < 500, response.text
    (named,) = changes
    assert named in failure(response, response.status_code)["message"]
    assert rule_count(api, who) == before


def test_deposit_too_large_to_hold_is_refused(api: httpx.Client, who: Funded) -> None:
    response = api.post(f"/api/accounts/{who.account_id}/deposits", json={"amount": "1e20"})
    assert 400 <= response.status_code < 500, response.text
    assert data(api.get(f"/api/accounts/{who.account_id}"))["cash"] == "10000.00"


def test_no_request_in_this_module_made_the_server_fail(shared_server: RunningServer) -> None:
    assert "unexpected error" not in shared_server.stderr
    assert "Traceback" not in shared_server.stderr


def test_a_nul_character_in_text_is_refused_naming_the_field(api: httpx.Client) -> None:
    # PostgreSQL text cannot store NUL: found by fuzzing, it is refused before the database.
    error = failure(api.post("/api/clients", json={"name": "Ada\u0000Lovelace"}), 422)
    assert error["details"][0]["field"] == "name"


@pytest.mark.parametrize(
    ("path", "status", "named"),
    [
        ("/api/orders?symbol=VTI%00", 422, "symbol"),
        ("/api/automation/auto-invest-rules/AUTO-1%00", 400, None),
        ("/api/automation/execution-logs?automationId=%00", 422, "automationId"),
    ],
)
def test_a_nul_character_in_a_path_or_query_is_refused_not_a_database_error(
    api: httpx.Client, path: str, status: int, named: str | None
) -> None:
    error = failure(api.get(path), status)
    if named is not None:  # a query parameter's is named, as any bad input
        assert error["details"] == [{"field": named, "message": "must not contain a NUL character"}]


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("/api/accounts", {"clientId": 1, "currency": "ÄÖÜ"}, "currency"),
        ("/api/market/prices", {"prices": [{"symbol": "ß", "price": "1.00"}]}, "symbol"),
        ("/api/market/prices", {"prices": [{"symbol": "VTI", "price": "1_000"}]}, "price"),
        ("/api/market/prices", {"prices": [{"symbol": "VTI", "price": "１０"}]}, "price"),
    ],
)
def test_text_that_only_unicode_folding_makes_valid_is_refused(
    api: httpx.Client, path: str, body: dict[str, Any], named: str
) -> None:
    # Found by fuzzing: "ß" became the ticker SS, full-width digits became 10.
    error = failure(api.post(path, json=body), 422)
    assert named in error["details"][0]["field"], error


def test_a_wrong_method_says_which_methods_are_allowed(api: httpx.Client) -> None:
    response = api.delete("/api/market/prices")
    failure(response, 405)
    assert "POST" in response.headers["allow"]
