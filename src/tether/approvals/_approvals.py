"""Human approvals: a durable state machine.

::

    pending ──votes complete──► approved ──(the action runs once)──► consumed
       │  └─any reject──► rejected
       ├─timeout, with escalate_to──► escalated ──votes──► approved / rejected
       │                                  └─timeout──► expired
       └─timeout, no escalation──► expired          (expired never runs the action)
    pending / escalated / rejected / expired ──override (justified)──► overridden

Every transition is a ledger entry whose projection row commits with it, so a
restart loses nothing and two processes never both resolve one approval. Approvers
must be registered, active **humans** holding a required role; the requester can
never approve its own request; each requirement needs ``count`` distinct people.
"""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tether._ids import new_id
from tether.errors import Conflict, InvalidInput, NotFound
from tether.store import approval_repo as repo

if TYPE_CHECKING:
    from tether.core import Tether
    from tether.policy import ApprovalRequirement

__all__ = ["OVERRIDE_ROLES", "Approval", "Approvals"]

OVERRIDE_ROLES = ("admin", "overrider")
OPEN = ("pending", "escalated")
RESOLVED = ("approved", "rejected", "expired", "overridden", "consumed")


@dataclass(frozen=True, slots=True)
class Approval:
    """An approval request and where it stands."""

    id: str
    decision_id: str
    system: str
    action: str
    requester: str
    state: str
    level: int
    requirements: dict[str, Any]
    deadline: float | None
    reason: str
    request: dict[str, Any]
    created_at: float
    updated_at: float
    resolved_at: float | None
    ledger_index: int
    votes: tuple[dict[str, Any], ...] = field(default=())
    pending: Future[Any] | None = field(default=None, repr=False, compare=False)
    version: int = 0

    @property
    def open(self) -> bool:
        """Still waiting for people."""
        return self.state in OPEN

    def needed(self) -> list[dict[str, Any]]:
        """The requirements of the current level still short of approvers."""
        return _missing(self.requirements, self.level, self.votes)


