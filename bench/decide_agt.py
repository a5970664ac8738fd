"""The W1 scenario on Microsoft's Agent Governance Toolkit (AGT), for ``bench/decide.py``.

This file runs in AGT's own virtualenv (``agent-governance-toolkit-core``, which provides
``agentmesh.governance``), never in tether's: ``decide.py`` starts it as a subprocess with
that venv's python and talks to it with one JSON object per line. At module level it uses
the standard library only, so ``decide.py`` can import ``time_calls`` and ``load_w1``
from it and both processes time decisions with the very same loop.

Protocol (stdin/stdout, one JSON object per line):

- on start it prints ``{"ok": true, "versions": ..., "outcomes": {engine: [...]}}``
  (``[effect, winning rule]`` for each of the seeded requests, for the check against
  the reference) or ``{"ok": false, "error": "..."}``;
- ``{"cmd": "time", "engine": "agt_engine", "n": 4000, "warmup": 500}`` answers
  ``{"samples": [ns, ...]}``; ``{"cmd": "quit"}`` ends it.

Engines: ``agt_engine`` is ``PolicyEngine.evaluate`` (``deny_overrides``);
``agt_govern`` is ``govern()`` around a no-op tool, with its default in-memory audit log
and an approval handler that holds every approval for a human (so it never runs the
tool on a ``require_approval``). Both time the conversion of tether's request shape
into AGT's context.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

Outcome = tuple[str, str | None]  # (effect, deciding rule)

W1_PATH = Path(__file__).resolve().parent.parent / "examples" / "w1" / "w1.py"

# The W1 rules as one AGT policy. AGT conditions are ``path op literal`` atoms joined by
# ``and`` / ``or`` (split on `` or `` first: no parentheses, no negation, no string
# functions), so:
# - D4 and D6 ("prod outside hours") are written in disjunctive normal form;
# - "no permit rule matches" (default deny) cannot be said as ``not (...)``: one deny
#   rule per role lists the tools outside that role (N-*), otherwise an approval rule
#   alone would decide require_approval for a tool the role may not call;
# - A5 (recipient outside example.com) needs the recipient's domain as a field of its
#   own: the conversion adds ``recipient.domain`` (it is timed);
# - require_approval beats allow through ``priority`` (deny_overrides picks any deny
#   first, then the highest priority).
# 25 rules: 7 denies, 5 "no permit" denies, 8 approvals, 5 permits.
_ALL_TOOLS = [
    "create_refund",
    "delete_customer",
    "deploy",
    "drop_table",
    "export_report",
    "issue_payment",
    "read_invoice",
    "read_logs",
    "read_ticket",
    "restart_service",
    "run_query",
    "scale_service",
    "search_kb",
    "send_email",
    "update_ticket",
]
_ROLE_TOOLS = {
    "support_agent": ["search_kb", "read_ticket", "update_ticket", "send_email"],
    "finance_agent": ["read_invoice", "create_refund", "issue_payment"],
    "ops_agent": ["read_logs", "restart_service", "scale_service", "deploy"],
    "analyst_agent": ["run_query", "read_logs", "export_report"],
}


def _in(tools: Sequence[str]) -> str:
    return "[" + ", ".join(f"'{t}'" for t in tools) + "]"


def _rule(name: str, condition: str, action: str, priority: int) -> str:
    return (
        f'  - name: {name}\n    condition: "{condition}"\n'
        f"    action: {action}\n    priority: {priority}\n"
    )


def agt_policy_yaml() -> str:
    """The W1 policy in AGT's YAML (``governance.toolkit/v1``)."""
    prod_payment = "action.name == 'issue_payment' and context.env == 'prod'"
    prod_deploy = "action.name == 'deploy' and context.env == 'prod'"
    rules = [
        _rule("D1", "action.name in ['drop_table', 'delete_customer']", "deny", 100),
        _rule("D2", "actor.suspended", "deny", 100),
        _rule("D3", "action.name == 'create_refund' and action.args.amount > 10000", "deny", 100),
        _rule(
            "D4",
            f"{prod_payment} and context.hour < 8 or {prod_payment} and context.hour >= 18",
            "deny",
            100,
        ),
        _rule("D5", "context.risk_score > 0.95", "deny", 100),
        _rule(
            "D6",
            f"{prod_deploy} and context.hour < 9 or {prod_deploy} and context.hour >= 17",
            "deny",
            100,
        ),
        _rule("D7", "action.name == 'scale_service' and action.args.replicas > 50", "deny", 100),
    ]
    for role, tools in _ROLE_TOOLS.items():
        others = [t for t in _ALL_TOOLS if t not in tools]
        rules.append(
            _rule(
                f"N-{role}", f"actor.role == '{role}' and action.name in {_in(others)}", "deny", 90
            )
        )
    rules.append(_rule("N-intern_agent", "actor.role == 'intern_agent'", "deny", 90))
    approval = "require_approval"
    rules += [
        _rule("A1", "action.name == 'create_refund' and action.args.amount > 1000", approval, 50),
        _rule("A2", "action.name == 'issue_payment' and action.args.amount > 500", approval, 50),
        _rule("A3", "context.risk_score > 0.8", approval, 50),
        _rule("A4", prod_deploy, approval, 50),
        _rule(
            "A5", "action.name == 'send_email' and recipient.domain != 'example.com'", approval, 50
        ),
        _rule("A6", "action.name == 'export_report' and action.args.contains_pii", approval, 50),
        _rule("A7", "action.name == 'restart_service' and context.env == 'prod'", approval, 50),
        _rule(
            "A8",
            "action.name == 'run_query' and context.env == 'prod' "
            "and action.args.rows_estimate > 100000",
            approval,
            50,
        ),
    ]
    for role, tools in _ROLE_TOOLS.items():
        rules.append(
            _rule(
                f"P-{role}", f"actor.role == '{role}' and action.name in {_in(tools)}", "allow", 10
            )
        )
    rules.append(_rule("P-admin", "actor.role == 'admin'", "allow", 10))
    head = (
        "apiVersion: governance.toolkit/v1\nname: w1-agents\nagents: ['*']\n"
        "default_action: deny\nrules:\n"
    )
    return head + "".join(rules)


