"""The policy file format, as strict pydantic models.

Every model forbids unknown keys and coerces nothing (``strict``): a string where a
number belongs is an error with its position, not a silent conversion.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

__all__ = [
    "ActionDecl",
    "ApproverSpec",
    "Document",
    "Effect",
    "EscalationSpec",
    "FieldSpec",
    "GuardrailsDecl",
    "RateLimitSpec",
    "ResponseSpec",
    "RetrainSpec",
    "RuleSpec",
    "SystemDecl",
    "parse_duration",
]

Effect = Literal["allow", "deny", "require_approval"]
FieldType = Literal["string", "int", "number", "bool", "list", "map", "any"]
RiskTier = Literal["minimal", "limited", "high", "prohibited"]
SystemKind = Literal["model", "agent", "workflow", "service"]
Name = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.:/@-]*$", max_length=200)
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> float:
    """Turn ``"90s"``, ``"30m"``, ``"4h"``, ``"2d"``, ``"1w"`` into seconds.

    Example:
        >>> parse_duration("4h"), parse_duration("1.5m")
        (14400.0, 90.0)

    Raises:
        ValueError: the value is not such a duration.
    """
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            seconds = float(m.group(1)) * _UNIT[m.group(2)]
            if seconds > 0:
                return seconds
    raise ValueError(
        f"{value!r} is not a duration; write a positive number and a unit: 90s, 30m, 4h, 2d, 1w"
    )


Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class FieldSpec(_Strict):
    """The declared type of one input field (``amount: number`` is short for this)."""

    type: FieldType
    enum: tuple[str | int | float | bool, ...] | None = None
    description: str = ""
    fields: dict[str, FieldSpec] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        if self.fields is not None and self.type != "map":
            raise ValueError("'fields' is only allowed with type: map")
        if self.enum is not None and self.type not in ("string", "int", "number"):
            raise ValueError("'enum' is only allowed with type string, int or number")
        return self


Schema = dict[str, FieldSpec]


class GuardrailsDecl(_Strict):
    """Guardrails of one action, as ``guardrail_from_spec`` mappings."""

    input: tuple[dict[str, Any], ...] = ()
    output: tuple[dict[str, Any], ...] = ()


class ActionDecl(_Strict):
    """A declared action (a tool, a prediction, a workflow step) and its arguments."""

    description: str = ""
    args: Schema = Field(default_factory=dict)
    guardrails: GuardrailsDecl | None = None


class SystemDecl(_Strict):
    """A system this policy governs (the inventory may hold more about it)."""

    kind: SystemKind = "service"
    owner: str = ""
    risk_tier: RiskTier = "limited"
    purpose: str = ""
    environments: tuple[str, ...] = ()


class ApproverSpec(_Strict):
    """Who must approve: ``count`` distinct people holding any of ``roles``."""

    roles: tuple[Name, ...] = Field(min_length=1)
    count: int = Field(default=1, ge=1, le=20)


class EscalationSpec(ApproverSpec):
    """The next level when an approval times out."""

    timeout: Duration | None = None


class RateLimitSpec(_Strict):
    """A token bucket: ``rate`` actions per ``period``, per ``per``."""

    rate: int = Field(ge=1)
    period: Duration
    per: Literal["actor", "system", "action", "actor_action"] = "actor"
    burst: int | None = Field(default=None, ge=1)
    scope: Literal["process", "shared"] = "process"
    """``process``: each process its own bucket (free); ``shared``: one bucket in the
    database for every process (a write transaction per decision)."""


class RuleSpec(_Strict):
    """One rule as written in the file."""

    id: Name
    description: str = ""
    systems: tuple[Name, ...] | None = None
    actions: tuple[Name, ...] | None = None
    when: str = "true"
    effect: Effect
    reason: str = ""
    approvers: ApproverSpec | None = None
    timeout: Duration | None = None
    escalate_to: EscalationSpec | None = None
    redact: tuple[str, ...] = ()
    rate_limit: RateLimitSpec | None = None

    @field_validator("when")
    @classmethod
    def _nonempty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("'when' is empty; omit it to match always, or write a condition")
        return value

    @model_validator(mode="after")
    def _obligations(self) -> RuleSpec:
        approval_only = ("approvers", "timeout", "escalate_to")
        if self.effect != "require_approval":
            used = [k for k in approval_only if getattr(self, k) is not None]
            if used:
                raise ValueError(
                    f"{', '.join(used)} only apply to effect: require_approval "
                    f"(this rule's effect is {self.effect})"
                )
        if self.escalate_to is not None and self.timeout is None:
            raise ValueError("escalate_to needs a timeout: when does the approval escalate?")
        return self


SignalTrigger = Literal[
    "drift", "performance", "anomaly", "quality", "behaviour", "fairness", "breaker"
]
ResponseAction = Literal["alert", "trip_breaker", "rollback", "review", "retrain"]


class RetrainSpec(_Strict):
    """How to retrain: a shell ``command`` (it writes the new model to the path in
    ``$TETHER_OUTPUT``) or a Python ``callable`` (``module:function``, called with the
    tether, the system and the signal; it returns the model file's path)."""

    command: str | None = None
    callable: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    timeout: Duration = 3600.0
    alias: Name = "challenger"

    @model_validator(mode="after")
    def _one(self) -> RetrainSpec:
        if (self.command is None) == (self.callable is None):
            raise ValueError("retrain needs exactly one of command or callable")
        return self


class ResponseSpec(_Strict):
    """What to do when a signal (or an automatic breaker trip) concerns a system.

    ``signal`` names the kinds it answers, ``min_severity`` the least severity that
    fires it; ``do`` is the action. A response fires at most once per ``cooldown``
    per system, and never twice for the same signal.
    """

    id: Name
    description: str = ""
    signal: tuple[SignalTrigger, ...] = Field(min_length=1)
    min_severity: Literal["low", "medium", "high"] = "medium"
    systems: tuple[Name, ...] | None = None
    features: tuple[str, ...] | None = None
    do: ResponseAction
    actor: Name = "svc:tether-responder"
    reason: str = ""
    cooldown: Duration = 3600.0
    alias: Name = "champion"
    breaker: Literal["system", "agent"] = "system"
    approvers: ApproverSpec | None = None
    clear_roles: tuple[Name, ...] = ("admin",)
    retrain: RetrainSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_signal(cls, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("signal"), str):
            value = {**value, "signal": (value["signal"],)}
        return value

    @model_validator(mode="after")
    def _needs(self) -> ResponseSpec:
        if self.do == "review" and self.approvers is None:
            raise ValueError("do: review needs approvers (who approves each decision meanwhile)")
        if self.do == "retrain" and self.retrain is None:
            raise ValueError("do: retrain needs a retrain section (command or callable)")
        if self.do != "retrain" and self.retrain is not None:
            raise ValueError(f"retrain only applies to do: retrain (this response does {self.do})")
        return self


class Document(_Strict):
    """A whole policy file."""

    policy: Name
    description: str = ""
    schema_: dict[Literal["actor", "context", "signals"], Schema] = Field(
        default_factory=dict, alias="schema"
    )
    systems: dict[Name, SystemDecl] = Field(min_length=1)
    actions: dict[Name, ActionDecl] = Field(min_length=1)
    rules: tuple[RuleSpec, ...] = Field(min_length=1)
    responses: tuple[ResponseSpec, ...] = ()

    @model_validator(mode="after")
    def _responses_known(self) -> Document:
        seen: set[str] = set()
        for r in self.responses:
            if r.id in seen:
                raise ValueError(f"response id {r.id!r} is used twice; give each its own id")
            seen.add(r.id)
            unknown = [s for s in r.systems or () if s not in self.systems]
            if unknown:
                raise ValueError(
                    f"response {r.id!r} names undeclared systems {unknown}; declare them "
                    "under systems:"
                )
        return self

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, value: Any) -> Any:
        # ``actions: [a, b]`` and ``systems: [s]`` declare names with no details.
        if isinstance(value, dict):
            value = dict(value)
            for key in ("actions", "systems"):
                if isinstance(value.get(key), list | tuple) and all(
                    isinstance(v, str) for v in value[key]
                ):
                    value[key] = {name: {} for name in value[key]}
                elif isinstance(value.get(key), dict):
                    value[key] = {k: ({} if v is None else v) for k, v in value[key].items()}
        return value
