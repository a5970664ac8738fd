"""Invariants of policy evaluation, checked with Hypothesis on random rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.policy.w1_scenario import load

from tether.policy import Policy

w1 = load()
BASE = w1.POLICY.read_text(encoding="utf-8")
REQUESTS = w1.requests(60, seed=7)
BASE_POLICY = Policy.from_text(BASE, "w1.yaml")
BASE_VERDICTS = [BASE_POLICY.evaluate(r) for r in REQUESTS]

Cond = tuple[str, Callable[[dict[str, Any]], bool]]


def _ctx(r: dict[str, Any]) -> dict[str, Any]:
    return r["context"]


ATOMS: list[st.SearchStrategy[Cond]] = [
    st.integers(0, 24).map(lambda n: (f"context.hour < {n}", lambda r: _ctx(r)["hour"] < n)),
    st.integers(0, 100).map(
        lambda n: (f"context.risk_score > {n / 100}", lambda r: _ctx(r)["risk_score"] > n / 100)
    ),
    st.sampled_from(["prod", "staging", "dev"]).map(
        lambda e: (f'context.env == "{e}"', lambda r: _ctx(r)["env"] == e)
    ),
    st.sampled_from(sorted(w1.ROLE_TOOLS)).map(
        lambda x: (f"actor.role == '{x}'", lambda r: r["actor"]["role"] == x)
    ),
    st.just(("actor.suspended", lambda r: r["actor"]["suspended"])),
    st.sampled_from(w1.ALL_TOOLS).map(
        lambda t: (f'action.name == "{t}"', lambda r: r["action"]["name"] == t)
    ),
]


def _combine(children: st.SearchStrategy[Cond]) -> st.SearchStrategy[Cond]:
    def both(op: str, a: Cond, b: Cond) -> Cond:
        fa, fb = a[1], b[1]
        if op == "&&":
            return (f"({a[0]}) && ({b[0]})", lambda r: fa(r) and fb(r))
        return (f"({a[0]}) || ({b[0]})", lambda r: fa(r) or fb(r))

    def negate(a: Cond) -> Cond:
        fa = a[1]
        return (f"!({a[0]})", lambda r: not fa(r))

    return st.one_of(
        st.builds(both, st.sampled_from(["&&", "||"]), children, children),
        children.map(negate),
    )


CONDITIONS = st.recursive(st.one_of(ATOMS), _combine, max_leaves=6)


def _with_rule(cond: str, effect: str, actions: list[str] | None) -> Policy:
    scope = f"    actions: [{', '.join(actions)}]\n" if actions else ""
    rule = f"  - id: extra\n{scope}    when: '{cond}'\n    effect: {effect}\n"
    return Policy.from_text(BASE.rstrip("\n") + "\n" + rule, "w1.yaml")


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(
    CONDITIONS,
    st.one_of(
        st.none(), st.lists(st.sampled_from(w1.ALL_TOOLS), min_size=1, max_size=4, unique=True)
    ),
)
def test_adding_a_deny_rule_never_turns_deny_or_approval_into_allow(
    cond: Cond, actions: list[str] | None
) -> None:
    policy = _with_rule(cond[0].replace("'", '"'), "deny", actions)
    for request, before in zip(REQUESTS, BASE_VERDICTS, strict=True):
        after = policy.evaluate(request)
        if before.effect != "allow":
            assert after.effect != "allow"
        if before.effect == "deny":
            assert after.effect == "deny"
        # and the new rule fires exactly when its condition (in Python) holds
        in_scope = actions is None or request["action"]["name"] in actions
        assert ("extra" in after.matched) == (in_scope and cond[1](request))


@FAST
@given(CONDITIONS)
def test_evaluation_is_deterministic(cond: Cond) -> None:
    text = cond[0].replace("'", '"')
    first, second = (
        _with_rule(text, "require_approval", None),
        _with_rule(text, "require_approval", None),
    )
    assert first.version == second.version
    for request in REQUESTS:
        a, b, c = first.evaluate(request), first.evaluate(request), second.evaluate(request)
        assert a == b == c


@FAST
@given(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=20).filter(
        lambda name: name not in w1.ALL_TOOLS
    ),
    st.sampled_from(REQUESTS),
)
def test_default_deny_holds_for_any_action_no_rule_mentions(
    name: str, request: dict[str, Any]
) -> None:
    admin = {**request, "actor": {**request["actor"], "role": "admin", "suspended": False}}
    verdict = BASE_POLICY.evaluate({**admin, "action": {"name": name, "args": {}}})
    assert (verdict.effect, verdict.rules) == ("deny", ("tether:undeclared-action",))