# =======================================================================================
# Shared with decide.py (standard library only)
# =======================================================================================


def load_w1(path: Path = W1_PATH) -> ModuleType:
    """``examples/w1/w1.py``, imported from its path."""
    spec = importlib.util.spec_from_file_location("w1", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("w1", module)
    spec.loader.exec_module(module)
    return module


def time_calls(
    decide: Callable[[Any], Any], requests: Sequence[Any], n: int, warmup: int
) -> list[int]:
    """Nanoseconds of each of ``n`` calls of ``decide`` over ``requests`` (cycled).

    ``warmup`` untimed calls first; then a full collection, and the cyclic GC is off
    while timing (re-enabled afterwards, whatever happens).
    """
    count = len(requests)
    for i in range(warmup):
        decide(requests[i % count])
    samples = [0] * n
    clock = time.perf_counter_ns
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(n):
            request = requests[i % count]
            t0 = clock()
            decide(request)
            samples[i] = clock() - t0
    finally:
        if enabled:
            gc.enable()
    return samples


# =======================================================================================
# The child process (runs with AGT's python)
# =======================================================================================


def _engines() -> tuple[dict[str, Callable[[Any], Any]], dict[str, Callable[[Any], Outcome]]]:
    """AGT's two entry points: (timed callables, result -> (effect, winning rule))."""
    import logging
    import warnings

    warnings.simplefilter("ignore")  # agentmesh's deprecation notices on import
    logging.getLogger("agentmesh").setLevel(logging.ERROR)

    from agentmesh.governance import PolicyEngine, govern
    from agentmesh.governance.approval import ApprovalDecision, ApprovalHandler

    yaml_text = agt_policy_yaml()
    engine = PolicyEngine(conflict_strategy="deny_overrides")
    engine.load_yaml(yaml_text)

    def to_context(request: dict[str, Any]) -> dict[str, Any]:
        action = request["action"]
        context = {"actor": request["actor"], "action": action, "context": request["context"]}
        if action["name"] == "send_email":
            context["recipient"] = {"domain": action["args"]["to"].rpartition("@")[2]}
        return context

    def agt_engine(request: dict[str, Any]) -> Any:
        return engine.evaluate("agent-platform", to_context(request))

    class HoldForHuman(ApprovalHandler):  # type: ignore[misc]
        """Every approval waits for a human: the tool does not run now."""

        def request_approval(self, request: Any) -> Any:
            return ApprovalDecision(approved=False, approver="hold", reason="pending")

    def tool(**kwargs: Any) -> str:
        return "ran"

    governed = govern(
        tool,
        policy=yaml_text,
        agent_id="agent-platform",
        on_deny=lambda decision: decision,
        approval_handler=HoldForHuman(),
    )

    def agt_govern(request: dict[str, Any]) -> Any:
        action = request["action"]
        kwargs = {
            "action": {"type": action["name"], "name": action["name"], "args": action["args"]},
            "actor": request["actor"],
            "context": request["context"],
        }
        if action["name"] == "send_email":
            kwargs["recipient"] = {"domain": action["args"]["to"].rpartition("@")[2]}
        return governed(**kwargs)

    def engine_effect(decision: Any) -> Outcome:
        return str(decision.action), decision.matched_rule

    def govern_effect(result: Any) -> Outcome:
        if result == "ran":
            return "allow", None  # the tool ran; govern() does not say which rule allowed it
        if str(result.reason or "").startswith("Approval rejected by hold"):
            return "require_approval", result.matched_rule
        return "deny", result.matched_rule

    return (
        {"agt_engine": agt_engine, "agt_govern": agt_govern},
        {"agt_engine": engine_effect, "agt_govern": govern_effect},
    )


def _versions() -> dict[str, Any]:
    from importlib import metadata

    out: dict[str, Any] = {"python": sys.version.split()[0], "executable": sys.executable}
    for dist in ("agent-governance-toolkit-core", "pydantic", "pyyaml"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def child(args: argparse.Namespace) -> int:
    out = sys.stdout

    def send(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    try:
        w1 = load_w1(Path(args.w1))
        requests = w1.requests(args.count, args.seed)
        engines, effect_of = _engines()
        outcomes = {
            name: [effect_of[name](fn(r)) for r in requests] for name, fn in engines.items()
        }
    except Exception as exc:  # report why, the parent prints it
        send({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        return 1
    send(
        {
            "ok": True,
            "versions": _versions(),
            "policy_rules": agt_policy_yaml().count("\n  - name: "),
            "outcomes": outcomes,
        }
    )
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd.get("cmd") == "quit":
            break
        samples = time_calls(engines[cmd["engine"]], requests, cmd["n"], cmd["warmup"])
        send({"samples": samples})
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="AGT side of bench/decide.py (run by it).")
    p.add_argument("--w1", default=str(W1_PATH), help="path of examples/w1/w1.py")
    p.add_argument("--seed", type=int, default=20260101)
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--print-policy", action="store_true", help="print the AGT policy and exit")
    args = p.parse_args(argv)
    if args.print_policy:
        print(agt_policy_yaml(), end="")
        return 0
    return child(args)


if __name__ == "__main__":
    sys.exit(main())
