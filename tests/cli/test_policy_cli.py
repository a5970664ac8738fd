"""``tether policy check`` and ``tether policy test``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether import Settings

from .harness import Cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "w1"
POLICY = str(EXAMPLES / "policy.yaml")
CASES = str(EXAMPLES / "cases.yaml")


@pytest.fixture
def bare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Cli:
    """A CLI that needs no database (policy commands read only files)."""
    return Cli(Settings(home=tmp_path / "unused"), capsys, monkeypatch)


def test_check_summarises_a_good_policy(bare: Cli) -> None:
    result = bare.bare("policy", "check", POLICY)
    assert result.code == 0, result
    assert "policy 'w1-agents', 20 rules (5 allow, 7 deny, 8 require_approval)" in result.out
    assert "version sha256:" in result.out


def test_check_lists_every_problem_with_its_position(bare: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "policy: p\nsystems: [s]\nactions: [a]\nrules:\n"
        "  - id: r\n    efect: allow\n"
        "  - id: q\n    when: context.amount >\n    effect: deny\n",
        encoding="utf-8",
    )
    result = bare.bare("policy", "check", str(bad))
    assert result.code == 1
    assert result.out == ""
    assert result.err_lines == [
        f"error: {bad}:6:5: unknown key 'efect' (did you mean 'effect'?)",
    ]
    bad.write_text(
        "policy: p\nsystems: [s]\nactions: [a]\nrules:\n"
        "  - id: r\n    effect: allow\n    when: contxt.x\n"
        "  - id: q\n    when: context.amount >\n    effect: deny\n",
        encoding="utf-8",
    )
    lines = bare.bare("policy", "check", str(bad)).err_lines
    assert [line.split(": rule ")[0] for line in lines] == [
        f"error: {bad}:7:11",
        f"error: {bad}:9:11",
    ]


def test_the_w1_case_table_passes(bare: Cli) -> None:
    result = bare.bare("policy", "test", POLICY, CASES)
    assert result.code == 0, result
    assert result.out.startswith("44 passed, 0 failed (w1-agents sha256:")


def test_a_wrong_expectation_fails_the_run(bare: Cli, tmp_path: Path) -> None:
    text = Path(CASES).read_text(encoding="utf-8")
    first = text.index("effect: allow")
    changed = tmp_path / "cases.yaml"
    changed.write_text(
        text[:first] + "effect: deny" + text[first + len("effect: allow") :], encoding="utf-8"
    )
    result = bare.bare("policy", "test", POLICY, str(changed))
    assert result.code == 1
    assert "43 passed, 1 failed" in result.out
    assert "✗ request 0: support_agent calls search_kb" in result.err


def test_a_malformed_cases_file_is_one_clear_error(bare: Cli, tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text("cases:\n  - name: x\n    request: {}\n    expect: maybe\n", encoding="utf-8")
    result = bare.bare("policy", "test", POLICY, str(cases))
    assert result.code == 1
    assert result.err_lines == [
        f"error: {cases}:4:13: expect is one of allow, deny, require_approval, or "
        "{effect: ..., rules: [...]}"
    ]
