"""Console page: the overview (``/console/``).

Per system the user may see: owner, risk tier, the live model version (the
``champion`` alias), breaker states, open monitoring signals and pending approvals.
For unscoped users who may read the ledger (admin, auditor, owner): its head, the last
signed checkpoint and the result of the last full verification. Verifying reads the
whole log (seconds per million entries), so it runs only when an auditor or admin asks
(``POST /console/ledger/verify``); the result is a ``ledger.verified`` entry.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from tether.core import Tether
from tether.errors import NotFound
from tether.ledger import verify_ledger
from tether.server._auth import get_tether
from tether.server._errors import Forbidden
from tether.server._tokens import Principal
from tether.server.console._session import CsrfChecked, CurrentUser, require
from tether.server.console._web import redirect, render
from tether.store import ledger_repo, verification_repo
from tether.store.verification_repo import VerificationRow

__all__ = ["LEDGER_ROLES", "READ_ROLES", "VERIFY_ROLES", "record_verification", "router"]

router = APIRouter(prefix="/console", include_in_schema=False)

READ_ROLES = ("admin", "owner", "approver", "auditor", "operator")
LEDGER_ROLES = ("admin", "auditor", "owner")
VERIFY_ROLES = ("admin", "auditor")
Tether_ = Annotated[Tether, Depends(get_tether)]


@dataclass(frozen=True, slots=True)
class SystemRow:
    """What the overview shows of one system."""

    name: str
    kind: str
    owner: str
    risk_tier: str
    live: str  # "v3" or "—"
    breakers: tuple[tuple[str, str], ...]  # (key, state) of breakers not closed
    signals: int
    approvals: int


def _systems(t: Tether, user: Principal) -> list[SystemRow]:
    systems = [s for s in t.systems.list() if user.covers(s.name)]
    signals = Counter(str(row["system"]) for row in t.signals.active())
    approvals = Counter(a.system for a in t.approvals.list(limit=10_000))
    tripped: dict[str, list[tuple[str, str]]] = {}
    for b in t.breakers.list():
        kind, _, rest = b.key.partition(":")
        if b.state != "closed" and kind in ("system", "action"):
            tripped.setdefault(rest.split("/", 1)[0], []).append((b.key, b.state))
    rows = []
    for s in sorted(systems, key=lambda s: s.name):
        try:
            live = f"v{t.models.resolve(s.name, 'champion').version}"
        except NotFound:
            live = "—"
        rows.append(
            SystemRow(s.name, s.kind, s.owner, s.risk_tier, live,
                      tuple(tripped.get(s.name, ())), signals[s.name], approvals[s.name])
        )  # fmt: skip
    return rows


def _ledger(t: Tether) -> dict[str, Any]:
    with t.store.read() as conn:
        checkpoints = ledger_repo.checkpoint_rows(conn, latest=True)
        verified = verification_repo.latest(conn)
    size = t.ledger.size
    return {
        "size": size,
        "head": size - 1 if size else None,
        "checkpoint": checkpoints[0] if checkpoints else None,
        "verified": verified,
    }


@router.get("")
def console_root() -> Response:
    """``/console`` is the overview."""
    return redirect("/console/")


@router.get("/")
def overview(request: Request, user: CurrentUser, t: Tether_) -> Response:
    """Systems at a glance, and the ledger's state for those who may read it."""
    require(user, *READ_ROLES)
    ledger = _ledger(t) if user.systems is None and user.role in LEDGER_ROLES else None
    return render(
        request, "overview.html", user, nav="overview", systems=_systems(t, user),
        ledger=ledger, can_verify=user.systems is None and user.role in VERIFY_ROLES,
    )  # fmt: skip


@router.post("/ledger/verify")
def verify(request: Request, user: CurrentUser, _: CsrfChecked, t: Tether_) -> Response:
    """Verify the whole ledger now and record the result."""
    require(user, *VERIFY_ROLES)
    if user.systems is not None:
        raise Forbidden(
            "the ledger spans every system; an account scoped to systems may "
            "not verify it (ask an unscoped auditor or admin)"
        )
    row = record_verification(t, user.actor)
    word = "verifies" if row.ok else "DOES NOT VERIFY"
    return redirect("/console/", flash=f"The ledger {word}: {row.summary}")


def record_verification(t: Tether, actor: str) -> VerificationRow:
    """Verify every entry, node and checkpoint of the ledger; record the result as a
    ``ledger.verified`` entry by ``actor`` and return it."""
    report = verify_ledger(t.store, t.ledger.verifier)
    now = t.clock.now().timestamp()
    summary = report.summary()
    payload = {"ok": report.ok, "size": report.size, "summary": summary,
               "first_bad_index": report.first_bad_index}  # fmt: skip
    entry = t.ledger.append(
        "ledger.verified", actor, payload, subject="ledger",
        mutation=verification_repo.record(actor, report.ok, report.size, summary,
                                          report.first_bad_index, now),
    )  # fmt: skip
    return VerificationRow(entry.index, actor, report.ok, report.size, summary,
                           report.first_bad_index, now)  # fmt: skip
