"""Inventory, policy publication, approvals and breakers from the command line."""

from __future__ import annotations

from pathlib import Path

from tests.pipeline.conftest import POLICY

from tether import Tether

from .harness import Cli


def test_the_governance_commands_end_to_end(cli: Cli, tmp_path: Path) -> None:
    cli.ok("init")
    for args in (
        (
            "agent:support",
            "--kind",
            "agent",
            "--role",
            "support",
            "--attributes",
            '{"suspended": false}',
        ),
        ("user:lea", "--kind", "human", "--role", "finance_lead"),
        ("user:max", "--kind", "human", "--role", "finance_lead"),
        ("user:root", "--kind", "human", "--role", "admin"),
    ):
        cli.ok("actors", "register", *args, "--actor", "user:root")
    assert "agent:support" in cli.ok("actors", "list")
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    out = cli.ok("policy", "publish", str(policy), "--actor", "user:root")
    assert out.startswith("published test-governance as version 1 (enforced)")
    assert "loan-model" in cli.ok("systems", "list")  # registered from the policy file

    with Tether.open(cli.settings) as t:
        d = t.decide("support-bot", "refund", actor="agent:support", inputs={"amount": 5000.0},
                     context={"limit": 10**6})  # fmt: skip
    assert d.approval_id is not None
    assert d.approval_id in cli.ok("approvals", "list")
    assert d.approval_id in cli.ok("approvals", "list", "--for", "user:lea")
    assert "still missing" in cli.ok("approvals", "approve", d.approval_id, "--actor", "user:lea")
    assert cli.ok("approvals", "approve", d.approval_id, "--actor", "user:max").strip() == (
        f"{d.approval_id}: approved"
    )
    result = cli("approvals", "approve", d.approval_id, "--actor", "user:max")
    assert result.code == 1
    assert result.err_lines == [
        f"error: approval {d.approval_id} is approved; it takes no more votes"
    ]

    cli.ok("breakers", "trip", "system:support-bot", "--actor", "user:root", "--reason", "incident")
    assert "kill switch" in cli.ok("breakers", "list")
    cli.ok("breakers", "reset", "system:support-bot", "--actor", "user:root", "--reason", "over")

    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(POLICY.replace("amount > 1000", "amount > 9000"), encoding="utf-8")
    out = cli.ok("policy", "replay", str(candidate))
    assert "1 decisions replayed against test-governance" in out
    assert "1 would change" in out
    assert cli.ok("ledger", "verify").startswith("ledger intact")