class Approvals:
    """Request, approve, reject, escalate, expire and override (``tether.approvals``).

    Example:
        >>> from tether.testing import temporary_tether
        >>> from tether.policy import ApprovalRequirement
        >>> t = temporary_tether()
        >>> _ = t.actors.register("user:lea", kind="human", roles=["finance_lead"], actor="admin")
        >>> a = t.approvals.request(decision_id="dec_1", system="pay", action="refund",
        ...     requester="agent:bot", requirements=[ApprovalRequirement(
        ...         "A1", ("finance_lead",), 1, 3600.0)], reasons=["big refund"],
        ...     request={}, inputs_digest="sha256:x")
        >>> t.approvals.approve(a.id, approver="user:lea", comment="ok").state
        'approved'
        >>> t.close()
    """

    def __init__(self, tether: Tether) -> None:
        self._t = tether
        self._callbacks: dict[str, list[Callable[[Approval], Any]]] = {}
        self._lock = threading.Lock()

    # -- asking ---------------------------------------------------------------------------

    def request(
        self,
        *,
        decision_id: str,
        system: str,
        action: str,
        requester: str,
        requirements: Sequence[ApprovalRequirement],
        reasons: Sequence[str],
        request: dict[str, Any],
        inputs_digest: str,
        wait: bool = True,
    ) -> Approval:
        """Open an approval for a decision whose verdict was require_approval.

        With ``wait=False`` the ``approval.requested`` entry is queued and the
        approval's ``pending`` future completes when it commits (the pipeline then
        records the decision behind it, in the same or the next group commit).
        """
        if not requirements:
            raise InvalidInput("an approval needs at least one requirement")
        now = self._t.clock.now().timestamp()
        levels = [
            {
                "rule": r.rule,
                "levels": [
                    {"roles": list(r.roles), "count": r.count, "timeout": r.timeout},
                    *(
                        [{"roles": list(r.escalate_to), "count": r.escalate_count,
                          "timeout": r.escalate_timeout}]
                        if r.escalate_to else []
                    ),
                ],
            }
            for r in requirements
        ]  # fmt: skip
        reqs = {"rules": levels, "digest": inputs_digest}
        deadline = _deadline(reqs, 0, now)
        approval_id = new_id("apr_")
        reason = "; ".join(reasons)
        payload = {
            "approval": approval_id, "decision": decision_id, "system": system,
            "action": action, "requester": requester, "requirements": levels,
            "deadline": deadline, "reason": reason, "request": request,
        }  # fmt: skip
        mutation = repo.create(approval_id, decision_id, system, action, requester, reqs,
                               deadline, reason, request, now)  # fmt: skip
        subject = f"approval/{approval_id}"
        if not wait:
            pending = self._t.ledger.append(
                "approval.requested", requester, payload, subject=subject, mutation=mutation,
                durability="async",
            )  # fmt: skip
            return Approval(approval_id, decision_id, system, action, requester, "pending", 0,
                            reqs, deadline, reason, request, now, now, None, -1,
                            pending=pending)  # fmt: skip
        entry = self._t.ledger.append(
            "approval.requested", requester, payload, subject=subject, mutation=mutation
        )
        return Approval(approval_id, decision_id, system, action, requester, "pending", 0,
                        reqs, deadline, reason, request, now, now, None, entry.index)  # fmt: skip

    # -- reading ----------------------------------------------------------------------------

    def get(self, approval_id: str) -> Approval:
        """One approval with its votes (due escalations and expiries applied first).

        Raises:
            NotFound: no such approval.
        """
        self.tick()
        found = self._read(approval_id)
        if not found.open and approval_id in self._callbacks:
            self._notify(found)  # resolved by another process
        return found

    def _read(self, approval_id: str) -> Approval:
        with self._t.store.read() as conn:
            row = repo.get(conn, approval_id)
            if row is None:
                raise NotFound(f"approval {approval_id!r} does not exist")
            votes = repo.votes(conn, approval_id)
        return _to_approval(row, votes)

    def list(
        self, states: Sequence[str] | None = ("pending", "escalated"), *, limit: int = 50,
        offset: int = 0,
    ) -> list[Approval]:  # fmt: skip
        """Approvals, newest first (open ones by default)."""
        self.tick()
        with self._t.store.read() as conn:
            rows = repo.listing(conn, states, limit, offset)
        return [_to_approval(r, ()) for r in rows]

    def inbox(self, approver: str) -> builtins.list[Approval]:
        """Open approvals ``approver`` may vote on now."""
        person = self._t.actors.find(approver)
        if person is None or person.kind != "human" or not person.active:
            return []
        out = []
        for a in self.list():
            full = self._read(a.id)
            if full.requester == approver or any(v["approver"] == approver for v in full.votes):
                continue
            if any(set(req["roles"]) & set(person.roles) for req in full.needed()):
                out.append(full)
        return out

    # -- people ------------------------------------------------------------------------------

    def approve(self, approval_id: str, *, approver: str, comment: str = "") -> Approval:
        """Cast an approving vote; the approval resolves when every requirement of its
        current level has enough distinct approvers.

        Raises:
            NotFound: no such approval.
            InvalidInput: the approver may not vote (not a registered active human,
                the requester, no required role, already voted) or it is resolved.
            Conflict: it changed concurrently and still did after retrying.
        """
        return self._vote(approval_id, approver, "approve", comment)

    def reject(self, approval_id: str, *, approver: str, comment: str) -> Approval:
        """Reject: one eligible rejection resolves the approval (the action never runs).

        Raises:
            InvalidInput: as :meth:`approve`, or an empty comment.
        """
        if not comment.strip():
            raise InvalidInput("a rejection needs a comment saying why")
        return self._vote(approval_id, approver, "reject", comment)

    def override(
        self, approval_id: str, *, actor: str, justification: str, approve: bool = True
    ) -> Approval:
        """A person overrides the approval process (AI Act Art. 14(4)(d)): approve
        (or reject) whatever state it is in, with a justification on the record.

        Raises:
            InvalidInput: no justification, the actor is not an active human with role
                admin or overrider, or it is the requester, or the approval was used.
        """
        if len(justification.strip()) < 10:
            raise InvalidInput("an override needs a justification (at least 10 characters)")
        person = self._person(actor, "override")
        if not set(person.roles) & set(OVERRIDE_ROLES):
            raise InvalidInput(f"{actor!r} may not override: needs role admin or overrider")
        for _ in range(3):
            a = self.get(approval_id)
            if a.requester == actor:
                raise InvalidInput("no self-approval: the requester cannot override its request")
            if a.state in ("consumed", "overridden") or (not approve and a.state == "rejected"):
                raise InvalidInput(f"approval {approval_id} is {a.state}; nothing to override")
            state = "overridden" if approve else "rejected"
            try:
                return self._move(a, (state, a.level, None), "approval.overridden", actor,
                                  {"justification": justification, "approve": approve,
                                   "from": a.state})  # fmt: skip
            except Conflict:
                continue
        raise Conflict(f"approval {approval_id} keeps changing; try again")

    def on_resolved(self, approval_id: str, callback: Callable[[Approval], Any]) -> None:
        """Call ``callback(approval)`` when this process sees it resolved."""
        with self._lock:
            self._callbacks.setdefault(approval_id, []).append(callback)

    def wait(self, approval_id: str, timeout: float, poll: float = 0.1) -> Approval:
        """Block until the approval resolves or ``timeout`` seconds pass (real time);
        return it either way (check ``.state``)."""
        end = time.monotonic() + timeout
        while True:
            a = self.get(approval_id)
            if not a.open or time.monotonic() >= end:
                return a
            time.sleep(min(poll, max(0.0, end - time.monotonic())))

    def tick(self) -> builtins.list[Approval]:
        """Escalate or expire every open approval whose deadline passed (by the
        tether's clock); return the ones changed. Never approves anything."""
        now = self._t.clock.now().timestamp()
        with self._t.store.read() as conn:
            due = repo.due(conn, now)
        changed = []
        for row in due:
            a = _to_approval(row, ())
            escalate = a.level == 0 and any(len(r["levels"]) > 1 for r in a.requirements["rules"])
            try:
                if escalate:
                    deadline = _deadline(a.requirements, 1, now)
                    then = ("escalated", 1, deadline)
                    extra = {"deadline": deadline}
                    changed.append(
                        self._move(a, then, "approval.escalated", "tether:approvals", extra)
                    )
                else:
                    expired = ("expired", a.level, None)
                    changed.append(
                        self._move(a, expired, "approval.expired", "tether:approvals", {})
                    )
            except Conflict:
                continue  # another process did it
        return changed

    # -- the pipeline --------------------------------------------------------------------------

    def consume(
        self,
        approval_id: str,
        system: str,
        action: str,
        requester: str,
        request_digest: str,
        rules: Sequence[str],
    ) -> Approval:
        """Use an approval to run the action it approved: once, for the same request
        (system, action, requester, and the digest of its inputs and context before
        any redaction), and only if it covers every rule that asks for approval now.
        Recorded as an ``approval.consumed`` entry before the action runs.

        Raises:
            NotFound: no such approval.
            InvalidInput: it is not approved, approved another request, does not
                cover a rule that now requires approval, or was used already.
        """
        a = self.get(approval_id)
        if (a.system, a.action, a.requester) != (system, action, requester) or (
            a.requirements.get("digest") != request_digest
        ):
            raise InvalidInput(
                f"approval {approval_id} approved another request (system, action, "
                "requester, inputs or context differ); ask again"
            )
        approved = {r["rule"] for r in a.requirements["rules"]}
        missing = sorted(set(rules) - approved)
        if missing:
            raise InvalidInput(
                f"approval {approval_id} does not cover rule(s) {missing} that now require "
                "approval; ask again"
            )
        if a.state not in ("approved", "overridden"):
            raise InvalidInput(f"approval {approval_id} is {a.state}, not approved")
        now = self._t.clock.now().timestamp()
        try:
            self._t.ledger.append(
                "approval.consumed", requester, {"approval": a.id, "from": a.state},
                subject=f"approval/{a.id}", mutation=repo.consume(a.id, now),
            )  # fmt: skip
        except Conflict:
            raise InvalidInput(f"approval {approval_id} was already used") from None
        return a

    # -- internals ------------------------------------------------------------------------------

    def _person(self, actor: str, what: str) -> Any:
        person = self._t.actors.find(actor)
        if person is None or not person.active:
            raise InvalidInput(f"{actor!r} may not {what}: not a registered, active actor")
        if person.kind != "human":
            raise InvalidInput(f"{actor!r} may not {what}: only people may ({person.kind}s never)")
        return person

    def _vote(self, approval_id: str, approver: str, choice: str, comment: str) -> Approval:
        person = self._person(approver, "approve")
        for _ in range(3):
            a = self.get(approval_id)
            if not a.open:
                raise InvalidInput(f"approval {approval_id} is {a.state}; it takes no more votes")
            if a.requester == approver:
                raise InvalidInput("no self-approval: the requester cannot vote on its request")
            if any(v["approver"] == approver for v in a.votes):
                raise InvalidInput(f"{approver!r} already voted on approval {approval_id}")
            needed = a.needed()
            roles = sorted({r for req in needed for r in req["roles"]} & set(person.roles))
            if not roles:
                wanted = sorted({r for req in needed for r in req["roles"]})
                raise InvalidInput(f"{approver!r} lacks a required role: one of {wanted}")
            votes = (*a.votes, {"approver": approver, "roles": list(person.roles),
                                "level": a.level, "vote": choice})  # fmt: skip
            then: tuple[str, int, float | None] | None = None
            kind = "approval.vote"
            if choice == "reject":
                then, kind = ("rejected", a.level, None), "approval.rejected"
            elif not _missing(a.requirements, a.level, votes):
                then, kind = ("approved", a.level, None), "approval.approved"
            now = self._t.clock.now().timestamp()
            try:
                self._t.ledger.append(
                    kind, approver,
                    {"approval": a.id, "vote": choice, "level": a.level, "roles": roles,
                     "comment": comment, "state": then[0] if then else a.state},
                    subject=f"approval/{a.id}",
                    mutation=repo.vote(a.id, approver, a.level, person.roles, choice, comment,
                                       now, (a.state, a.level, a.version), then),
                )  # fmt: skip
            except Conflict:
                continue
            result = self._read(a.id)
            self._notify(result)
            return result
        raise Conflict(f"approval {approval_id} keeps changing; try again")

    def _move(
        self, a: Approval, then: tuple[str, int, float | None], kind: str, actor: str,
        extra: dict[str, Any],
    ) -> Approval:  # fmt: skip
        now = self._t.clock.now().timestamp()
        self._t.ledger.append(
            kind, actor, {"approval": a.id, "from": a.state, "state": then[0], **extra},
            subject=f"approval/{a.id}",
            mutation=repo.transition(a.id, (a.state, a.level, a.version), then, now),
        )  # fmt: skip
        result = self._read(a.id)
        self._notify(result)
        return result

    def _notify(self, a: Approval) -> None:
        if a.open:
            return
        with self._lock:
            callbacks = self._callbacks.pop(a.id, [])
        for cb in callbacks:
            try:
                cb(a)
            except Exception:  # a callback never breaks the approval
                continue


