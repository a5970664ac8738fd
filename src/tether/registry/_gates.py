"""Model gates: what a version must show before an alias (``champion``) may point at it.

A system's **gate set** holds metric thresholds (absolute, or relative to a baseline
version's registered metrics), fairness thresholds on evaluation data, a drift limit
for recent production against the monitoring baseline, and a human sign-off (for
high-risk systems by default). ``set`` validates it, canonicalises it (RFC 8785) and
hashes it (SHA-256): a ``gates.set`` ledger entry and gate-set version N+1 (the same
spec again writes nothing).

**Thresholds come first.** A version's *registered* metrics are judged only against a
gate set recorded before them (EU AI Act Art. 9(8): testing against prior defined
metrics and thresholds); for a version registered earlier, ``run`` refuses them and
asks for a fresh evaluation, which it records after the gates. ``run`` writes a
``gates.evaluated`` entry and keeps the latest report per model version and gate-set
version. ``Models.promote`` calls :meth:`Gates.admit`: a failing gate refuses the
promotion with :class:`~tether.errors.GateFailed` unless a second person with an
override role approves an override (a ``gates.override`` approval they vote on
themselves, bound to the justification and the failing gates; used once, it becomes a
``gates.overridden`` entry cited in the alias move).

**Changing gates is governed.** ``set`` is the action ``set_gates``: the pipeline
decides it (default deny: a policy must declare and allow it) and only a registered,
active person may set gates.

**Evaluation data outrank registered metrics.** A report built from evaluation data
stands until a run with new evaluation data replaces it: a run without data refuses to
replace it, and a promotion never re-runs it on the registered metrics.
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson

from tether._ids import new_id
from tether.errors import ApprovalRequired, Conflict, GateFailed, InvalidInput, NotFound
from tether.ledger._canonical import canonical_json
from tether.registry._gate_checks import (
    OVERRIDE_ACTION,
    SIGNOFF_ACTION,
    drift_result,
    fairness_results,
    metric_results,
    signoff_request,
    signoff_result,
)
from tether.registry._gate_eval import Evaluation, build_evaluation
from tether.registry._gate_records import (
    Admission,
    GateReport,
    GateResult,
    GateSet,
    gate_set_of,
    report_of,
)
from tether.registry._gate_spec import GateSpec, canonical_spec, parse_spec
from tether.registry._inventory import _check_name
from tether.store import gate_repo as repo

if TYPE_CHECKING:
    from tether.approvals import Approval
    from tether.core import Tether
    from tether.registry._models import ModelVersion

__all__ = ["Gates"]

_MIN_JUSTIFICATION = 10  # as for approval overrides: a reason, not a keystroke
SET_ACTION = "set_gates"  # the action policy governs gate-set changes as


class Gates:
    """Gate sets, gate runs and promotion checks (``tether.gates``).

    Example:
        >>> from tether.policy import Policy
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> _ = t.actors.register("user:ana", kind="human", roles=["model_owner"], actor="admin")
        >>> _ = t.policies.publish(Policy.from_text('''
        ... policy: p
        ... systems: {scorer: {kind: model, owner: ml, risk_tier: limited}}
        ... actions: {set_gates: {args: {digest: string, reason: string}}}
        ... rules: [{id: owners, actions: [set_gates], effect: allow,
        ...          when: '"model_owner" in actor.roles'}]
        ... '''), actor="admin")
        >>> _ = t.gates.set("scorer", {"metrics": [{"metric": "auc", "min": 0.75}]},
        ...                 actor="user:ana", reason="launch criteria")
        >>> _ = t.models.register("scorer", b"m1", uri="mem://1", actor="user:ana",
        ...                       metrics={"auc": 0.71}, code=None)
        >>> report = t.gates.run("scorer", 1, actor="user:ana")
        >>> report.passed, report.failing[0].detail
        (False, 'auc 0.71 < 0.75')
        >>> t.close()
    """

    def __init__(self, tether: Tether) -> None:
        self._t = tether

    # -- gate sets ---------------------------------------------------------------------

    def set(
        self,
        system: str,
        spec: Mapping[str, Any] | GateSpec,
        *,
        actor: str,
        reason: str,
        approval_id: str | None = None,
    ) -> GateSet:
        """Validate, canonicalise and hash ``spec`` and make it the system's gate set
        (version N+1, a ``gates.set`` ledger entry); the current spec again changes
        nothing and returns the current version.

        Setting gates is the governed action ``set_gates`` (args ``digest``, the new
        spec's SHA-256, and ``reason``): the pipeline decides it for ``actor``, a
        registered, active person, and denies it unless a policy declares and allows
        it (pass ``approval_id`` once an approval it asked for is granted).

        Raises:
            InvalidInput: the spec is not valid (each problem names the key and the
                fix), a bad alias or system name, no reason, or ``actor`` is not a
                registered, active person.
            ActionDenied: policy denied it (``ApprovalRequired`` carries the id of the
                approval to ask for).
            Conflict: too many concurrent writers.
        """
        _check_name(system, "system")
        if not reason or not reason.strip():
            raise InvalidInput("setting gates needs a reason (it is recorded)")
        parsed = parse_spec(spec)
        for alias in parsed.aliases:
            _check_name(alias, "alias")
        data, blob, digest = canonical_spec(parsed)
        person = self._t.actors.find(actor)
        if person is None or not person.active or person.kind != "human":
            raise InvalidInput(f"{actor!r} may not set gates: only a registered, active person "
                               "may (register them with tether actors register)")  # fmt: skip
        current = self.current(system)
        if current is not None and current.digest == digest:
            return current  # nothing changes: nothing to decide
        self._t.pipeline.decide(system, SET_ACTION, actor=actor,
                                inputs={"digest": digest, "reason": reason},
                                approval_id=approval_id, raise_on_denial=True)  # fmt: skip
        for _ in range(8):
            current = self.current(system)
            if current is not None and current.digest == digest:
                return current
            number = 1 if current is None else current.version + 1
            now = self._t.clock.now()
            payload = {
                "system": system, "version": number, "digest": digest, "spec": data,
                "reason": reason, "previous": current.digest if current else None,
            }  # fmt: skip
            try:
                entry = self._t.ledger.append(
                    "gates.set", actor, payload, subject=f"system/{system}/gates",
                    mutation=repo.put_set(system, number, digest, blob.decode(), actor, reason,
                                          now.timestamp()),
                )  # fmt: skip
            except Conflict:
                continue
            return GateSet(system, number, parsed, digest, actor, reason, now, entry.index)
        raise Conflict(f"could not take a gate set version for {system}: too many writers")

    def current(self, system: str) -> GateSet | None:
        """The system's current gate set, or None."""
        with self._t.store.read() as conn:
            row = repo.current(conn, system)
        return None if row is None else gate_set_of(row)

    def get(self, system: str, version: int | None = None) -> GateSet:
        """The current gate set, or version ``version``.

        Raises:
            NotFound: the system has no (such) gate set.
        """
        if version is None:
            found = self.current(system)
        else:
            with self._t.store.read() as conn:
                row = repo.gate_set(conn, system, version)
            found = None if row is None else gate_set_of(row)
        if found is None:
            which = "gate set" if version is None else f"gate set version {version}"
            raise NotFound(f"{system} has no {which}: set one with tether.gates.set(...)")
        return found

    def history(self, system: str) -> builtins.list[GateSet]:
        """Every gate-set version of the system, oldest first."""
        with self._t.store.read() as conn:
            return [gate_set_of(r) for r in repo.gate_sets_of(conn, system)]

    # -- runs --------------------------------------------------------------------------

    def run(
        self,
        system: str,
        version: int,
        *,
        actor: str,
        X: Any = None,
        y: Any = None,
        predictions: Any = None,
        scores: Any = None,
        sensitive: Any = None,
        metrics: Mapping[str, float] | None = None,
        threshold: float = 0.5,
        approval_id: str | None = None,
        promoter: str | None = None,
    ) -> GateReport:
        """Judge ``version`` by the current gate set; record the report (a
        ``gates.evaluated`` entry, kept as the version's latest under this gate set).

        Fresh evaluation data (always recorded after the gates): ``X`` (the version's
        model is loaded, its artifact digest checked, and predicts) or ``predictions``
        / ``scores`` (cut at ``threshold``), with labels ``y`` and ``sensitive``
        columns; metrics are computed from them (accuracy, precision, recall, f1, and
        auc and brier with scores; mae, rmse, r2 for numbers), and ``metrics`` adds
        others computed now. Without them, the registered metrics are used, if they
        were registered after the gate set. The sign-off is judged with
        ``approval_id`` for ``promoter`` (default ``actor``), else at promotion (where
        its alias is judged too).

        A report built from evaluation data stands until a run with new evaluation
        data replaces it: a run without data refuses to (self-reported, registered
        metrics never supersede an evaluation).

        Raises:
            NotFound: no such version, or no gate set.
            InvalidInput: registered metrics older than the gate set and no fresh
                evaluation of them, bad evaluation data, or no evaluation data while
                the version's report under this gate set came from evaluation data.
            VerificationError: the model artifact is not the registered one.
        """
        gates = self.get(system)
        v = self._t.models.get(system, version)
        evaluation = build_evaluation(self._t, v, X=X, y=y, predictions=predictions,
                                      scores=scores, sensitive=sensitive, metrics=metrics,
                                      threshold=threshold)  # fmt: skip
        if evaluation is None:
            stored = self.report(system, version, gates.version)
            if stored is not None and stored.evaluation is not None:
                raise InvalidInput(
                    f"version {version} of {system} was judged on evaluation data under gate "
                    f"set version {gates.version} (report at ledger index {stored.ledger_index}, "
                    f"{'passed' if stored.passed else 'failed'}): a run without evaluation data "
                    "does not replace it; run the gates with new evaluation data (X and y, "
                    "predictions or scores, or metrics computed now)"
                )
        results = self._judge(gates, v, evaluation, strict=True)
        results.append(signoff_result(
            self._t, system, version, gates.spec.signoff, approval_id, promoter or actor,
            at_promotion=False, gates=gates, alias=None,
        ))  # fmt: skip
        summary = None if evaluation is None else evaluation.summary()
        return self._record(gates, v, results, actor, summary)

    def report(
        self, system: str, version: int, gate_version: int | None = None
    ) -> GateReport | None:
        """The latest stored report of ``version`` under the current gate set (or
        ``gate_version``), or None."""
        if gate_version is None:
            current = self.current(system)
            if current is None:
                return None
            gate_version = current.version
        with self._t.store.read() as conn:
            row = repo.result(conn, system, version, gate_version)
        return None if row is None else report_of(row)

    def reports(self, system: str, version: int) -> builtins.list[GateReport]:
        """The latest stored report of ``version`` under each gate-set version."""
        with self._t.store.read() as conn:
            return [report_of(r) for r in repo.results(conn, system, version)]

    # -- promotion ---------------------------------------------------------------------

    def request_signoff(
        self, system: str, version: int, *, requester: str, reason: str = "",
        alias: str = "champion",
    ) -> Approval:  # fmt: skip
        """Ask for a person's sign-off on promoting ``version`` to ``alias`` under the
        current gate set (an approval for the gate's roles, default
        ``model_approver``); pass its id to ``promote`` once approved. It signs off
        that alias and that gate set only, and is used up by the promotion.

        Raises:
            NotFound: no such version, or no gate set.
        """
        from tether.policy import ApprovalRequirement

        gates = self.get(system)
        self._t.models.get(system, version)
        _check_name(alias, "alias")
        roles = tuple(gates.spec.signoff.roles or ("model_approver",))
        request, digest = signoff_request(alias, version, gates.version, gates.digest)
        why = reason or f"sign-off to promote version {version} of {system} to {alias}"
        return self._t.approvals.request(
            decision_id=new_id("sig_"), system=system, action=SIGNOFF_ACTION,
            requester=requester, requirements=[ApprovalRequirement(SIGNOFF_ACTION, roles, 1, None)],
            reasons=[why], request=request, inputs_digest=digest,
        )  # fmt: skip

    def admit(
        self,
        system: str,
        version: int,
        *,
        alias: str,
        actor: str,
        approval_id: str | None = None,
        override_by: str | None = None,
        justification: str | None = None,
    ) -> Admission:
        """Check a promotion of ``version`` to ``alias`` by ``actor`` against the
        gates (what :meth:`Models.promote` calls).

        The report is the latest stored one of the version under the current gate
        set; when there is none, or it failed on registered metrics, the gates run
        again on the registered metrics. A report built from evaluation data is never
        re-run here: only a run with new evaluation data replaces it. The sign-off is
        judged now, for this promoter and this alias, and used up when admitted.

        An override is an act of the overriding person: ``override_by`` and a
        ``justification`` without an override approval open one (action
        ``gates.override``, for the gate set's ``override_roles``, bound to the
        version, alias, gate digest, justification and failing gates) and raise
        :class:`ApprovalRequired`; once ``override_by`` approved it, promote again
        with its id as ``approval_id``: it is used up and the promoter records a
        ``gates.overridden`` entry naming the approver and the approval.

        Raises:
            GateFailed: a gate failed and there is no (valid) override.
            ApprovalRequired: only the sign-off is missing (a sign-off approval was
                requested), or an override needs its approver (an override approval
                was requested, or the one given is still open): ``approval_id``.
            InvalidInput: an override without a justification, by someone who may not
                override, or with an approval that does not match it.
        """
        if justification is not None and override_by is None:
            raise InvalidInput("a justification overrides gates only with an override approver")
        gates = self.current(system)
        if gates is None or alias not in gates.spec.aliases:
            return Admission(None, approval_id)
        if override_by is not None:
            self._check_override(gates, actor, override_by, justification)
        v = self._t.models.get(system, version)
        signoff = signoff_result(self._t, system, version, gates.spec.signoff, approval_id, actor,
                                 at_promotion=True, gates=gates, alias=alias)  # fmt: skip
        report = self.report(system, version, gates.version)
        stale = (
            report is not None
            and report.evaluation is None
            and any(r.passed is False for r in report.results if r.kind != "signoff")
        )  # a failing report on registered metrics may pass now (drift, baseline)
        if report is None or stale:
            results = [*self._judge(gates, v, None, strict=False), signoff]
            report = self._record(gates, v, results, actor, None)
        failing = [r for r in report.results if r.kind != "signoff" and r.passed is False]
        failing += [signoff] if signoff.passed is False else []
        evidence: dict[str, Any] = {
            "gate_version": gates.version, "gate_digest": gates.digest,
            "report": report.ledger_index, "passed": not failing, "signoff": signoff.to_dict(),
        }  # fmt: skip
        # A gate approval (sign-off, override) is not the pipeline's to consume: it never
        # sees it; the gates use it up here.
        gate_approval = self._gate_action(approval_id)
        pipeline_approval = None if gate_approval else approval_id
        if not failing:
            if gate_approval == SIGNOFF_ACTION and signoff.source:
                self._use_signoff(gates, alias, version, str(approval_id))
            return Admission(evidence, pipeline_approval)
        if override_by is None:
            if failing == [signoff] and approval_id is None:
                asked = self.request_signoff(system, version, requester=actor, alias=alias)
                raise ApprovalRequired(
                    f"promoting version {version} of {system} to {alias} needs a sign-off by "
                    f"someone else: approval {asked.id} was requested; once approved, promote "
                    "again with its id", None, asked.id,
                )  # fmt: skip
            raise GateFailed(_refusal(system, version, alias, gates, failing), failing, report)
        why = justification or ""
        request, digest = _override_request(alias, version, gates, override_by, why, failing)
        if gate_approval != OVERRIDE_ACTION:
            asked = self._request_override(gates, version, actor, request, digest, failing)
            raise ApprovalRequired(
                f"overriding the failing gates of version {version} of {system} for {alias} "
                f"({', '.join(r.name for r in failing)}) is {override_by}'s act: approval "
                f"{asked.id} was requested; once {override_by} approved it, promote again with "
                "its id (and the same override approver and justification)", None, asked.id,
            )  # fmt: skip
        approver = self._use_override(gates, str(approval_id), actor, override_by, request, digest)
        evidence["override"] = self._override(gates, report, alias, failing, actor, approver,
                                              why, str(approval_id))  # fmt: skip
        return Admission(evidence, pipeline_approval)

    # -- internals ---------------------------------------------------------------------

    def _judge(
        self, gates: GateSet, v: ModelVersion, evaluation: Evaluation | None, *, strict: bool
    ) -> builtins.list[GateResult]:
        spec = gates.spec
        results = metric_results(spec.metrics, v, evaluation, gates.ledger_index,
                                 self._baseline(v.system), strict=strict)  # fmt: skip
        if spec.fairness is not None:
            results += fairness_results(spec.fairness, evaluation)
        if spec.drift is not None:
            results.append(drift_result(self._t, v.system, spec.drift))
        return results

    def _gate_action(self, approval_id: str | None) -> str | None:
        """The gate action (sign-off, override) ``approval_id`` is for, else None."""
        if approval_id is None:
            return None
        try:
            action = self._t.approvals.get(approval_id).action
        except NotFound:
            return None
        return action if action in (SIGNOFF_ACTION, OVERRIDE_ACTION) else None

    def _baseline(self, system: str) -> Callable[[str | int], ModelVersion | None]:
        def find(which: str | int) -> ModelVersion | None:
            try:
                if isinstance(which, int):
                    return self._t.models.get(system, which)
                return self._t.models.resolve(system, which)
            except NotFound:
                return None

        return find

    def _record(
        self, gates: GateSet, v: ModelVersion, results: builtins.list[GateResult], actor: str,
        evaluation: dict[str, Any] | None,
    ) -> GateReport:  # fmt: skip
        now = self._t.clock.now()
        report = GateReport(v.system, v.version, gates.version, gates.digest, tuple(results),
                            actor, now, evaluation)  # fmt: skip
        payload = report.to_dict()
        payload.pop("ledger_index")
        entry = self._t.ledger.append(
            "gates.evaluated", actor, payload, subject=f"system/{v.system}/gates",
            mutation=repo.put_result(v.system, v.version, gates.version, report.passed,
                                     orjson.dumps({**payload, "ledger_index": None}).decode(),
                                     now.timestamp()),
        )  # fmt: skip
        return replace(report, ledger_index=entry.index)

    def _check_override(
        self, gates: GateSet, actor: str, override_by: str, justification: str | None
    ) -> None:
        if justification is None or len(justification.strip()) < _MIN_JUSTIFICATION:
            raise InvalidInput(
                "overriding failed gates needs a justification (at least "
                f"{_MIN_JUSTIFICATION} characters): it is recorded in the ledger"
            )
        if override_by == actor:
            raise InvalidInput(f"{actor!r} cannot override gates on its own promotion: "
                               "a second person must")  # fmt: skip
        person = self._t.actors.find(override_by)
        if person is None or not person.active or person.kind != "human":
            raise InvalidInput(f"{override_by!r} may not override gates: only a registered, "
                               "active person may")  # fmt: skip
        roles = gates.spec.override_roles
        if not set(person.roles) & set(roles):
            raise InvalidInput(f"{override_by!r} may not override gates: needs one of the "
                               f"roles {roles} (the gate set's override_roles)")  # fmt: skip

    def _request_override(
        self, gates: GateSet, version: int, promoter: str, request: dict[str, Any],
        digest: str, failing: builtins.list[GateResult],
    ) -> Approval:  # fmt: skip
        from tether.policy import ApprovalRequirement

        args = request["action"]["args"]
        why = (f"override failing gates ({', '.join(r.name for r in failing)}) to promote "
               f"version {version} of {gates.system} to {args['alias']}, named approver "
               f"{args['override_by']}: {args['justification']}")  # fmt: skip
        need = ApprovalRequirement(OVERRIDE_ACTION, tuple(gates.spec.override_roles), 1, None)
        return self._t.approvals.request(
            decision_id=new_id("ovr_"), system=gates.system, action=OVERRIDE_ACTION,
            requester=promoter, requirements=[need], reasons=[why], request=request,
            inputs_digest=digest,
        )  # fmt: skip

    def _use_override(
        self, gates: GateSet, approval_id: str, promoter: str, override_by: str,
        request: dict[str, Any], digest: str,
    ) -> str:  # fmt: skip
        """Check the override approval is ``override_by``'s approval of this override
        and use it up (once); return the approver."""
        a = self._t.approvals.get(approval_id)
        if a.open:
            raise ApprovalRequired(
                f"override approval {approval_id} is {a.state}: {override_by} has not approved "
                "it yet", None, approval_id,
            )  # fmt: skip
        if a.state == "consumed":
            raise InvalidInput(f"override approval {approval_id} was already used; ask again")
        if a.state not in ("approved", "overridden"):
            raise InvalidInput(f"override approval {approval_id} is {a.state}, not approved")
        if a.system != gates.system or a.requester != promoter:
            raise InvalidInput(f"override approval {approval_id} was asked by {a.requester} for "
                               f"{a.system}, not by {promoter} for {gates.system}")  # fmt: skip
        if a.requirements.get("digest") != digest:
            raise InvalidInput(_override_mismatch(approval_id, a.request, request))
        if a.state == "overridden":
            approvers = [self._t.ledger.get(a.ledger_index).actor]
        else:
            approvers = [v["approver"] for v in a.votes if v["vote"] == "approve"]
        if override_by not in approvers:
            raise InvalidInput(f"override approval {approval_id} was approved by "
                               f"{', '.join(approvers)}, not by the named override approver "
                               f"{override_by!r}: the override is theirs to approve")  # fmt: skip
        self._t.approvals.consume(approval_id, gates.system, OVERRIDE_ACTION, promoter, digest,
                                  [OVERRIDE_ACTION])  # fmt: skip
        return override_by

    def _use_signoff(self, gates: GateSet, alias: str, version: int, approval_id: str) -> None:
        """Use a gate sign-off up: one sign-off, one promotion."""
        a = self._t.approvals.get(approval_id)
        _, digest = signoff_request(alias, version, gates.version, gates.digest)
        self._t.approvals.consume(approval_id, gates.system, SIGNOFF_ACTION, a.requester, digest,
                                  [SIGNOFF_ACTION])  # fmt: skip

    def _override(
        self, gates: GateSet, report: GateReport, alias: str, failing: builtins.list[GateResult],
        promoter: str, approver: str, justification: str, approval_id: str,
    ) -> int:  # fmt: skip
        payload = {
            "system": gates.system, "version": report.version, "alias": alias,
            "gate_version": gates.version, "gate_digest": gates.digest,
            "report": report.ledger_index, "failing": [r.to_dict() for r in failing],
            "promoter": promoter, "approver": approver, "justification": justification,
            "approval": approval_id,
        }  # fmt: skip
        # Recorded by the promoter, who acts now; the approver acted in the approval.
        entry = self._t.ledger.append("gates.overridden", promoter, payload,
                                      subject=f"system/{gates.system}/gates")  # fmt: skip
        return entry.index


def _override_request(
    alias: str, version: int, gates: GateSet, override_by: str, justification: str,
    failing: builtins.list[GateResult],
) -> tuple[dict[str, Any], str]:  # fmt: skip
    """The override approval's request and its digest: what the approver approves.
    The sign-off is left out of the failing gates (an override covers it: its
    approver is a second person), so using the override approval as ``approval_id``
    does not change what is bound."""
    bound = [{"name": r.name, "value": r.value, "threshold": r.threshold}
             for r in failing if r.kind != "signoff"]  # fmt: skip
    args = {"alias": alias, "version": version, "override_by": override_by,
            "justification": justification}  # fmt: skip
    context = {"gate_version": gates.version, "gate_digest": gates.digest, "failing": bound}
    request = {"action": {"args": args}, "context": context}
    return request, "sha256:" + hashlib.sha256(canonical_json(request)).hexdigest()


def _override_mismatch(approval_id: str, was: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    def flat(r: Mapping[str, Any]) -> dict[str, Any]:
        return {**((r.get("action") or {}).get("args") or {}), **(r.get("context") or {})}

    old, new = flat(was), flat(now)
    differ = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return (f"override approval {approval_id} approved another override ({', '.join(differ)} "
            "differ): promote with the same version, alias, approver and justification under "
            "the same gate set and failing gates, or ask again")  # fmt: skip


def _refusal(
    system: str, version: int, alias: str, gates: GateSet, failing: builtins.list[GateResult]
) -> str:
    shown = "; ".join(f"{r.name} ({r.detail})" for r in failing)
    return (
        f"promoting version {version} of {system} to {alias} is refused by gate set version "
        f"{gates.version}: {shown}. Fix and re-run the gates, or override with an approver "
        f"holding one of {gates.spec.override_roles} and a justification"
    )
