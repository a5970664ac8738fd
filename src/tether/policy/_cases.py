"""Policy test tables: requests and the verdicts they must get.

A cases file is YAML::

    cases:
      - name: support may search the knowledge base
        request:
          actor: {role: support_agent, suspended: false}
          system: {name: agent-platform}
          action: {name: search_kb, args: {id: kb_1}}
          context: {env: prod, hour: 10, risk_score: 0.1}
        expect: allow                      # or {effect: deny, rules: [D1]}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.errors import PolicyError
from tether.policy._policy import Policy, Verdict
from tether.policy._yaml import YamlProblem, load_located

__all__ = ["Case", "CaseResult", "load_cases", "run_cases"]

_EFFECTS = ("allow", "deny", "require_approval")


@dataclass(frozen=True, slots=True)
class Case:
    """One row of a test table."""

    name: str
    request: dict[str, Any]
    effect: str
    rules: tuple[str, ...] | None  # None: any deciding rules
    where: str  # file:line:column of the case


@dataclass(frozen=True, slots=True)
class CaseResult:
    """A case and what the policy said."""

    case: Case
    verdict: Verdict

    @property
    def passed(self) -> bool:
        """Whether the verdict is the expected one."""
        if self.verdict.effect != self.case.effect:
            return False
        return self.case.rules is None or sorted(self.case.rules) == sorted(self.verdict.rules)


def load_cases(path: str | Path) -> list[Case]:
    """Read a cases file.

    Raises:
        PolicyError: the file is missing or malformed (each problem with its position).
    """
    p = Path(path)
    try:
        doc = load_located(p.read_text(encoding="utf-8"), str(p))
    except FileNotFoundError:
        raise PolicyError([f"{p}: no such cases file"]) from None
    except YamlProblem as exc:
        raise PolicyError([str(exc)]) from None
    value = doc.value
    if (
        not isinstance(value, dict)
        or set(value) != {"cases"}
        or not isinstance(value["cases"], list)
    ):
        raise PolicyError([f"{doc.mark(())}: a cases file is a mapping with one key, cases: "
                           "a list of {name, request, expect}"])  # fmt: skip
    cases: list[Case] = []
    problems: list[str] = []
    for i, raw in enumerate(value["cases"]):
        where = doc.mark(("cases", i))
        if not isinstance(raw, dict) or not {"request", "expect"} <= set(raw):
            problems.append(f"{where}: each case needs request and expect (and a name)")
            continue
        unknown = set(raw) - {"name", "request", "expect"}
        if unknown:
            key = sorted(unknown)[0]
            problems.append(f"{doc.mark(('cases', i, key), key=True)}: unknown key {key!r} "
                            "(allowed: name, request, expect)")  # fmt: skip
            continue
        expect = raw["expect"]
        if isinstance(expect, str):
            effect, rules = expect, None
        elif isinstance(expect, dict) and set(expect) <= {"effect", "rules"}:
            effect = expect.get("effect", "")
            rules = tuple(expect["rules"]) if "rules" in expect else None
        else:
            effect, rules = "", None
        if effect not in _EFFECTS:
            problems.append(f"{doc.mark(('cases', i, 'expect'))}: expect is one of "
                            f"{', '.join(_EFFECTS)}, or {{effect: ..., rules: [...]}}")  # fmt: skip
            continue
        if not isinstance(raw["request"], dict):
            problems.append(f"{doc.mark(('cases', i, 'request'))}: request is a mapping")
            continue
        cases.append(Case(str(raw.get("name", f"case {i + 1}")), raw["request"], effect, rules,
                          str(where)))  # fmt: skip
    if problems:
        raise PolicyError(problems)
    return cases


def run_cases(policy: Policy, cases: Sequence[Case]) -> list[CaseResult]:
    """Evaluate every case (a malformed request fails that case as a deny)."""
    results = []
    for case in cases:
        try:
            verdict = policy.evaluate(case.request)
        except PolicyError:
            raise
        except ValueError as exc:
            verdict = Verdict("deny", ("tether:invalid-request",), (), (str(exc),), policy.name,
                              policy.version)  # fmt: skip
        results.append(CaseResult(case, verdict))
    return results
