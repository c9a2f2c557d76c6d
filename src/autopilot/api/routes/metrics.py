"""GET /metrics: this process's Prometheus metrics (autopilot.metrics).

Open to a scraper on the same host (a loopback peer); from anywhere else it needs an operator or
admin key, as the API's reads do. Not in the OpenAPI document: it is Prometheus's text format,
not the API's JSON.
"""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Request, Response

from autopilot.api.security import admit, authenticate, grant
from autopilot.metrics import CONTENT_TYPE, Metrics
from autopilot.services.access import Role

router = APIRouter(tags=["operations"])


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@router.get("/metrics", include_in_schema=False)
@grant("metrics.read", Role.OPERATOR)
def metrics(request: Request) -> Response:
    client = request.client
    if not _loopback(None if client is None else client.host):
        admit(request, authenticate(request))
    registry: Metrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE)
