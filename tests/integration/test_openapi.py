"""The OpenAPI document at /docs describes every operation once, with the body it takes."""

from __future__ import annotations

import re
import warnings
from collections import Counter

from autopilot.api.app import create_app
from autopilot.bootstrap import Services


def test_every_operation_has_its_own_id_and_every_write_documents_its_body(
    services: Services,
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # FastAPI warns of duplicate operation ids
        spec = create_app(services, run_scheduler=False).openapi()

    operations = [
        (path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()
    ]
    ids = Counter(op["operationId"] for _, _, op in operations)
    assert [i for i, n in ids.items() if n > 1] == []
    creates = [
        path
        for path, method, op in operations
        if method == "post"
        and not path.endswith(("/pause", "/resume", "/cancel", "/approve"))
        and not path.endswith(("/reject", "/start", "/stop", "/revoke"))
        and "requestBody" not in op
    ]
    assert creates == []


def test_every_operation_but_health_names_the_bearer_key(services: Services) -> None:
    spec = create_app(services, run_scheduler=False).openapi()

    assert spec["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "ap_…",
        "description": "An Autopilot API key (`autopilot keys create`), sent as `Bearer ap_…`.",
    }
    unsecured = [
        f"{method.upper()} {path}"
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if op.get("security") != [{"ApiKey": []}]
    ]
    assert unsecured == ["GET /api/health"]


def test_every_refusal_is_documented_as_the_error_envelope(services: Services) -> None:
    spec = create_app(services, run_scheduler=False).openapi()

    envelope = spec["components"]["schemas"]["ErrorEnvelope"]
    assert envelope["properties"]["success"]["const"] is False
    assert set(envelope["required"]) == {"error"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # FastAPI's own 422
    missing = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            answers = op["responses"]
            needed = set() if path == "/api/health" else {"401", "403", "429", "503"}
            if op.get("parameters") or "requestBody" in op:
                needed |= {"400", "422"}
            if "{" in path and path != "/api/securities/{symbol}":  # a PUT there creates
                needed.add("404")
            missing += [f"{method.upper()} {path} {s}" for s in sorted(needed - set(answers))]
            for status, answer in answers.items():
                if int(status) >= 400:
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}, path
    assert missing == []
    unauthorized = spec["paths"]["/api/clients"]["post"]["responses"]["401"]
    assert "WWW-Authenticate" in unauthorized["headers"]
    limited = spec["paths"]["/api/clients"]["post"]["responses"]["429"]
    assert {"Retry-After", "RateLimit-Policy", "RateLimit"} <= set(limited["headers"])


def test_the_schemas_say_what_the_services_accept(services: Services) -> None:
    """The services' checks a JSON Schema can say, said: a money amount's pattern, a price's
    decimals, a percentage's range, the fields of each variant of a body."""
    schemas = create_app(services, run_scheduler=False).openapi()["components"]["schemas"]
    amount = schemas["DepositCreate"]["properties"]["amount"]["anyOf"]
    text = re.compile(amount[0]["pattern"])
    assert [bool(text.match(v)) for v in ("0.01", "12.5", "999999999999.99", ".5")] == [True] * 4
    refused = ("0", "0.00", "1.234", "-1", "1e3", "1000000000000", "1,00", "")
    assert [bool(text.match(v)) for v in refused] == [False] * len(refused)
    assert amount[1] == {
        "type": "number",
        "exclusiveMinimum": 0,
        "exclusiveMaximum": 1e12,
        "multipleOf": 0.01,
    }
    weight = schemas["AllocationIn"]["properties"]["weight"]["anyOf"][1]
    assert (weight["exclusiveMinimum"], weight["maximum"]) == (0, 100)
    symbol = schemas["OrderCreate"]["oneOf"][0]["properties"]["symbol"]["pattern"]
    assert re.match(symbol, "BRK.B") and not re.match(symbol, "0DAY")
    execute = schemas["ExecuteRequest"]["oneOf"]
    assert [sorted(v["properties"]) for v in execute] == [["ruleId", "type"], ["clientId", "type"]]
    notional = schemas["OrderCreate"]["oneOf"][2]["properties"]
    assert (notional["side"]["enum"], notional["type"]["enum"]) == (["buy"], ["market"])
