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
override role justifies it (a ``gates.overridden`` entry, cited in the alias move).
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
    SIGNOFF_ACTION,
    drift_result,
    fairness_results,
    metric_results,
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


class Gates:
    """Gate sets, gate runs and promotion checks (``tether.gates``).

    Example:
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
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
        self, system: str, spec: Mapping[str, Any] | GateSpec, *, actor: str, reason: str
    ) -> GateSet:
        """Validate, canonicalise and hash ``spec`` and make it the system's gate set
        (version N+1, a ``gates.set`` ledger entry); the current spec again changes
        nothing and returns the current version.

        Raises:
            InvalidInput: the spec is not valid (each problem names the key and the
                fix), a bad alias or system name, or no reason.
            Conflict: too many concurrent writers.
        """
        _check_name(system, "system")
        if not reason or not reason.strip():
            raise InvalidInput("setting gates needs a reason (it is recorded)")
        parsed = parse_spec(spec)
        for alias in parsed.aliases:
            _check_name(alias, "alias")
        data, blob, digest = canonical_spec(parsed)
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
        ``approval_id`` for ``promoter`` (default ``actor``), else at promotion.

        Raises:
            NotFound: no such version, or no gate set.
            InvalidInput: registered metrics older than the gate set and no fresh
                evaluation of them, or bad evaluation data.
            VerificationError: the model artifact is not the registered one.
        """
        gates = self.get(system)
        v = self._t.models.get(system, version)
        evaluation = build_evaluation(self._t, v, X=X, y=y, predictions=predictions,
                                      scores=scores, sensitive=sensitive, metrics=metrics,
                                      threshold=threshold)  # fmt: skip
        results = self._judge(gates, v, evaluation, strict=True)
        results.append(signoff_result(
            self._t, system, version, gates.spec.signoff, approval_id, promoter or actor,
            at_promotion=False,
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
        """Ask for a person's sign-off on promoting ``version`` (an approval for the
        gate's roles, default ``model_approver``); pass its id to ``promote`` once
        approved.

        Raises:
            NotFound: no such version, or no gate set.
        """
        from tether.policy import ApprovalRequirement

        gates = self.get(system)
        self._t.models.get(system, version)
        roles = tuple(gates.spec.signoff.roles or ("model_approver",))
        args = {"alias": alias, "version": version}
        context = {"gate_version": gates.version, "gate_digest": gates.digest}
        request = {"action": {"args": args}, "context": context}
        why = reason or f"sign-off to promote version {version} of {system} to {alias}"
        return self._t.approvals.request(
            decision_id=new_id("sig_"), system=system, action=SIGNOFF_ACTION,
            requester=requester, requirements=[ApprovalRequirement(SIGNOFF_ACTION, roles, 1, None)],
            reasons=[why], request=request,
            inputs_digest="sha256:" + hashlib.sha256(canonical_json(request)).hexdigest(),
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
        gates (what :meth:`Models.promote` calls): the latest stored report of the
        version under the current gate set if it passed, else a fresh run without
        evaluation data; the sign-off is judged now, for this promoter.

        Raises:
            GateFailed: a gate failed and there is no (valid) override.
            ApprovalRequired: only the sign-off is missing: a sign-off approval was
                requested (its id is ``approval_id``).
            InvalidInput: an override without a justification, or by someone who may
                not override.
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
                                 at_promotion=True)  # fmt: skip
        report = self.report(system, version, gates.version)
        if report is None or any(r.passed is False for r in report.results if r.kind != "signoff"):
            results = [*self._judge(gates, v, None, strict=False), signoff]
            report = self._record(gates, v, results, actor, None)
        failing = [r for r in report.results if r.kind != "signoff" and r.passed is False]
        failing += [signoff] if signoff.passed is False else []
        evidence: dict[str, Any] = {
            "gate_version": gates.version, "gate_digest": gates.digest,
            "report": report.ledger_index, "passed": not failing, "signoff": signoff.to_dict(),
        }  # fmt: skip
        # A gate sign-off approval is not the pipeline's to consume: it never sees it.
        pipeline_approval = None if self._is_signoff(approval_id) else approval_id
        if not failing:
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
        evidence["override"] = self._override(gates, report, alias, failing, actor, override_by,
                                              justification or "")  # fmt: skip
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

    def _is_signoff(self, approval_id: str | None) -> bool:
        if approval_id is None:
            return False
        try:
            return self._t.approvals.get(approval_id).action == SIGNOFF_ACTION
        except NotFound:
            return False

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

    def _override(
        self, gates: GateSet, report: GateReport, alias: str, failing: builtins.list[GateResult],
        promoter: str, approver: str, justification: str,
    ) -> int:  # fmt: skip
        payload = {
            "system": gates.system, "version": report.version, "alias": alias,
            "gate_version": gates.version, "gate_digest": gates.digest,
            "report": report.ledger_index, "failing": [r.to_dict() for r in failing],
            "promoter": promoter, "approver": approver, "justification": justification,
        }  # fmt: skip
        entry = self._t.ledger.append("gates.overridden", approver, payload,
                                      subject=f"system/{gates.system}/gates")  # fmt: skip
        return entry.index


def _refusal(
    system: str, version: int, alias: str, gates: GateSet, failing: builtins.list[GateResult]
) -> str:
    shown = "; ".join(f"{r.name} ({r.detail})" for r in failing)
    return (
        f"promoting version {version} of {system} to {alias} is refused by gate set version "
        f"{gates.version}: {shown}. Fix and re-run the gates, or override with an approver "
        f"holding one of {gates.spec.override_roles} and a justification"
    )
