"""Model versions and aliases: immutable versions, governed alias moves, "live at T",
rollback, and compare-and-set under concurrent moves."""

from __future__ import annotations

import itertools
import multiprocessing
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tether import ActionDenied, ApprovalRequired, Conflict, InvalidInput, NotFound, Tether
from tether.policy import Policy
from tether.registry import fingerprint
from tether.registry._models import environment_hash, rollback_target
from tether.settings import Settings
from tether.testing import FrozenClock

POLICY = """\
policy: lifecycle-test
systems:
  loan-model: {kind: model, owner: credit, risk_tier: high}
actions:
  set_alias:
    args: {alias: string, version: number, previous: number, kind: string, reason: string}
rules:
  - id: owners-move-aliases
    actions: [set_alias]
    when: '"model_owner" in actor.roles'
    effect: allow
  - id: new-champion-needs-a-second-person
    actions: [set_alias]
    when: action.args.alias == "champion" && action.args.kind == "promote"
    effect: require_approval
    approvers: {roles: [model_approver]}
    reason: a new champion needs a second person
  - id: responder-rolls-back
    actions: [set_alias]
    when: action.args.kind == "rollback" && "responder" in actor.roles
    effect: allow
"""


_SYSTEMS = itertools.count()


def governed(t: Tether) -> Tether:
    a = t.actors.register
    a("user:ana", kind="human", roles=["model_owner"], actor="admin")
    a("user:bo", kind="human", roles=["model_approver"], actor="admin")
    a("svc:responses", kind="service", roles=["responder"], actor="admin")
    a("agent:bot", kind="agent", roles=["support"], actor="admin")
    t.policies.publish(Policy.from_text(POLICY, "lifecycle.yaml"), actor="admin")
    return t


@pytest.fixture
def gov(make_tether: Callable[..., Tether]) -> Tether:
    return governed(make_tether())


def register(t: Tether, n: int, system: str = "loan-model") -> list[int]:
    return [
        t.models.register(system, f"model {system} {i}".encode(), uri=f"mem://{system}/{i}",
                          actor="user:ana", code=None).version
        for i in range(n)
    ]  # fmt: skip


def test_a_version_records_its_artifact_data_code_environment_and_lineage(
    gov: Tether, tmp_path: Path
) -> None:
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(b"\x80\x04 not really a pickle")
    rng = np.random.default_rng(1)
    data = {"income": rng.normal(50, 10, 500), "channel": rng.choice(["web", "app"], 500)}
    v1 = gov.models.register("loan-model", artifact, actor="user:ana", data=data,
                             metrics={"auc": 0.81}, description="baseline")  # fmt: skip
    assert (v1.version, v1.uri) == (1, artifact.resolve().as_uri())
    assert v1.digest == __import__("hashlib").sha256(artifact.read_bytes()).hexdigest()
    assert v1.data is not None
    assert (v1.data["rows"], v1.data["columns"]) == (500, ["channel", "income"])
    assert v1.environment == environment_hash()
    assert v1.code is None or set(v1.code) == {"commit", "dirty"}
    v2 = gov.models.register("loan-model", b"v2", uri="mem://2", actor="user:ana", parent=1,
                             code={"commit": "abc123", "dirty": False})  # fmt: skip
    assert (v2.version, v2.parent, v2.code) == (2, 1, {"commit": "abc123", "dirty": False})
    assert gov.models.get("loan-model", 1) == v1
    assert [v.version for v in gov.models.list("loan-model")] == [1, 2]
    entry = gov.ledger.get(v1.ledger_index)
    assert entry.kind == "model.registered"
    assert entry.payload["digest"] == v1.digest
    # immutable: the same artifact again is a conflict, not a new version
    with pytest.raises(Conflict, match="already version 1"):
        gov.models.register("loan-model", artifact, actor="user:ana")
    with pytest.raises(InvalidInput, match="parent 9 is not a version"):
        gov.models.register("loan-model", b"v3", uri="mem://3", actor="user:ana", parent=9)
    with pytest.raises(InvalidInput, match="needs uri="):
        gov.models.register("loan-model", b"v3", actor="user:ana")
    with pytest.raises(InvalidInput, match="metric 'auc' must be a number"):
        gov.models.register("loan-model", b"v3", uri="m", actor="user:ana", metrics={"auc": "x"})
    with pytest.raises(InvalidInput, match="does not exist"):
        gov.models.register("loan-model", tmp_path / "nope.pkl", actor="user:ana")


