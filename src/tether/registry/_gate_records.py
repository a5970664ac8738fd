"""What gates record: each gate's result, a gate-set version, a report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from tether.registry._gate_spec import GateSpec

__all__ = ["Admission", "GateReport", "GateResult", "GateSet", "gate_set_of", "report_of"]


@dataclass(frozen=True, slots=True)
class GateResult:
    """One gate's verdict: ``passed`` is None for a sign-off not yet asked for (it is
    judged when the version is promoted).

    Example:
        >>> r = GateResult("auc.min", "metric", False, 0.71, 0.75, "auc 0.71 < 0.75")
        >>> r.to_dict()["passed"], GateResult(**r.to_dict()) == r
        (False, True)
    """

    name: str  # "auc.min", "fairness.min_impact_ratio", "drift", "signoff"
    kind: str  # metric, fairness, drift, signoff
    passed: bool | None
    value: float | str | None = None
    threshold: float | str | None = None
    detail: str = ""
    source: str = ""  # where the value came from: evaluation, registered, a window, ...

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class GateSet:
    """One version of a system's gates.

    Example:
        >>> from tether.policy import Policy
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> _ = t.actors.register("user:ana", kind="human", roles=["owner"], actor="admin")
        >>> _ = t.policies.publish(Policy.from_text(
        ...     "{policy: p, systems: {scorer: {kind: model, owner: ml}}, actions: {set_gates: {}},"
        ...     " rules: [{id: owners, actions: [set_gates], effect: allow}]}"), actor="admin")
        >>> gs = t.gates.set("scorer", {"metrics": [{"metric": "auc", "min": 0.7}]},
        ...                  actor="user:ana", reason="launch criteria")
        >>> (gs.version, gs.spec.metrics[0].min, len(gs.digest))
        (1, 0.7, 64)
        >>> t.close()
    """

    system: str
    version: int
    spec: GateSpec
    digest: str  # SHA-256 of the canonical spec
    actor: str
    reason: str
    set_at: datetime
    ledger_index: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "system": self.system, "version": self.version, "digest": self.digest,
            "spec": self.spec.model_dump(mode="json"), "actor": self.actor,
            "reason": self.reason, "set_at": self.set_at.isoformat(),
            "ledger_index": self.ledger_index,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class GateReport:
    """One model version judged by one gate-set version.

    Example:
        >>> from tether.policy import Policy
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> _ = t.actors.register("user:ana", kind="human", roles=["owner"], actor="admin")
        >>> _ = t.policies.publish(Policy.from_text(
        ...     "{policy: p, systems: {scorer: {kind: model, owner: ml}}, actions: {set_gates: {}},"
        ...     " rules: [{id: owners, actions: [set_gates], effect: allow}]}"), actor="admin")
        >>> _ = t.gates.set("scorer", {"metrics": [{"metric": "f1", "min": 0.7}],
        ...                 "signoff": {"required": "never"}}, actor="user:ana", reason="bar")
        >>> _ = t.models.register("scorer", b"m", uri="mem://m", actor="user:ana", code=None)
        >>> report = t.gates.run("scorer", 1, actor="user:ana", y=[1, 0, 1, 1],
        ...                      predictions=[1, 0, 1, 0])
        >>> report.passed, [(r.name, r.detail) for r in report.results]
        (True, [('f1.min', 'f1 0.8 >= 0.7'), ('signoff', 'not required')])
        >>> t.close()
    """

    system: str
    version: int  # the model version
    gate_version: int
    gate_digest: str
    results: tuple[GateResult, ...]
    actor: str
    evaluated_at: datetime
    evaluation: dict[str, Any] | None = None
    ledger_index: int = -1

    @property
    def passed(self) -> bool:
        """No gate failed (a sign-off not yet asked for is judged at promotion)."""
        return all(r.passed is not False for r in self.results)

    @property
    def failing(self) -> tuple[GateResult, ...]:
        """The gates that failed."""
        return tuple(r for r in self.results if r.passed is False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what the ``gates.evaluated`` entry holds, plus its index)."""
        return {
            "system": self.system, "version": self.version, "gate_version": self.gate_version,
            "gate_digest": self.gate_digest, "passed": self.passed,
            "results": [r.to_dict() for r in self.results], "actor": self.actor,
            "evaluated_at": self.evaluated_at.isoformat(), "evaluation": self.evaluation,
            "ledger_index": self.ledger_index,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GateReport:
        """The report :meth:`to_dict` wrote."""
        return cls(
            d["system"], int(d["version"]), int(d["gate_version"]), d["gate_digest"],
            tuple(GateResult(**r) for r in d["results"]), d["actor"],
            datetime.fromisoformat(d["evaluated_at"]), d.get("evaluation"),
            int(d.get("ledger_index", -1)),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Admission:
    """What :meth:`Gates.admit` lets through: the evidence for the alias move, and the
    approval id the pipeline should see (a gate sign-off is not the pipeline's)."""

    evidence: dict[str, Any] | None
    approval_id: str | None = None


def gate_set_of(row: Mapping[str, Any]) -> GateSet:
    spec = GateSpec.model_validate(orjson.loads(row["spec"]))
    return GateSet(
        row["system"], int(row["version"]), spec, row["digest"], row["actor"], row["reason"],
        datetime.fromtimestamp(row["set_at"], UTC), int(row["ledger_index"]),
    )  # fmt: skip


def report_of(row: Mapping[str, Any]) -> GateReport:
    data = orjson.loads(row["report"])
    data["ledger_index"] = int(row["ledger_index"])
    return GateReport.from_dict(data)
