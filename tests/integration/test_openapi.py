"""The OpenAPI document at /docs describes every operation once, with the body it takes."""

from __future__ import annotations

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
