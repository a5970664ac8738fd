"""The gate spec: what a model version must show before an alias may point at it.

A spec is validated by strict pydantic models (an unknown key, a wrong type or a
threshold out of range is an :class:`~tether.errors.InvalidInput` naming the key and
the fix), then canonicalised (RFC 8785, defaults written out, so two spellings of the
same gates hash alike) and hashed with SHA-256.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tether.errors import InvalidInput
from tether.ledger._canonical import canonical_json

__all__ = [
    "DriftGate",
    "FairnessGate",
    "GateSpec",
    "MetricGate",
    "SignoffGate",
    "canonical_spec",
    "load_spec",
    "parse_spec",
]

Level = Literal["low", "medium", "high"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class MetricGate(_Strict):
    """A threshold on one metric: absolute (``min``/``max``) or relative to a baseline
    version's registered value (``max_drop`` for higher-is-better metrics, ``max_rise``
    for lower-is-better ones)."""

    metric: str = Field(min_length=1)
    min: float | None = None
    max: float | None = None
    max_drop: float | None = Field(default=None, ge=0)
    max_rise: float | None = Field(default=None, ge=0)
    baseline: str | int | None = None  # an alias or a version number (relative: champion)

    @model_validator(mode="before")
    @classmethod
    def _champion_by_default(cls, data: Any) -> Any:
        relative = isinstance(data, dict) and (
            data.get("max_drop") is not None or data.get("max_rise") is not None
        )
        if relative and data.get("baseline") is None:
            return {**data, "baseline": "champion"}
        return data

    @model_validator(mode="after")
    def _one_threshold(self) -> MetricGate:
        if (self.min, self.max, self.max_drop, self.max_rise) == (None, None, None, None):
            raise ValueError(
                f"metric {self.metric!r} has no threshold: give min, max, max_drop or max_rise"
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"metric {self.metric!r}: min {self.min} is above max {self.max}")
        if self.baseline is not None and self.max_drop is None and self.max_rise is None:
            raise ValueError(
                f"metric {self.metric!r}: baseline only applies to max_drop or max_rise"
            )
        return self

    def conditions(self) -> list[tuple[str, float]]:
        """(condition, threshold) for each threshold set, in a fixed order."""
        keys = ("min", "max", "max_drop", "max_rise")
        return [(k, float(getattr(self, k))) for k in keys if getattr(self, k) is not None]


class FairnessGate(_Strict):
    """Fairness thresholds on the evaluation data's decisions across sensitive groups."""

    min_impact_ratio: float | None = Field(default=None, gt=0, le=1)
    max_equalized_odds_difference: float | None = Field(default=None, ge=0, le=1)
    attributes: list[str] | None = None  # sensitive columns the evaluation must give
    min_group: int = Field(default=30, ge=0)
    intersectional: bool = True

    @model_validator(mode="after")
    def _one_threshold(self) -> FairnessGate:
        if self.min_impact_ratio is None and self.max_equalized_odds_difference is None:
            raise ValueError(
                "fairness has no threshold: give min_impact_ratio (e.g. 0.8, the four-fifths "
                "rule) or max_equalized_odds_difference (e.g. 0.1)"
            )
        return self


class DriftGate(_Strict):
    """Drift of recent production decisions from the system's monitoring baseline:
    fails when the worst feature's severity is ``fail_at`` or worse."""

    fail_at: Level = "medium"
    last: int | None = Field(default=None, ge=1)  # decisions; default the baseline's window
    min_rows: int | None = Field(default=None, ge=1)  # default half the window


class SignoffGate(_Strict):
    """A person other than the promoter must have approved the promotion."""

    required: Literal["high_risk", "always", "never"] = "high_risk"
    roles: list[str] | None = None  # roles a signer must hold (None: the approval's own)