def _deadline(reqs: dict[str, Any], level: int, now: float) -> float | None:
    timeouts = [
        r["levels"][level]["timeout"]
        for r in reqs["rules"]
        if level < len(r["levels"]) and r["levels"][level]["timeout"]
    ]
    return now + min(timeouts) if timeouts else None


def _missing(
    reqs: dict[str, Any], level: int, votes: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    out = []
    for r in reqs["rules"]:
        levels = r["levels"]
        at = min(level, len(levels) - 1)
        spec = levels[at]
        # A requirement that did not escalate keeps the votes it had (any level).
        have = {
            v["approver"]
            for v in votes
            if v["vote"] == "approve"
            and min(v["level"], len(levels) - 1) == at
            and set(v["roles"]) & set(spec["roles"])
        }
        if len(have) < spec["count"]:
            out.append({"rule": r["rule"], "roles": spec["roles"], "count": spec["count"],
                        "have": len(have)})  # fmt: skip
    return out


def _to_approval(row: dict[str, Any], votes: Sequence[dict[str, Any]]) -> Approval:
    return Approval(
        row["id"], row["decision_id"], row["system"], row["action"], row["requester"],
        row["state"], int(row["level"]), row["requirements"], row["deadline"], row["reason"],
        row["request"], row["created_at"], row["updated_at"], row["resolved_at"],
        int(row["ledger_index"]), tuple(votes), None, int(row.get("version") or 0),
    )  # fmt: skip
