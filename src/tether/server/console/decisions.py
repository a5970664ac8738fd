"""Console pages: the decisions feed (newest first, filtered, live) and one decision.

``/console/decisions`` lists decisions newest first with keyset paging (one indexed
query per page, never a count), filtered by system, actor, outcome and time, within
the user's system scope. ``decisions.js`` polls ``/console/decisions/rows?after=<ledger
index>`` for newer rows; without JavaScript the page works the same, minus the polling.

``/console/decisions/{id}`` shows the recorded decision (inputs, verdict, rules,
guardrails, model output), its explanation and approval when there are ones, and its
ledger receipt, verified here with the SDK and again in the browser by ``receipt.js``
(Merkle inclusion with ``crypto.subtle.digest``, the checkpoint's Ed25519 signature
with ``crypto.subtle.verify`` where the browser supports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, get_args
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from tether.approvals import Approval
from tether.core import Tether
from tether.errors import InvalidInput, NotFound, TetherError, VerificationError
from tether.ledger import Entry, Receipt, verify_receipt
from tether.pipeline import Outcome
from tether.server._auth import get_tether
from tether.server._schemas import ID_PATTERN, MAX_INDEX
from tether.server._tokens import Principal
from tether.server.console._session import CurrentUser, check_system, require
from tether.server.console._web import render
from tether.store import decision_repo

__all__ = ["OUTCOMES", "PAGE", "READ_ROLES", "Filters", "ReceiptCheck", "check_receipt", "router"]

router = APIRouter(prefix="/console", include_in_schema=False)

READ_ROLES = ("admin", "owner", "approver", "auditor", "operator")
"""Console roles that may read decisions (people; services and agents use the API)."""
PAGE = 50
"""Decisions per page, and the most new rows one poll returns."""
OUTCOMES: tuple[str, ...] = get_args(Outcome)
"""Every outcome the pipeline records (the verdict filter's choices)."""
_MAX_TEXT = 200
_TIME_FORMAT = "YYYY-MM-DDTHH:MM (UTC)"

TetherDep = Annotated[Tether, Depends(get_tether)]


@dataclass(frozen=True, slots=True)
class Filters:
    """The feed's filters, as parsed from the query string (None: no filter).

    Example:
        >>> f = Filters(system="loan-model", outcome="denied", since_text="2026-01-01")
        >>> f.query(before=17)
        'system=loan-model&outcome=denied&since=2026-01-01&before=17'
    """

    system: str | None = None
    actor: str | None = None
    outcome: str | None = None
    since: float | None = None
    until: float | None = None
    since_text: str = ""
    until_text: str = ""

    @property
    def active(self) -> bool:
        """True when any filter is set."""
        return any((self.system, self.actor, self.outcome, self.since_text, self.until_text))

    def query(self, **extra: int) -> str:
        """The query string of these filters plus ``extra`` (for links and polling)."""
        pairs = [
            ("system", self.system or ""), ("actor", self.actor or ""),
            ("outcome", self.outcome or ""), ("since", self.since_text),
            ("until", self.until_text), *((k, str(v)) for k, v in extra.items()),
        ]  # fmt: skip
        return urlencode([(k, v) for k, v in pairs if v])


def parse_time(text: str, name: str) -> float | None:
    """Epoch seconds of an ISO date or date and time (UTC unless it names a zone).

    Example:
        >>> parse_time("2026-01-01T00:01", "since")
        1767225660.0
        >>> parse_time("", "since") is None
        True

    Raises:
        InvalidInput: the text is not a date and time.
    """
    text = text.strip()
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{name} {text[:40]!r} is not a date and time; use {_TIME_FORMAT}"
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.timestamp()


def filters(
    system: Annotated[str, Query(max_length=_MAX_TEXT)] = "",
    actor: Annotated[str, Query(max_length=_MAX_TEXT)] = "",
    outcome: Annotated[str, Query(max_length=_MAX_TEXT)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
) -> Filters:
    """The feed's filters from the query string; empty fields filter nothing.

    Raises:
        InvalidInput: an unknown outcome, a time that does not parse, or a time range
            that ends before it starts.
    """
    outcome = outcome.strip()
    if outcome and outcome not in OUTCOMES:
        raise InvalidInput(f"outcome {outcome[:40]!r} is unknown; use one of {', '.join(OUTCOMES)}")
    start, end = parse_time(since, "since"), parse_time(until, "until")
    if start is not None and end is not None and end <= start:
        raise InvalidInput(f"until ({until.strip()}) must be after since ({since.strip()})")
    return Filters(
        system=system.strip() or None, actor=actor.strip() or None, outcome=outcome or None,
        since=start, until=end, since_text=since.strip(), until_text=until.strip(),
    )  # fmt: skip


FiltersDep = Annotated[Filters, Depends(filters)]


def _rows(
    t: Tether, user: Principal, f: Filters, *, limit: int, before: int | None = None
) -> list[decision_repo.FeedRow]:
    """One indexed query: the newest ``limit`` decisions matching ``f`` in the user's scope."""
    if f.system is not None:
        check_system(user, f.system)
    with t.store.read() as conn:
        return decision_repo.feed(
            conn, limit=limit, before=before, systems=user.systems, system=f.system,
            actor=f.actor, outcome=f.outcome, since=f.since, until=f.until,
        )  # fmt: skip


@router.get("/decisions", response_class=HTMLResponse)
def feed_page(
    request: Request,
    user: CurrentUser,
    t: TetherDep,
    f: FiltersDep,
    before: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None,
) -> Response:
    """The decisions feed: newest first, :data:`PAGE` per page, ``before`` a ledger index.

    Raises:
        Forbidden: the user's role may not read decisions, or the system filter is
            outside the user's scope.
        InvalidInput: a filter does not parse (see :func:`filters`).
    """
    require(user, *READ_ROLES)
    rows = _rows(t, user, f, limit=PAGE + 1, before=before)
    older = f.query(before=rows[PAGE - 1].ledger_index) if len(rows) > PAGE else None
    rows = rows[:PAGE]
    systems = [s.name for s in t.systems.list() if user.covers(s.name)]
    # Polling makes sense only on the first page: older pages do not grow.
    newest = rows[0].ledger_index if rows else -1
    live = before is None
    return render(
        request, "decisions.html", user, nav="decisions", rows=rows, filters=f,
        outcomes=OUTCOMES, systems=systems, older=older, paged=before is not None,
        live=live, newest=newest, poll_query=f.query(),
    )  # fmt: skip


@router.get("/decisions/rows", response_class=HTMLResponse)
def new_rows(
    request: Request,
    user: CurrentUser,
    t: TetherDep,
    f: FiltersDep,
    after: Annotated[int, Query(ge=-1, le=MAX_INDEX)] = -1,
) -> Response:
    """Table rows of decisions newer than ledger index ``after`` (newest first), for
    ``decisions.js``; more than :data:`PAGE` of them give one row asking to reload.

    Raises:
        Forbidden: as :func:`feed_page`.
    """
    require(user, *READ_ROLES)
    rows = _rows(t, user, f, limit=PAGE + 1)
    fresh = [r for r in rows if r.ledger_index > after]
    gap = len(fresh) > PAGE
    response = render(request, "_decisions_rows.html", user, rows=[] if gap else fresh, gap=gap)
    response.headers["X-Tether-Rows"] = "gap" if gap else str(len(fresh))
    return response


@dataclass(frozen=True, slots=True)
class ReceiptCheck:
    """A decision's ledger receipt and what the server's check of it found."""

    ok: bool
    message: str
    receipt: dict[str, Any] | None = None
    vkey: str = ""


def check_receipt(t: Tether, index: int, record: Any) -> ReceiptCheck:
    """Fetch the receipt of ledger entry ``index`` and verify it against the log's key
    (and the payload against the entry's digest, unless the payload was erased).

    A receipt signs a checkpoint when none covers the entry yet, as the API does.
    """
    vkey = t.ledger.verifier.vkey
    try:
        receipt = t.ledger.receipt(index)
    except TetherError as exc:
        return ReceiptCheck(False, f"no receipt: {exc}", None, vkey)
    return _verified(receipt, t, record, vkey)


def _verified(receipt: Receipt, t: Tether, record: Any, vkey: str) -> ReceiptCheck:
    data = receipt.to_dict()
    try:
        verify_receipt(receipt, t.ledger.verifier, payload=record, check_payload=record is not None)
    except VerificationError as exc:
        return ReceiptCheck(False, f"{type(exc).__name__}: {exc}", data, vkey)
    what = (
        "the recorded payload matches the entry's digest"
        if record is not None
        else "the payload was erased; the entry and its digest remain and still verify"
    )
    message = (
        f"entry {receipt.leaf_index} is in the log's tree of {receipt.tree_size} entries, "
        f"whose checkpoint is signed by the log's key; {what}"
    )
    return ReceiptCheck(True, message, data, vkey)


def _approval(
    t: Tether, user: Principal, system: str, record: dict[str, Any] | None
) -> Approval | None:
    """The approval the decision names, when it is one of the decision's own system that
    the user may see (a request may name another system's approval: it is refused, and
    its votes are not shown here)."""
    approval_id = record.get("approval") if record else None
    if not isinstance(approval_id, str):
        return None
    try:
        found = t.approvals.get(approval_id)
    except NotFound:
        return None
    return found if found.system == system and user.covers(found.system) else None


def _explanation(t: Tether, decision_id: str) -> Any:
    try:
        return t.explanations.get(decision_id)
    except TetherError:  # unreadable: the page shows the decision without it
        return None


def _entry(t: Tether, user: Principal, decision_id: str) -> tuple[str, str, int, bytes | None]:
    """(system, outcome, ledger index, payload) of a decision the user may read.

    Raises:
        NotFound: no such decision.
        Forbidden: the user's role or scope does not cover it.
    """
    require(user, *READ_ROLES)
    with t.store.read() as conn:
        row = decision_repo.entry(conn, decision_id)
    if row is None:
        raise NotFound(f"decision {decision_id!r} does not exist; pick one from the feed")
    check_system(user, row[0])
    return row


@router.get("/decisions/{decision_id}", response_class=HTMLResponse)
def detail(
    request: Request,
    decision_id: Annotated[str, Path(pattern=ID_PATTERN)],
    user: CurrentUser,
    t: TetherDep,
) -> Response:
    """One decision: its record, explanation, approval and verified receipt.

    Raises:
        NotFound: no such decision.
        Forbidden: the decision's system is outside the user's scope.
    """
    system, outcome, index, payload = _entry(t, user, decision_id)
    record = None if payload is None else orjson.loads(payload)
    entry: Entry = t.ledger.get(index)
    return render(
        request, "decision.html", user, nav="decisions", id=decision_id, system=system,
        outcome=outcome, index=index, record=record, entry=entry,
        explanation=_explanation(t, decision_id), approval=_approval(t, user, system, record),
        check=check_receipt(t, index, record),
    )  # fmt: skip


@router.get("/decisions/{decision_id}/receipt.json")
def receipt_file(
    decision_id: Annotated[str, Path(pattern=ID_PATTERN)],
    user: CurrentUser,
    t: TetherDep,
) -> Response:
    """The decision's receipt as a file, for ``tether ledger verify-receipt`` offline.

    Raises:
        NotFound: no such decision.
        Forbidden: the decision's system is outside the user's scope.
    """
    body = t.ledger.receipt(_entry(t, user, decision_id)[2]).to_json()
    disposition = f'attachment; filename="receipt-{decision_id}.json"'
    return Response(body, media_type="application/json",
                    headers={"Content-Disposition": disposition})  # fmt: skip
