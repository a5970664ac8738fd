"""``/metrics``: Prometheus text format, for unscoped admin, auditor and operator tokens.

Metrics name every system, action and breaker key, so they need a token like any
other read: its role must be admin, auditor or operator and it must not be scoped to
some systems (a scoped token would see the others). Prometheus sends it with
``authorization: {credentials: TOKEN}`` (or ``bearer_token_file``) in the scrape config.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tether.server._auth import allow, check_scope
from tether.server._metrics import Metrics
from tether.server._tokens import Principal

__all__ = ["READ_ROLES", "router"]

router = APIRouter(tags=["metrics"])

READ_ROLES = ("admin", "auditor", "operator")


# Not in /openapi.json: the API document describes the JSON API v1; this is Prometheus's
# text format, for scrapers (it still needs a token like any read).
@router.get("/metrics", response_class=Response, include_in_schema=False)
def metrics(request: Request, who: Annotated[Principal, Depends(allow(*READ_ROLES))]) -> Response:
    """Decisions by system, action and outcome, decision latency, open approvals,
    breakers and active signals, in Prometheus text format.

    Raises:
        Forbidden: the token is scoped to some systems.
    """
    check_scope(who, None)
    found: Metrics = request.app.state.metrics
    return Response(generate_latest(found.registry), media_type=CONTENT_TYPE_LATEST)
