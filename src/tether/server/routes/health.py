"""``/healthz`` (the process answers) and ``/readyz`` (it can serve decisions)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from tether.core import Tether
from tether.server._auth import get_tether
from tether.server._errors import error_body

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, Any]:
    """Liveness: the process answers (no database access)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "not ready"}})
def readyz(t: Annotated[Tether, Depends(get_tether)]) -> Any:
    """Readiness: the store answers and a policy is enforced (without one, every
    decision would be denied)."""
    try:
        t.ledger.size  # noqa: B018 -- reads the head: the store answers
        policy = t.policies.enforced()
    except Exception as exc:  # any failure means not ready; the reason is logged by type
        body = error_body("NotReady", f"the store does not answer ({type(exc).__name__})",
                          "check the database and TETHER_DATABASE_URL")  # fmt: skip
        return JSONResponse(body, status_code=503)
    if policy is None:
        body = error_body("NotReady", "no policy is enforced: every decision would be denied",
                          "tether policy publish FILE")  # fmt: skip
        return JSONResponse(body, status_code=503)
    return {"status": "ready", "policy_version": policy.version}
