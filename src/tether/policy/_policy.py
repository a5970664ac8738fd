"""A loaded policy: strict loading, per-(system, action) compiled CEL, verdicts.

Semantics, in order:

1. A system the policy does not declare, a prohibited-tier system, or an action the
   policy does not declare: **deny** (``tether:*`` rule ids say which).
2. Every rule in scope for the (system, action) is evaluated. A rule that cannot be
   evaluated (a missing field, a type error at run time) denies: fail closed.
3. deny overrides require_approval overrides allow; no matching allow rule: **deny**.
   A require_approval rule adds a human check to a permitted action; it never
   permits an action by itself.

The rules in scope for one (system, action) are compiled into a single CEL program
returning a list of booleans, and only the fields they read are handed to it (most
of the cost of a CEL call is converting its input).
"""

from __future__ import annotations

import difflib
import hashlib
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cel
from pydantic import ValidationError

from tether.errors import InvalidInput, PolicyError
from tether.policy._cel import (
    ROOTS,
    FieldPath,
    Resolved,
    builtin_schema,
    enum_mistakes,
    flat_roots_kept,
    flatten,
    loop_variables,
    put,
    read_paths,
    resolve,
    sample_inputs,
    unknown_variables,
)
from tether.policy._model import Document, Effect, FieldSpec, RateLimitSpec, RuleSpec
from tether.policy._yaml import Located, YamlProblem, load_located

__all__ = ["ApprovalRequirement", "Policy", "Rule", "Verdict"]

# What monitoring raises, per system: policy reads ``signals.<kind>``, the highest
# severity of that kind's active signals ("none" when there is none).
SIGNAL_KINDS = ("drift", "performance", "anomaly", "quality", "behaviour", "fairness")
SEVERITIES = ("none", "low", "medium", "high")

UNDECLARED_SYSTEM = "tether:undeclared-system"
PROHIBITED_SYSTEM = "tether:prohibited-system"
UNDECLARED_ACTION = "tether:undeclared-action"
DEFAULT_DENY = "tether:default-deny"
EVALUATION_ERROR = "tether:evaluation-error"

_RANK: dict[str, int] = {"allow": 0, "require_approval": 1, "deny": 2}
_MISSING = object()


