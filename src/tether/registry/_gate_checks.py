"""Judging one model version against each kind of gate.

Metric gates read the fresh evaluation's metrics first and the version's registered
metrics only when they were recorded after the gate set (see :func:`metric_results`);
fairness gates need the evaluation's decisions and sensitive columns; the drift gate
compares the system's monitoring baseline with its recent decisions; the sign-off gate
looks at an approval.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from tether.errors import InvalidInput, NotFound
from tether.ledger._canonical import canonical_json
from tether.registry._gate_eval import Evaluation
from tether.registry._gate_records import GateResult, GateSet
from tether.registry._gate_spec import DriftGate, FairnessGate, MetricGate, SignoffGate

if TYPE_CHECKING:
    from tether.core import Tether
    from tether.registry._models import ModelVersion

__all__ = [
    "OVERRIDE_ACTION",
    "SIGNOFF_ACTION",
    "drift_result",
    "fairness_results",
    "metric_results",
    "signoff_request",
    "signoff_result",
]

SIGNOFF_ACTION = "gates.signoff"  # the action of the approvals Gates.request_signoff opens
OVERRIDE_ACTION = "gates.override"  # the action of the approvals an override opens
_RANK = {"none": 0, "low": 1, "medium": 2, "high": 3}
_EPS = 1e-12  # relative thresholds subtract floats: 0.80 - 0.78 must not fail max_drop 0.02


def metric_results(
    gates: Sequence[MetricGate],
    version: ModelVersion,
    evaluation: Evaluation | None,
    gate_index: int,
    baseline: Callable[[str | int], ModelVersion | None],
    *,
    strict: bool,
) -> list[GateResult]:
    """Judge each metric threshold. A value comes from the evaluation, else from the
    version's registered metrics, but only if they were recorded after the gate set
    (``gate_index``): results that existed before the thresholds are not judged
    against them. ``strict`` raises on such a result; otherwise its gate fails.

    Raises:
        InvalidInput: (strict) a registered metric predates the gate set.
    """
    fresh = evaluation.metrics if evaluation is not None else {}
    registered = version.metrics if version.ledger_index < gate_index else {}
    stale = sorted({g.metric for g in gates if g.metric not in fresh and g.metric in registered})
    refusal = (
        f"version {version.version} of {version.system} registered its metrics "
        f"({', '.join(stale)}) at ledger index {version.ledger_index}, before the gate set "
        f"(index {gate_index}): results that existed before the thresholds are not judged "
        "against them; evaluate afresh: run the gates with evaluation data (X and y, or "
        "predictions or scores) or with metrics computed now"
    )
    if stale and strict:
        raise InvalidInput(refusal)
    out = []
    for g in gates:
        if g.metric in fresh:
            value: float | None = fresh[g.metric]
            source = "evaluation"
        elif g.metric in version.metrics and g.metric not in stale:
            value, source = version.metrics[g.metric], "registered"
        else:
            value, source = None, ""
        for condition, limit in g.conditions():
            name = f"{g.metric}.{condition}"
            if g.metric in stale:
                out.append(GateResult(name, "metric", False, None, limit, "refused: " + refusal))
            elif value is None:
                detail = f"{g.metric} was neither evaluated nor registered"
                out.append(GateResult(name, "metric", False, None, limit, detail))
            elif condition in ("min", "max"):
                ok = value >= limit if condition == "min" else value <= limit
                sign = (">=" if ok else "<") if condition == "min" else ("<=" if ok else ">")
                detail = f"{g.metric} {value:.4g} {sign} {limit:.4g}"
                out.append(GateResult(name, "metric", ok, value, limit, detail, source))
            else:
                out.append(_relative(g, condition, limit, value, source, baseline))
    return out


def _relative(
    g: MetricGate, condition: str, limit: float, value: float, source: str,
    baseline: Callable[[str | int], ModelVersion | None],
) -> GateResult:  # fmt: skip
    name = f"{g.metric}.{condition}"
    which = g.baseline if g.baseline is not None else "champion"
    base = baseline(which)
    label = f"version {which}" if isinstance(which, int) else repr(which)
    if base is None:
        return GateResult(name, "metric", True, None, limit,
                          f"no {label} yet: nothing to compare with", source)  # fmt: skip
    if g.metric not in base.metrics:
        detail = f"the baseline (version {base.version}) has no registered {g.metric}"
        return GateResult(name, "metric", False, None, limit, detail, source)
    ref = base.metrics[g.metric]
    change = ref - value if condition == "max_drop" else value - ref
    ok = change <= limit + _EPS
    word = "drop" if condition == "max_drop" else "rise"
    detail = (
        f"{g.metric} {value:.4g} vs {ref:.4g} for version {base.version} ({label}): "
        f"{word} {change:.4g} {'<=' if ok else '>'} {limit:.4g}"
    )
    return GateResult(name, "metric", ok, change, limit, detail, f"{source} vs v{base.version}")


def fairness_results(gate: FairnessGate, evaluation: Evaluation | None) -> list[GateResult]:
    """Judge the fairness thresholds on the evaluation's decisions.

    Raises:
        InvalidInput: decisions that are not binary, missing sensitive values.
    """
    from tether.explain.fairness import fairness_report

    names = []
    if gate.min_impact_ratio is not None:
        names.append(("fairness.min_impact_ratio", gate.min_impact_ratio))
    if gate.max_equalized_odds_difference is not None:
        names.append(("fairness.max_equalized_odds_difference", gate.max_equalized_odds_difference))
    if evaluation is None or evaluation.predictions is None or not evaluation.sensitive:
        why = "needs evaluation data: decisions (predictions, scores or X) and sensitive columns"
        return [GateResult(n, "fairness", False, None, limit, why) for n, limit in names]
    sensitive = evaluation.sensitive
    if gate.attributes is not None:
        missing = sorted(set(gate.attributes) - set(sensitive))
        if missing:
            why = f"sensitive column(s) {missing} missing from the evaluation data"
            return [GateResult(n, "fairness", False, None, limit, why) for n, limit in names]
        sensitive = {a: sensitive[a] for a in gate.attributes}
    report = fairness_report(
        evaluation.y, evaluation.predictions, sensitive, min_group=gate.min_group,
        intersectional=gate.intersectional,
    )  # fmt: skip
    out = []
    source = f"{report.rows} rows, groups of at least {gate.min_group}"
    if gate.min_impact_ratio is not None:
        limit = gate.min_impact_ratio
        judged = [g for g in report.groups if g.impact_ratio is not None]
        if not judged:
            why = f"no two groups have {gate.min_group} rows: nothing judged"
            out.append(GateResult(names[0][0], "fairness", False, None, limit, why, source))
        else:
            worst = min(judged, key=lambda g: g.impact_ratio or 0.0)
            ratio = float(worst.impact_ratio or 0.0)
            ok = ratio >= limit
            detail = f"{worst.group}: impact ratio {ratio:.4g} {'>=' if ok else '<'} {limit:.4g}"
            out.append(GateResult(names[0][0], "fairness", ok, ratio, limit, detail, source))
    if gate.max_equalized_odds_difference is not None:
        limit = gate.max_equalized_odds_difference
        eod = report.equalized_odds_difference
        if eod is None:
            why = (
                "needs labels (y)"
                if evaluation.y is None
                else (f"undefined: no two groups of {gate.min_group} rows with both labels")
            )
            out.append(GateResult(names[-1][0], "fairness", False, None, limit, why, source))
        else:
            ok = eod <= limit
            detail = f"equalized-odds difference {eod:.4g} {'<=' if ok else '>'} {limit:.4g}"
            out.append(GateResult(names[-1][0], "fairness", ok, eod, limit, detail, source))
    return out


def drift_result(t: Tether, system: str, gate: DriftGate) -> GateResult:
    """Judge the drift of ``system``'s recent decisions from its monitoring baseline."""
    try:
        stored = t.monitor.get(system)
    except NotFound as exc:
        return GateResult("drift", "drift", False, None, gate.fail_at, str(exc))
    size = stored.baseline.window_size
    window = t.monitor.window(system, action=stored.action, last=gate.last or size)
    rows = window.n - window.erased
    need = gate.min_rows or max(1, size // 2)
    if rows < need:
        detail = f"only {rows} recent decisions of {system}; the drift gate needs {need}"
        return GateResult("drift", "drift", False, None, gate.fail_at, detail, window.label)
    report = t.monitor.check(system, window, emit=False)
    worst = max((f.severity for f in report.drift.features), key=_RANK.__getitem__,
                default="none")  # fmt: skip
    ok = _RANK[worst] < _RANK[gate.fail_at]
    drifted = ", ".join(f"{f.feature} ({f.severity})" for f in report.drift.drifted())
    detail = f"worst drift severity {worst} ({'below' if ok else 'at or above'} {gate.fail_at})"
    detail += f": {drifted}" if drifted else ": no feature drifted"
    return GateResult("drift", "drift", ok, worst, gate.fail_at, detail, window.label)


def signoff_request(
    alias: str, version: int, gate_version: int, gate_digest: str
) -> tuple[dict[str, Any], str]:
    """A sign-off approval's request and its digest: the alias, the version and the
    gate set (version and digest) it signs off."""
    args = {"alias": alias, "version": version}
    context = {"gate_version": gate_version, "gate_digest": gate_digest}
    request = {"action": {"args": args}, "context": context}
    return request, "sha256:" + hashlib.sha256(canonical_json(request)).hexdigest()


def signoff_result(
    t: Tether, system: str, version: int, gate: SignoffGate, approval_id: str | None,
    promoter: str, *, at_promotion: bool, gates: GateSet, alias: str | None,
) -> GateResult:  # fmt: skip
    """Judge the sign-off: an approval of this system's version, for ``alias`` (None:
    any gated alias, judged again at promotion) under ``gates``, not used yet,
    approved by a person other than ``promoter`` (holding one of the gate's roles,
    when it names some)."""
    if gate.required == "never":
        return GateResult("signoff", "signoff", True, None, None, "not required")
    if gate.required == "high_risk":
        found = t.systems.find(system)
        if found is not None and found.risk_tier != "high":
            detail = f"not required: {system} is a {found.risk_tier}-risk system"
            return GateResult("signoff", "signoff", True, None, None, detail)
    need = "someone other than the promoter" + (f" with role {gate.roles}" if gate.roles else "")
    if approval_id is None:
        detail = f"needs an approved sign-off by {need}"
        return GateResult("signoff", "signoff", False if at_promotion else None, None, None,
                          detail + ("" if at_promotion else " (judged at promotion)"))  # fmt: skip
    problem, signer = _signer(t, system, version, gate, approval_id, promoter, gates, alias)
    if problem:
        return GateResult("signoff", "signoff", False, approval_id, None, problem)
    return GateResult("signoff", "signoff", True, approval_id, None,
                      f"approval {approval_id} granted by {signer}", signer)  # fmt: skip


def _signer(
    t: Tether, system: str, version: int, gate: SignoffGate, approval_id: str, promoter: str,
    gates: GateSet, alias: str | None,
) -> tuple[str, str]:  # fmt: skip
    from tether.registry._models import ALIAS_ACTION

    try:
        a = t.approvals.get(approval_id)
    except NotFound:
        return f"approval {approval_id!r} does not exist", ""
    args = (a.request.get("action") or {}).get("args") or {}
    if a.system != system or a.action not in (ALIAS_ACTION, SIGNOFF_ACTION):
        return f"approval {approval_id} is for {a.action} on {a.system}, not this promotion", ""
    if args.get("version") != version:
        return f"approval {approval_id} approves version {args.get('version')}, not {version}", ""
    scope = _scope(a, approval_id, gates, alias)
    if scope:
        return scope, ""
    signers = [(v["approver"], v["roles"]) for v in a.votes if v["vote"] == "approve"]
    if a.state == "overridden":
        entry = t.ledger.get(a.ledger_index)
        person = t.actors.find(entry.actor)
        signers = [(entry.actor, list(person.roles) if person else [])]
    elif a.state == "consumed":
        return f"approval {approval_id} was already used: a sign-off signs one promotion", ""
    elif a.state != "approved":
        return f"approval {approval_id} is {a.state}, not approved", ""
    others = [(p, r) for p, r in signers if p != promoter]
    if not others:
        return f"approval {approval_id} was granted only by the promoter {promoter!r}", ""
    if gate.roles:
        others = [(p, r) for p, r in others if set(r) & set(gate.roles)]
        if not others:
            return f"no signer of approval {approval_id} holds a role in {gate.roles}", ""
    return "", others[0][0]


def _scope(a: Any, approval_id: str, gates: GateSet, alias: str | None) -> str:
    """Why the approval does not sign off ``alias`` under ``gates`` ("" when it does).

    A gate sign-off names its alias and gate digest. The move's own approval
    (``set_alias``) names its alias; it never saw a gate digest, so it must have been
    asked for under the current gate set (not before it was set)."""
    args = (a.request.get("action") or {}).get("args") or {}
    if alias is not None and args.get("alias") != alias:
        return f"approval {approval_id} signs off alias {args.get('alias')!r}, not {alias!r}"
    if a.action == SIGNOFF_ACTION:
        signed = (a.request.get("context") or {}).get("gate_digest")
        if signed != gates.digest:
            return (f"approval {approval_id} signed off another gate set (sha256 "
                    f"{str(signed)[:12]}), not the current version {gates.version} (sha256 "
                    f"{gates.digest[:12]}): ask for a new sign-off")  # fmt: skip
    elif a.created_at < gates.set_at.timestamp():
        return (f"approval {approval_id} was asked for before gate set version {gates.version}: "
                "ask for a new sign-off")  # fmt: skip
    return ""