def test_a_data_fingerprint_changes_with_one_value() -> None:
    rng = np.random.default_rng(2)
    data = {"x": rng.normal(0, 1, 1_000), "c": rng.choice(["a", "b"], 1_000)}
    first, again = fingerprint(data), fingerprint({k: v.copy() for k, v in data.items()})
    assert first == again
    data["x"][17] += 1e-9
    assert fingerprint(data)["content_sha256"] != first["content_sha256"]


def test_a_new_champion_needs_a_second_person_and_every_move_is_recorded(gov: Tether) -> None:
    register(gov, 2)
    with pytest.raises(ApprovalRequired) as asked:
        gov.models.promote("loan-model", 1, actor="user:ana", reason="first model")
    with pytest.raises(NotFound, match="no 'champion' yet"):
        gov.models.resolve("loan-model")
    approval = asked.value.approval_id
    gov.approvals.approve(approval, approver="user:bo", comment="validation report read")
    move = gov.models.promote("loan-model", 1, actor="user:ana", reason="first model",
                              approval_id=approval, evidence={"auc": 0.81})  # fmt: skip
    assert (move.previous, move.version, move.kind) == (None, 1, "promote")
    assert gov.models.resolve("loan-model").version == 1
    # a challenger needs no approval; an agent may not move aliases at all
    gov.models.set_alias("loan-model", "challenger", 2, actor="user:ana", reason="A/B")
    with pytest.raises(ActionDenied):
        gov.models.set_alias("loan-model", "challenger", 1, actor="agent:bot", reason="mine")
    assert gov.models.resolve("loan-model", "challenger").version == 2
    history = gov.models.history("loan-model")
    assert [(h.previous, h.version, h.actor, h.reason) for h in history] == [
        (None, 1, "user:ana", "first model")
    ]
    assert history[0].evidence == {"auc": 0.81}
    assert history[0].decision is not None
    entry = gov.ledger.get(history[0].ledger_index)
    assert (entry.kind, entry.payload["from"], entry.payload["to"]) == ("alias.moved", None, 1)
    with pytest.raises(InvalidInput, match="needs a reason"):
        gov.models.set_alias("loan-model", "challenger", 1, actor="user:ana", reason=" ")
    with pytest.raises(NotFound, match="no version 7"):
        gov.models.set_alias("loan-model", "challenger", 7, actor="user:ana", reason="x")


def test_rollback_goes_to_the_last_healthy_version(gov: Tether) -> None:
    register(gov, 3)
    for v in (1, 2, 3):
        gov.models.set_alias("loan-model", "champion", v, actor="user:ana", reason=f"v{v}")
    back = gov.models.rollback("loan-model", actor="svc:responses", reason="drift signal")
    assert (back.previous, back.version, back.kind) == (3, 2, "rollback")
    again = gov.models.rollback("loan-model", actor="svc:responses", reason="still bad")
    assert again.version == 1
    with pytest.raises(Conflict, match="no earlier healthy"):
        gov.models.rollback("loan-model", actor="svc:responses", reason="and again")
    assert gov.ledger.get(back.ledger_index).payload["unhealthy"] == 3