@dataclass(frozen=True, slots=True)
class ApprovalRequirement:
    """``count`` distinct approvers with one of ``roles``, asked by rule ``rule``."""

    rule: str
    roles: tuple[str, ...]
    count: int
    timeout: float | None
    escalate_to: tuple[str, ...] = ()
    escalate_count: int = 1
    escalate_timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """A compiled rule."""

    id: str
    effect: Effect
    when: str
    reason: str
    description: str
    systems: frozenset[str] | None
    actions: frozenset[str] | None
    paths: frozenset[FieldPath]
    specs: Mapping[FieldPath, FieldSpec | None] = field(compare=False)
    approval: ApprovalRequirement | None = None
    redact: tuple[str, ...] = ()
    rate_limit: RateLimitSpec | None = None
    program: Any = field(default=None, repr=False, compare=False)

    def applies(self, system: str, action: str) -> bool:
        """Whether this rule is in scope for ``(system, action)``."""
        return (self.systems is None or system in self.systems) and (
            self.actions is None or action in self.actions
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a policy says about one request.

    ``rules`` are the ids that decided it (the matched rules of the winning effect,
    or a ``tether:`` id for a built-in denial); ``matched`` every rule that matched.
    """

    effect: Effect
    rules: tuple[str, ...]
    matched: tuple[str, ...]
    reasons: tuple[str, ...]
    policy: str
    version: str
    approvals: tuple[ApprovalRequirement, ...] = ()
    redact: tuple[str, ...] = ()
    rate_limits: tuple[tuple[str, RateLimitSpec], ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        """True when the action may run now (no approval needed)."""
        return self.effect == "allow"


@dataclass(slots=True)
class _Bucket:
    rules: tuple[Rule, ...]
    program: Any
    paths: tuple[FieldPath, ...]  # every path the rules read (nested form)
    flat: tuple[tuple[str, FieldPath], ...]  # (variable, path) passed flat
    nested: tuple[FieldPath, ...]  # paths under roots kept nested (has() tests them)
    redact: tuple[str, ...] = ()  # every redact path of the rules


def _build_bucket(rules: tuple[Rule, ...]) -> _Bucket:
    """Compile the rules in scope for one (system, action) into one program.

    Each field path becomes one flat variable; the flattened program is checked
    against the rules' own (nested) programs on inputs of the declared types, and
    any disagreement — or any rewrite it cannot do — keeps the conditions nested.
    """
    redact = tuple(dict.fromkeys(p for r in rules for p in r.redact))
    if not rules:
        return _Bucket((), None, (), (), (), redact)
    specs: dict[FieldPath, FieldSpec | None] = {}
    for r in rules:
        specs.update(r.specs)
    paths = tuple(sorted(specs))
    keep = frozenset(root for r in rules for root in flat_roots_kept(r.when))
    names = {p: f"t__{i}" for i, p in enumerate(paths) if p[0] not in keep}
    try:
        flat_source = "[" + ", ".join(f"(\n{flatten(r.when, keep, names)}\n)" for r in rules)
        program = cel.compile(flat_source + "]")
        flat = tuple((names[p], p) for p in paths if p[0] not in keep)
        nested = tuple(p for p in paths if p[0] in keep)
        bucket = _Bucket(rules, program, paths, flat, nested, redact)
        if not _agrees(bucket, specs):
            raise ValueError("the flattened program disagrees with the rules")
        return bucket
    except (KeyError, ValueError):
        source = "[" + ", ".join(f"(\n{r.when}\n)" for r in rules) + "]"
        return _Bucket(rules, cel.compile(source), paths, (), paths, redact)


def _agrees(bucket: _Bucket, specs: Mapping[FieldPath, FieldSpec | None]) -> bool:
    """Whether the bucket program gives each rule's own result on sample inputs."""
    for sample in sample_inputs(specs):
        expected: list[Any] = []
        for rule in bucket.rules:
            try:
                expected.append(rule.program.execute(dict(sample)))
            except Exception:
                expected.append(_ERROR)
        try:
            got = bucket.program.execute(_flat_inputs(sample, bucket))
        except Exception:
            continue  # evaluation then falls back to the rules one by one: same results
        if any(e is _ERROR or g != e for g, e in zip(got, expected, strict=True)):
            return False
    return True


_ERROR = object()


class Policy:
    """A policy file, loaded strictly and compiled.

    Example:
        >>> p = Policy.from_text('''
        ... policy: refunds
        ... systems: [support-bot]
        ... schema:
        ...   actor: {role: string}
        ... actions:
        ...   create_refund: {args: {amount: number}}
        ... rules:
        ...   - id: support-refunds
        ...     actions: [create_refund]
        ...     when: actor.role == "support"
        ...     effect: allow
        ...   - id: big-refunds
        ...     actions: [create_refund]
        ...     when: action.args.amount > 1000
        ...     effect: require_approval
        ...     approvers: {roles: [finance-lead]}
        ... ''')
        >>> v = p.evaluate({"actor": {"role": "support"}, "system": {"name": "support-bot"},
        ...                 "action": {"name": "create_refund", "args": {"amount": 5000}}})
        >>> v.effect, v.rules
        ('require_approval', ('big-refunds',))
        >>> p.evaluate({"actor": {"role": "support"}, "system": {"name": "support-bot"},
        ...             "action": {"name": "drop_table"}}).rules
        ('tether:undeclared-action',)
    """

    def __init__(self, document: Document, source: str, file: str, rules: Sequence[Rule]) -> None:
        self.document = document
        self.source = source
        self.file = file
        self.name = document.policy
        self.sha256 = hashlib.sha256(source.encode()).hexdigest()
        self.version = "sha256:" + self.sha256
        self.rules = tuple(rules)
        self.systems = dict(document.systems)
        self.actions = dict(document.actions)
        self.guardrails: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {}
        """Per action: (input guardrails, output guardrails) declared in the file."""
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()

    # -- loading -------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | Path) -> Policy:
        """Load a policy file.

        Raises:
            PolicyError: the file does not load; every problem is listed with its
                ``file:line:column`` and a hint.
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PolicyError([f"{p}: no such policy file"]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError([f"{p}: cannot read the policy file: {exc}"]) from None
        return cls.from_text(text, str(p))

    @classmethod
    def from_text(cls, text: str, file: str = "<policy>") -> Policy:
        """Load a policy from YAML text (``file`` names it in error messages).

        Raises:
            PolicyError: the text does not load (see :meth:`from_file`).
        """
        try:
            doc = load_located(text, file)
        except YamlProblem as exc:
            raise PolicyError([str(exc)]) from None
        if not isinstance(doc.value, dict):
            raise PolicyError(
                [f"{file}:1:1: a policy file is a mapping with policy, systems, actions and rules"]
            )
        try:
            document = Document.model_validate(_tuples(doc.value))
        except ValidationError as exc:
            raise PolicyError(_validation_problems(exc, doc)) from None
        rules, problems = _compile_rules(document, doc)
        guardrails = _action_guardrails(document, doc, problems)
        if problems:
            raise PolicyError(problems)
        policy = cls(document, text, file, rules)
        policy.guardrails = guardrails
        pairs = [(s, a) for s in policy.systems for a in policy.actions]
        if len(pairs) <= 20_000:  # compile every program now: a bad one is a load error
            for system, action in pairs:
                try:
                    policy._bucket(system, action)
                except ValueError as exc:
                    problems.append(f"{file}:1:1: the rules for {action!r} on {system!r} do "
                                    f"not compile together: {_first_line(exc)}")  # fmt: skip
            if problems:
                raise PolicyError(problems)
        return policy

    # -- evaluation ----------------------------------------------------------------------

    def evaluate(self, request: Mapping[str, Any]) -> Verdict:
        """Decide one request: a mapping of ``actor``, ``system``, ``action`` (each a
        mapping; ``system.name`` and ``action.name`` required) and optionally
        ``context``, ``run`` and ``signals``.

        Raises:
            InvalidInput: the request has no system or action name.
        """
        system_name, action_name = _names(request)
        declared = self.systems.get(system_name)
        if declared is None:
            return self._deny(
                UNDECLARED_SYSTEM, f"system {system_name!r} is not declared in policy {self.name!r}"
            )
        tier = request["system"].get("risk_tier") or declared.risk_tier
        if "prohibited" in (tier, declared.risk_tier):
            return self._deny(
                PROHIBITED_SYSTEM,
                f"system {system_name!r} is in the prohibited risk tier: it may not act",
            )
        if action_name not in self.actions:
            return self._deny(
                UNDECLARED_ACTION, f"action {action_name!r} is not declared in policy {self.name!r}"
            )
        bucket = self._bucket(system_name, action_name)
        if not bucket.rules:
            return self._deny(DEFAULT_DENY, f"no rule permits {action_name!r} on {system_name!r}")
        try:
            results = bucket.program.execute(_flat_inputs(request, bucket))
            errors: list[str] = []
            if not all(r is True or r is False for r in results):
                raise TypeError("a condition did not give a boolean")
        except Exception:  # find which rule failed, and fail closed on it
            results, errors = _one_by_one(bucket.rules, _inputs(request, bucket.paths))
        matched = [rule for rule, hit in zip(bucket.rules, results, strict=True) if hit]
        return self._verdict(matched, errors)

    def rules_for(self, system: str, action: str) -> tuple[Rule, ...]:
        """The rules in scope for ``(system, action)``, in file order."""
        return tuple(r for r in self.rules if r.applies(system, action))

    def _bucket(self, system: str, action: str) -> _Bucket:
        key = (system, action)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _build_bucket(self.rules_for(system, action))
            with self._lock:
                self._buckets.setdefault(key, bucket)
        return bucket

    def redactions(self, system: str, action: str) -> tuple[str, ...]:
        """Every ``redact`` path of the rules in scope, whatever the verdict: a denied
        attempt is recorded with the same redactions as an allowed one."""
        if system in self.systems and action in self.actions:
            return self._bucket(system, action).redact
        # undeclared names are not cached (callers choose them)
        return tuple(dict.fromkeys(p for r in self.rules_for(system, action) for p in r.redact))

    def _deny(self, rule: str, reason: str) -> Verdict:
        return Verdict("deny", (rule,), (), (reason,), self.name, self.version)

    def _verdict(self, matched: Sequence[Rule], errors: Sequence[str]) -> Verdict:
        ids = tuple(r.id for r in matched)
        redact = tuple(dict.fromkeys(p for r in matched for p in r.redact))
        limits = tuple((r.id, r.rate_limit) for r in matched if r.rate_limit is not None)
        if errors:
            return Verdict(
                "deny", (EVALUATION_ERROR,), ids, tuple(errors), self.name, self.version,
                redact=redact, errors=tuple(errors),
            )  # fmt: skip
        if not any(r.effect != "require_approval" for r in matched):
            # An approval rule adds a human check to a permitted action; it never
            # permits one by itself.
            return Verdict(
                "deny", (DEFAULT_DENY,), ids, ("no rule permits this action",),
                self.name, self.version,
            )  # fmt: skip
        effect: Effect = max((r.effect for r in matched), key=_RANK.__getitem__)
        deciding = [r for r in matched if r.effect == effect]
        reasons = tuple(r.reason or r.description or f"rule {r.id}" for r in deciding)
        approvals = tuple(r.approval for r in deciding if r.approval is not None)
        return Verdict(
            effect, tuple(r.id for r in deciding), ids, reasons, self.name, self.version,
            approvals, redact, limits,
        )  # fmt: skip


# -- helpers -------------------------------------------------------------------------------


def _names(request: Mapping[str, Any]) -> tuple[str, str]:
    try:
        system, action = request["system"]["name"], request["action"]["name"]
    except (KeyError, TypeError):
        raise InvalidInput(
            "a policy request needs system.name and action.name, e.g. "
            "{'system': {'name': 'loan-model'}, 'action': {'name': 'predict'}, ...}"
        ) from None
    if not isinstance(system, str) or not isinstance(action, str):
        raise InvalidInput("system.name and action.name must be strings")
    return system, action


def _lookup(request: Mapping[str, Any], path: FieldPath) -> Any:
    value: Any = request
    try:
        for name in path:
            value = value[name]
    except (KeyError, TypeError, IndexError):
        return _MISSING
    return value


def _flat_inputs(request: Mapping[str, Any], bucket: _Bucket) -> dict[str, Any]:
    """The bucket program's variables: flat ones by name, kept roots nested."""
    out = {}
    for name, path in bucket.flat:
        value = _lookup(request, path)
        if value is not _MISSING:
            out[name] = value
    if bucket.nested:
        out.update(_inputs(request, bucket.nested))
    return out


def _inputs(request: Mapping[str, Any], paths: Iterable[FieldPath]) -> dict[str, Any]:
    """Copy only the fields the rules read (absent ones stay absent)."""
    out: dict[str, Any] = {}
    for path in paths:
        value: Any = request
        for name in path:
            if not isinstance(value, Mapping):
                value = _MISSING
                break
            value = value.get(name, _MISSING)
            if value is _MISSING:
                break
        if value is not _MISSING:
            put(out, path, value)
    for root in {p[0] for p in paths} - out.keys():
        out[root] = {}  # so ``has(context.x)`` is false rather than an error
    return out


def _one_by_one(rules: Sequence[Rule], inputs: Mapping[str, Any]) -> tuple[list[bool], list[str]]:
    results: list[bool] = []
    errors: list[str] = []
    for rule in rules:
        try:
            hit = rule.program.execute(dict(inputs))
        except KeyError as exc:
            errors.append(f"rule {rule.id}: no value for field {exc.args[0]!r} ({rule.when})")
            hit = False
        except Exception as exc:
            errors.append(f"rule {rule.id}: {type(exc).__name__}: {_first_line(exc)}")
            hit = False
        else:
            if type(hit) is not bool:
                errors.append(
                    f"rule {rule.id}: the condition gave a {type(hit).__name__}, not a bool"
                )
                hit = False
        results.append(hit)
    return results, errors


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else ""


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def _validation_problems(exc: ValidationError, doc: Located) -> list[str]:
    errors = exc.errors()
    extras = {e["loc"]: e for e in errors if e["type"] == "extra_forbidden"}
    out: list[str] = []
    for e in errors:
        loc = tuple(x for x in e["loc"] if x != "[key]")
        loc = tuple("schema" if x == "schema_" else x for x in loc)
        kind = e["type"]
        if kind == "too_short" and any(
            o["loc"][: len(e["loc"])] == e["loc"] and o is not e for o in errors
        ):
            continue  # a list emptied by its own items' errors
        if kind == "missing":
            parent, name = loc[:-1], loc[-1]
            near = [
                x[-1]
                for x in extras
                if x[:-1] == e["loc"][:-1]
                and difflib.get_close_matches(str(x[-1]), [str(name)], n=1)
            ]
            if near:
                continue  # reported as the misspelt key
            out.append(f"{doc.mark(parent)}: missing required key {name!r}")
            continue
        if kind == "extra_forbidden":
            key = str(loc[-1])
            allowed = _allowed_keys(exc, loc)
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
            out.append(f"{doc.mark(loc, key=True)}: unknown key {key!r} ({hint})")
            continue
        msg = e["msg"].removeprefix("Value error, ")
        where = ".".join(str(x) for x in loc)
        out.append(f"{doc.mark(loc)}: {where}: {msg}")
    return out or [f"{doc.file}:1:1: {exc}"]


def _allowed_keys(exc: ValidationError, loc: tuple[Any, ...]) -> list[str]:
    """The keys the model at ``loc[:-1]`` accepts."""
    model: Any = Document
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        info = getattr(model, "model_fields", {}).get("schema_" if part == "schema" else part)
        if info is None:  # inside a dict of models: the key is a name
            continue
        model = _inner_model(info.annotation)
    fields = getattr(model, "model_fields", {})
    return sorted(f.alias or name for name, f in fields.items())


def _inner_model(annotation: Any) -> Any:
    from typing import get_args

    for arg in (annotation, *get_args(annotation)):
        if isinstance(arg, type) and hasattr(arg, "model_fields"):
            return arg
        for inner in get_args(arg):
            found = _inner_model(inner)
            if found is not None:
                return found
    return None


def _schema_for(document: Document, action: str | None) -> dict[str, FieldSpec]:
    base = builtin_schema()
    declared = document.schema_
    actor = base["actor"].fields or {}
    base["actor"] = FieldSpec(type="map", fields={**actor, **declared.get("actor", {})})
    base["context"] = FieldSpec(type="map", fields=dict(declared.get("context", {})))
    severity = FieldSpec(type="string", enum=SEVERITIES)
    builtin_signals = dict.fromkeys(SIGNAL_KINDS, severity)
    base["signals"] = FieldSpec(
        type="map", fields={**builtin_signals, **declared.get("signals", {})}
    )
    if action is not None:
        args = FieldSpec(type="map", fields=dict(document.actions[action].args))
        names = FieldSpec(type="string", enum=tuple(document.actions))
        base["action"] = FieldSpec(type="map", fields={"name": names, "args": args})
    sys_names = FieldSpec(type="string", enum=tuple(document.systems))
    system_fields = dict(base["system"].fields or {})
    base["system"] = FieldSpec(type="map", fields={**system_fields, "name": sys_names})
    return base


def _action_guardrails(
    document: Document, doc: Located, problems: list[str]
) -> dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]]:
    """Build each action's declared guardrails; a bad spec is a load problem."""
    # imported here: the pipeline imports this module
    from tether.pipeline.guardrails import guardrail_from_spec

    out: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {}
    for name, decl in document.actions.items():
        if decl.guardrails is None:
            continue
        built: dict[str, list[Any]] = {"input": [], "output": []}
        for phase in ("input", "output"):
            for i, spec in enumerate(getattr(decl.guardrails, phase)):
                try:
                    built[phase].append(guardrail_from_spec(_lists(spec)))
                except InvalidInput as exc:
                    where = doc.mark(("actions", name, "guardrails", phase, i))
                    problems.append(f"{where}: {exc}")
        out[name] = (tuple(built["input"]), tuple(built["output"]))
    return out


