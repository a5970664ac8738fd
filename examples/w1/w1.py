"""The W1 policy scenario (``../shared/reference/benchmarks.md``): seeded requests and a
plain-Python reference of its 20 rules.

Used by ``tests/policy/test_w1.py`` (tether's policy must agree with the reference on
every request) and by ``bench/decide.py``. The policy itself is ``policy.yaml`` here.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

POLICY = Path(__file__).with_name("policy.yaml")
CASES = Path(__file__).with_name("cases.yaml")
SYSTEM = "agent-platform"

ROLE_TOOLS: dict[str, list[str]] = {
    "support_agent": ["search_kb", "read_ticket", "update_ticket", "send_email"],
    "finance_agent": ["read_invoice", "create_refund", "issue_payment"],
    "ops_agent": ["read_logs", "restart_service", "scale_service", "deploy"],
    "analyst_agent": ["run_query", "read_logs", "export_report"],
    "admin": [],
    "intern_agent": [],
}
ALL_TOOLS = sorted(
    {t for ts in ROLE_TOOLS.values() for t in ts} | {"drop_table", "delete_customer"}
)
SERVICES = ["billing-api", "checkout", "search", "ledger-sync", "notifier", "auth-gateway"]


def requests(count: int = 2000, seed: int = 20260101) -> list[dict[str, Any]]:
    """``count`` seeded W1 requests in tether's request shape."""
    rng = random.Random(seed)
    return [_request(rng) for _ in range(count)]


def _request(rng: random.Random) -> dict[str, Any]:
    role = rng.choice(list(ROLE_TOOLS))
    own = ROLE_TOOLS[role]
    tool = rng.choice(own) if own and rng.random() < 0.7 else rng.choice(ALL_TOOLS)
    amount = round(math.exp(rng.gauss(6.5, 1.5)) % 20000, 2)
    domain = rng.choice(["example.com", "example.com", "other.org"])
    service = rng.choice(SERVICES)
    args: dict[str, Any]
    if tool in ("create_refund", "issue_payment", "read_invoice"):
        args = {
            "amount": amount,
            "currency": "EUR",
            "customer_id": f"cus_{rng.getrandbits(48):012x}",
        }
    elif tool == "send_email":
        args = {"to": f"user{rng.randrange(10_000)}@{domain}", "template": "ticket_reply"}
    elif tool == "scale_service":
        args = {"service": service, "replicas": rng.randint(1, 80)}
    elif tool == "run_query":
        args = {
            "query_digest": f"{rng.getrandbits(64):016x}",
            "rows_estimate": rng.randint(10, 1_000_000),
        }
    elif tool == "export_report":
        args = {
            "report": rng.choice(["churn", "mrr", "tickets"]),
            "contains_pii": rng.random() < 0.3,
        }
    elif tool in ("deploy", "restart_service"):
        args = {"service": service, "version": f"1.{rng.randrange(40)}.{rng.randrange(9)}"}
    else:
        args = {"id": f"{tool[:3]}_{rng.getrandbits(40):010x}"}
    agent = f"agent-{rng.randrange(1, 400):04d}"
    return {
        "actor": {
            "id": agent,
            "kind": "agent",
            "roles": [role],
            "role": role,
            "suspended": rng.random() < 0.02,
        },
        "system": {"name": SYSTEM},
        "action": {"name": tool, "args": args},
        "context": {
            "env": rng.choice(["prod", "prod", "staging", "dev"]),
            "hour": rng.randrange(24),
            "risk_score": round(rng.random(), 2),
            "trace_id": f"{rng.getrandbits(128):032x}",
        },
    }


def reference(request: dict[str, Any]) -> tuple[str, list[str]]:
    """The W1 rules in plain Python: (effect, ids of the deciding rules)."""
    actor, action, ctx = request["actor"], request["action"], request["context"]
    role, tool, args = actor["role"], action["name"], action["args"]
    env, hour, risk = ctx["env"], ctx["hour"], ctx["risk_score"]
    deny = [
        name
        for name, hit in (
            ("D1", tool in ("drop_table", "delete_customer")),
            ("D2", actor["suspended"]),
            ("D3", tool == "create_refund" and args["amount"] > 10000),
            ("D4", tool == "issue_payment" and env == "prod" and (hour < 8 or hour >= 18)),
            ("D5", risk > 0.95),
            ("D6", tool == "deploy" and env == "prod" and (hour < 9 or hour >= 17)),
            ("D7", tool == "scale_service" and args["replicas"] > 50),
        )
        if hit
    ]
    if deny:
        return "deny", deny
    permits = [f"P-{role}"] if role == "admin" or tool in ROLE_TOOLS[role] else []
    if not permits:
        return "deny", ["tether:default-deny"]
    approve = [
        name
        for name, hit in (
            ("A1", tool == "create_refund" and args["amount"] > 1000),
            ("A2", tool == "issue_payment" and args["amount"] > 500),
            ("A3", risk > 0.8),
            ("A4", tool == "deploy" and env == "prod"),
            ("A5", tool == "send_email" and not args["to"].endswith("@example.com")),
            ("A6", tool == "export_report" and args["contains_pii"]),
            ("A7", tool == "restart_service" and env == "prod"),
            ("A8", tool == "run_query" and env == "prod" and args["rows_estimate"] > 100_000),
        )
        if hit
    ]
    return ("require_approval", approve) if approve else ("allow", permits)