def test_rollback_targets() -> None:
    assert rollback_target([(None, 1, "set"), (1, 2, "set"), (2, 3, "set")]) == 2
    # 2 was rolled back from once: it is skipped later on
    moves = [(None, 1, "set"), (1, 2, "set"), (2, 1, "rollback"), (1, 3, "set")]
    assert rollback_target(moves) == 1
    assert rollback_target([(None, 1, "set")]) is None
    assert rollback_target([]) is None


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.sampled_from(["set", "rollback"]), st.integers(1, 4), st.integers(1, 90)),
        min_size=1,
        max_size=12,
    ),
)
def test_live_at_is_right_for_every_time_after_any_sequence(
    gov: Tether, clock: FrozenClock, ops: list[tuple[str, int, int]]
) -> None:
    alias = f"a{next(_SYSTEMS)}"  # a fresh alias per example
    if not gov.models.list("loan-model"):
        register(gov, 4)
    timeline: list[tuple[float, int]] = []  # what we expect: (time, version) per move
    for op, version, minutes in ops:
        clock.advance(minutes=minutes)
        try:
            if op == "set":
                move = gov.models.set_alias("loan-model", alias, version, actor="user:ana",
                                            reason="test")  # fmt: skip
            else:
                move = gov.models.rollback("loan-model", alias=alias, actor="svc:responses",
                                           reason="test")  # fmt: skip
        except (Conflict, NotFound):
            continue
        timeline.append((clock.now().timestamp(), move.version))
    start = clock.now() - timedelta(days=1)
    for second in range(0, 2 * 24 * 3600, 1800):  # every half hour around the moves
        when = start + timedelta(seconds=second)
        expected = None
        for at, version in timeline:
            if at <= when.timestamp():
                expected = version
        assert gov.models.live_at("loan-model", when, alias) == expected


def test_concurrent_moves_leave_one_version_behind_the_alias(gov: Tether) -> None:
    register(gov, 4)
    gov.models.set_alias("loan-model", "shadow", 1, actor="user:ana", reason="start")
    barrier = threading.Barrier(6)
    won: list[int] = []
    lost: list[int] = []

    def mover(version: int) -> None:
        barrier.wait()
        for _ in range(5):
            try:
                gov.models.set_alias("loan-model", "shadow", version, actor="user:ana",
                                     reason="race")  # fmt: skip
                won.append(version)
            except Conflict:
                lost.append(version)

    threads = [threading.Thread(target=mover, args=(1 + i % 4,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    check_chain(gov, "loan-model", "shadow", 1 + len(won))
    assert won
    assert len(won) + len(lost) == 30


def check_chain(t: Tether, system: str, alias: str, moves: int) -> None:
    """Every move starts where the one before ended; the alias points at the last."""
    history = t.models.history(system, alias)
    assert len(history) == moves
    for before, after in itertools.pairwise(history):
        assert after.previous == before.version
    assert t.models.resolve(system, alias).version == history[-1].version


def _race(settings_json: str, version: int, rounds: int) -> tuple[int, int]:
    t = Tether.open(Settings.model_validate_json(settings_json))
    won = lost = 0
    try:
        for _ in range(rounds):
            try:
                t.models.set_alias("loan-model", "shadow", version, actor="user:ana",
                                   reason="race")  # fmt: skip
                won += 1
            except Conflict:
                lost += 1
    finally:
        t.close()
    return won, lost


def test_concurrent_moves_from_processes_keep_the_chain(gov: Tether, settings: Settings) -> None:
    register(gov, 3)
    gov.models.set_alias("loan-model", "shadow", 1, actor="user:ana", reason="start")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.starmap(_race, [(settings.model_dump_json(), v, 8) for v in (2, 3)])
    won = sum(w for w, _ in results)
    assert won >= 1
    check_chain(gov, "loan-model", "shadow", 1 + won)


def test_a_caller_cannot_claim_a_move_kind(gov: Tether) -> None:
    """``kind`` is what policy and the gates judge a move by: only promote and rollback
    set it, never the caller of set_alias."""
    register(gov, 2)
    with pytest.raises(TypeError):
        gov.models.set_alias("loan-model", "champion", 2, actor="svc:responses",  # type: ignore[call-arg]
                             reason="sneak", kind="rollback")  # fmt: skip
    # the responder may roll back, but not "set" a version of its choosing
    gov.models.set_alias("loan-model", "champion", 1, actor="user:ana", reason="first")
    gov.models.set_alias("loan-model", "champion", 2, actor="user:ana", reason="second")
    with pytest.raises(ActionDenied):
        gov.models.set_alias("loan-model", "champion", 1, actor="svc:responses", reason="x")
    back = gov.models.rollback("loan-model", actor="svc:responses", reason="drift")
    assert (back.kind, back.previous, back.version) == ("rollback", 2, 1)