def _lists(value: Any) -> Any:
    """Undo :func:`_tuples` (JSON Schema and the specs want lists)."""
    if isinstance(value, tuple | list):
        return [_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    return value


def _compile_rules(document: Document, doc: Located) -> tuple[list[Rule], list[str]]:
    problems: list[str] = []
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for i, spec in enumerate(document.rules):
        where = doc.mark(("rules", i))
        if spec.id in seen:
            problems.append(
                f"{doc.mark(('rules', i, 'id'))}: duplicate rule id {spec.id!r} "
                f"(rule {seen[spec.id] + 1} has it); ids must be unique"
            )
            continue
        seen[spec.id] = i
        for key, declared, noun in (
            ("systems", document.systems, "system"),
            ("actions", document.actions, "action"),
        ):
            for j, name in enumerate(getattr(spec, key) or ()):
                if name not in declared:
                    near = difflib.get_close_matches(name, list(declared), n=1)
                    hint = f"did you mean {near[0]!r}?" if near else f"declare it under {key}:"
                    problems.append(
                        f"{doc.mark(('rules', i, key, j))}: rule {spec.id!r} names "
                        f"{noun} {name!r}, which is not declared ({hint})"
                    )
        rule = _compile_rule(spec, document, doc.mark(("rules", i, "when")), problems)
        if rule is not None:
            rules.append(rule)
        del where
    return rules, problems


def _compile_rule(
    spec: RuleSpec, document: Document, mark: Any, problems: list[str]
) -> Rule | None:
    try:
        program = cel.compile(spec.when)
    except ValueError as exc:
        detail = str(exc).split("ERROR: <input>:", 1)[-1].strip()
        problems.append(f"{mark}: rule {spec.id!r}: the condition does not compile: {detail}")
        return None
    hiding = [v for v in loop_variables(spec.when) if v in ROOTS or v.startswith("t__")]
    if hiding:
        problems.append(f"{mark}: rule {spec.id!r}: the loop variable {hiding[0]!r} hides "
                        f"the variable of that name; rename it (e.g. 'a')")  # fmt: skip
        return None
    unknown = unknown_variables(spec.when, program.variables())
    if unknown:
        problems.append(f"{mark}: rule {spec.id!r}: {unknown[0]}")
        return None
    scope: list[str | None] = [
        a for a in (spec.actions or tuple(document.actions)) if a in document.actions
    ]
    reads = read_paths(spec.when)
    resolved: dict[FieldPath, FieldSpec | None] | None = None
    first_error: str | None = None
    for action in scope or [None]:  # no action in scope: check against the base schema
        schema = _schema_for(document, action)
        found = {p: resolve(p, schema) for p in reads}
        bad = [f for f in found.values() if isinstance(f, str)]
        if bad:
            first_error = first_error or bad[0]
            continue
        resolved = {f.path: f.spec for f in found.values() if isinstance(f, Resolved)}
        for mistake in enum_mistakes(spec.when, schema):
            problems.append(f"{mark}: rule {spec.id!r} can never match: {mistake}")
            return None
        break
    if resolved is None:
        problems.append(f"{mark}: rule {spec.id!r}: {first_error}")
        return None
    outcome = _type_check(program, resolved)
    if outcome is not None:
        problems.append(
            f"{mark}: rule {spec.id!r} can never match given the declared types: {outcome}"
        )
        return None
    approval = None
    if spec.effect == "require_approval":
        appr = spec.approvers
        esc = spec.escalate_to
        approval = ApprovalRequirement(
            spec.id,
            appr.roles if appr else ("approver",),
            appr.count if appr else 1,
            spec.timeout,
            esc.roles if esc else (),
            esc.count if esc else 1,
            esc.timeout if esc else None,
        )
    return Rule(
        spec.id, spec.effect, spec.when, spec.reason, spec.description,
        frozenset(spec.systems) if spec.systems is not None else None,
        frozenset(spec.actions) if spec.actions is not None else None,
        frozenset(resolved), dict(resolved), approval, spec.redact, spec.rate_limit, program,
    )  # fmt: skip


def _type_check(program: Any, paths: Mapping[FieldPath, FieldSpec | None]) -> str | None:
    """Run the condition on inputs of the declared types; explain a rule that fails on
    every one of them (or gives something other than a boolean)."""
    failures: list[str] = []
    ran = 0
    for sample in sample_inputs(paths):
        ran += 1
        try:
            result = program.execute(sample)
        except Exception as exc:
            failures.append(_first_line(exc))
            continue
        if type(result) is not bool:
            return f"the condition gives a value of type {type(result).__name__}, not a boolean"
        return None
    if ran and len(failures) == ran:
        return failures[0].split(":")[0].rstrip(".") + " (check the operand types)"
    return None