class GateSpec(_Strict):
    """Every gate of a system, and which alias moves they guard.

    Example:
        >>> spec = GateSpec.model_validate({"metrics": [{"metric": "auc", "max_drop": 0.02}],
        ...                                 "drift": {"fail_at": "high"}})
        >>> spec.aliases, spec.metrics[0].baseline, spec.drift.fail_at, spec.signoff.required
        (['champion'], 'champion', 'high', 'high_risk')
    """

    aliases: list[str] = Field(default_factory=lambda: ["champion"], min_length=1)
    override_roles: list[str] = Field(
        default_factory=lambda: ["model_approver", "admin"], min_length=1
    )
    metrics: list[MetricGate] = Field(default_factory=list)
    fairness: FairnessGate | None = None
    drift: DriftGate | None = None
    signoff: SignoffGate = Field(default_factory=SignoffGate)

    @model_validator(mode="after")
    def _something_to_check(self) -> GateSpec:
        seen: dict[tuple[str, str], int] = {}
        for i, m in enumerate(self.metrics):
            for condition, _ in m.conditions():
                key = (m.metric, condition)
                if key in seen:
                    raise ValueError(
                        f"metrics[{i}]: {m.metric} {condition} is already set by "
                        f"metrics[{seen[key]}]; keep one"
                    )
                seen[key] = i
        if (
            not self.metrics
            and self.fairness is None
            and self.drift is None
            and (self.signoff.required == "never")
        ):
            raise ValueError(
                "the gate set checks nothing: give metrics, fairness or drift, or a signoff "
                "that is required (always or high_risk)"
            )
        return self


def parse_spec(spec: Mapping[str, Any] | GateSpec, *, source: str = "gate spec") -> GateSpec:
    """Validate a spec given as a mapping (or pass a :class:`GateSpec` through).

    Example:
        >>> parse_spec({"metrics": [{"metric": "auc", "mn": 0.7}]})
        Traceback (most recent call last):
        ...
        tether.errors.InvalidInput: gate spec: metrics[0]: unknown key 'mn' (did you mean 'min'?)

    Raises:
        InvalidInput: every problem, one per line, each naming the key and the fix.
    """
    if isinstance(spec, GateSpec):
        return spec
    if not isinstance(spec, Mapping):
        raise InvalidInput(
            f"{source}: a gate spec is a mapping (metrics, fairness, drift, signoff, "
            f"aliases, override_roles), got {type(spec).__name__}"
        )
    try:
        return GateSpec.model_validate(dict(spec))
    except ValidationError as exc:
        raise InvalidInput("\n".join(_problems(exc, source))) from None


def load_spec(path: str | Path) -> GateSpec:
    """Read and validate a gate spec from a YAML or JSON file.

    Raises:
        InvalidInput: the file is missing or not YAML/JSON, or the spec is not valid.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"{p}: cannot read the gate spec ({exc.strerror})") from None
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{p}: not valid {p.suffix.lstrip('.').upper() or 'YAML'}: "
                           f"{' '.join(str(exc).split())}") from None  # fmt: skip
    return parse_spec(data if data is not None else {}, source=str(p))


def canonical_spec(spec: GateSpec) -> tuple[dict[str, Any], bytes, str]:
    """The spec as JSON-ready data (defaults written out), its RFC 8785 bytes and their
    SHA-256 (hex)."""
    data = spec.model_dump(mode="json")
    blob = canonical_json(data)
    return data, blob, hashlib.sha256(blob).hexdigest()


def _problems(exc: ValidationError, source: str) -> list[str]:
    out = []
    for e in exc.errors():
        loc = tuple(e["loc"])
        if e["type"] == "extra_forbidden":
            key = str(loc[-1])
            allowed = _allowed(loc[:-1])
            near = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {near[0]!r}?" if near else f"allowed: {', '.join(allowed)}"
            out.append(f"{source}: {_where(loc[:-1])}unknown key {key!r} ({hint})")
            continue
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "missing":
            msg = f"missing required key {loc[-1]!r}"
            loc = loc[:-1]
        elif e["type"] != "value_error":
            msg = f"{msg} (got {e.get('input')!r})"
        out.append(f"{source}: {_where(loc)}{msg}")
    return out


def _where(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not str(part).startswith(("function-", "tagged-")):
            text += f".{part}" if text else str(part)
    return f"{text}: " if text else ""


def _allowed(loc: tuple[Any, ...]) -> list[str]:
    model: Any = GateSpec
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            break
        model = _model_of(field.annotation)
    return sorted(getattr(model, "model_fields", {}))


def _model_of(annotation: Any) -> Any:
    from typing import get_args

    for arg in (annotation, *get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        inner = _model_of_args(get_args(arg))
        if inner is not None:
            return inner
    return None


def _model_of_args(args: tuple[Any, ...]) -> Any:
    for a in args:
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
    return None
