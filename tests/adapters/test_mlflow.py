"""The MLflow adapter, on a real local MLflow store (SQLite, artifacts in tmp_path):
versions imported with their digests and URIs, aliases mirrored through the pipeline,
re-import a no-op, models loaded back verified, tampering refused."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# as the adapter does before it imports MLflow (here importorskip imports it first)
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
mlflow = pytest.importorskip(
    "mlflow", reason="the MLflow adapter needs its extra: pip install 'tether[mlflow]'"
)
pytest.importorskip(
    "skops", reason="the MLflow adapter needs its extra: pip install 'tether[mlflow]'"
)

from mlflow import sklearn as mlflow_sklearn  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from tether import (  # noqa: E402
    ApprovalRequired,
    ConfigurationError,
    Conflict,
    InvalidInput,
    NotFound,
    Settings,
    Tether,
    VerificationError,
)
from tether.adapters import mlflow as tether_mlflow  # noqa: E402
from tether.policy import Policy  # noqa: E402
from tether.registry import artifact_digest  # noqa: E402
from tether.testing import FrozenClock  # noqa: E402

# MLflow's own noise: its SQL store uses a loader strategy SQLAlchemy 2.1 deprecates,
# mlflow.pyfunc warns about its own type hints when first imported, and an older
# mlflow.sklearn warns that its default format (pickle) is unsafe.
pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy is deprecated:sqlalchemy.exc.SADeprecationWarning"
    ),
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
    pytest.mark.filterwarnings("ignore:Saving scikit-learn models in the pickle:FutureWarning"),
]

POLICY = """\
policy: mlflow-import-test
systems:
  scorer: {kind: model, owner: credit, risk_tier: high}
  credit-scorer: {kind: model, owner: credit, risk_tier: high}
actions:
  set_alias:
    args: {alias: string, version: number, previous: number, kind: string, reason: string}
rules:
  - id: owners-move-aliases
    actions: [set_alias]
    when: '"model_owner" in actor.roles'
    effect: allow
"""

CHAMPION_NEEDS_APPROVAL = """\
  - id: champion-needs-a-second-person
    actions: [set_alias]
    when: action.args.alias == "champion"
    effect: require_approval
    approvers: {roles: [model_approver]}
    reason: a new champion needs a second person
"""

X = np.random.default_rng(7).normal(size=(200, 3))
Y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)


@dataclass
class Store:
    """A local MLflow tracking + registry store: ``scorer`` v1 and v2 (champion: v2)."""

    root: Path
    uri: str
    client: Any
    models: dict[str, LogisticRegression]  # MLflow version -> the fitted model
    runs: dict[str, str]  # MLflow version -> run id


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("scoring", artifact_location=str(root / "artifacts"))
    models, runs = {}, {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)  # the fluent API logs here; nothing global stays
        for version, c in (("1", 1.0), ("2", 0.05)):
            model = LogisticRegression(C=c).fit(X, Y)
            with mlflow.start_run(experiment_id=experiment) as run:
                mlflow.log_metric("accuracy", model.score(X, Y))
                mlflow_sklearn.log_model(model, name="model", registered_model_name="scorer",
                                         pip_requirements=["scikit-learn"])  # fmt: skip
                # after log_model: a NaN logged before it breaks log_model on some MLflow 3
                # versions (mlflow#26108)
                mlflow.log_metric("broken", float("nan"))  # left out: not a number
            models[version], runs[version] = model, run.info.run_id
    client.set_registered_model_alias("scorer", "champion", "2")
    client.set_registered_model_alias("scorer", "baseline", "1")
    yield Store(root, uri, client, models, runs)
    cwd = Path.cwd()
    assert not (cwd / "mlruns").exists()
    assert not (cwd / "mlflow.db").exists()


@pytest.fixture
def t(tmp_path: Path) -> Iterator[Tether]:
    """A SQLite tether whose policy lets model owners move aliases."""
    tether = Tether.init(Settings(home=tmp_path / "home"), clock=FrozenClock())
    a = tether.actors.register
    a("user:ana", kind="human", roles=["model_owner"], actor="admin")
    a("user:bo", kind="human", roles=["model_approver"], actor="admin")
    tether.policies.publish(Policy.from_text(POLICY, "policy.yaml"), actor="admin")
    yield tether
    tether.close()


@pytest.fixture
def cache(tmp_path: Path, store: Store) -> Iterator[Path]:
    """The download cache, shared by import and load; load reads from the test store."""
    folder = tmp_path / "cache"
    tether_mlflow.register_loaders(tracking_uri=store.uri, cache_dir=folder)
    yield folder
    tether_mlflow.register_loaders()


def stored_digest(store: Store, version: str) -> str:
    """The digest of the folder where the local store keeps ``scorer`` ``version``."""
    return artifact_digest(store.client.get_model_version_download_uri("scorer", version))


def test_import_registers_every_version_and_mirrors_the_aliases(
    t: Tether, store: Store, cache: Path
) -> None:
    result = tether_mlflow.import_models(t, store.uri, actor="user:ana", cache_dir=cache)
    assert result.registered == (("scorer", "1"), ("scorer", "2"))
    assert (result.skipped, result.pending, result.unmirrored) == ((), (), ())
    v1, v2 = result.versions[("scorer", "1")], result.versions[("scorer", "2")]
    assert [v.version for v in t.models.list("scorer")] == [v1.version, v2.version] == [1, 2]
    for mlflow_version, v in (("1", v1), ("2", v2)):
        assert v.uri == f"models:/scorer/{mlflow_version}"
        assert v.digest == stored_digest(store, mlflow_version)
        accuracy = store.models[mlflow_version].score(X, Y)
        assert v.metrics == {"accuracy": accuracy}
        assert (v.code, v.environment, v.actor) == (None, None, "user:ana")
        assert v.description == f"MLflow scorer version {mlflow_version}"
    # aliases went through the pipeline: a decision and an alias.moved entry each
    assert sorted((a.alias, a.version, a.outcome) for a in result.aliases) == [
        ("baseline", 1, "moved"), ("champion", 2, "moved"),
    ]  # fmt: skip
    assert t.models.resolve("scorer", "champion") == v2
    (move,) = t.models.history("scorer", "champion")
    assert (move.previous, move.version, move.actor) == (None, 2, "user:ana")
    assert move.reason == "imported from MLflow: scorer@champion is version 2"
    assert move.decision is not None
    entry = t.ledger.get(move.ledger_index)
    assert (entry.kind, entry.payload["to"]) == ("alias.moved", 2)
    assert entry.payload["evidence"] == {"mlflow": {
        "registry": store.uri, "name": "scorer", "version": "2", "alias": "champion"}}  # fmt: skip

    # again: nothing new, not even a decision
    size = t.ledger.size
    again = tether_mlflow.import_models(t, store.uri, actor="user:ana", cache_dir=cache)
    assert again.registered == ()
    assert again.skipped == (("scorer", "1"), ("scorer", "2"))
    assert again.versions == result.versions
    assert {a.outcome for a in again.aliases} == {"unchanged"}
    assert t.ledger.size == size


def test_a_loaded_model_predicts_as_the_original_and_a_tampered_one_is_refused(
    t: Tether, store: Store, cache: Path
) -> None:
    tether_mlflow.import_models(t, store.uri, actor="user:ana", cache_dir=cache)
    champion = t.models.load("scorer", "champion")
    assert isinstance(champion, LogisticRegression)  # the estimator, not a pyfunc wrapper
    assert np.array_equal(champion.predict_proba(X), store.models["2"].predict_proba(X))
    assert np.array_equal(t.models.load("scorer", 1).predict(X), store.models["1"].predict(X))

    # the cached download of version 1 is changed: a tether with nothing in memory refuses it
    digest = t.models.get("scorer", 1).digest
    (folder,) = [p for p in cache.iterdir() if p.is_dir() and artifact_digest(p) == digest]
    (model_file,) = folder.glob("model.*")  # model.skops (model.pkl in older MLflow)
    model_file.write_bytes(model_file.read_bytes() + b"\0")
    with Tether(t.settings) as fresh, pytest.raises(VerificationError, match="models:/scorer/1"):
        fresh.models.load("scorer", 1)


def test_a_changed_artifact_in_mlflow_is_refused(t: Tether, store: Store, cache: Path) -> None:
    tether_mlflow.import_models(t, store.uri, actor="user:ana", names=["scorer"],
                                cache_dir=cache, aliases=())  # fmt: skip
    (stored,) = Path(store.client.get_model_version_download_uri("scorer", "1")).glob("model.*")
    original = stored.read_bytes()
    try:
        stored.write_bytes(original + b"\0")
        with Tether(t.settings) as fresh:
            tether_mlflow.register_loaders(tracking_uri=store.uri, cache_dir=cache / "other")
            with pytest.raises(VerificationError, match="changed after registration"):
                fresh.models.load("scorer", 1)
    finally:
        stored.write_bytes(original)


def test_a_denied_alias_move_is_reported_and_can_be_approved(
    t: Tether, store: Store, cache: Path
) -> None:
    t.policies.publish(Policy.from_text(POLICY + CHAMPION_NEEDS_APPROVAL, "p.yaml"), actor="admin")
    result = tether_mlflow.import_models(t, store.uri, actor="user:ana", cache_dir=cache)
    assert len(result.registered) == 2  # versions are imported all the same
    (denied,) = result.unmirrored
    assert (denied.alias, denied.version, denied.outcome) == ("champion", 2, "denied")
    assert isinstance(denied.error, ApprovalRequired)
    with pytest.raises(NotFound, match="no 'champion' yet"):
        t.models.resolve("scorer", "champion")
    assert t.models.resolve("scorer", "baseline").version == 1
    # the person approves; the same move with the approval goes through
    t.approvals.approve(denied.error.approval_id, approver="user:bo", comment="checked")
    t.models.set_alias("scorer", "champion", denied.version, actor="user:ana",
                       reason=denied.reason, approval_id=denied.error.approval_id)  # fmt: skip
    assert t.models.resolve("scorer", "champion").version == 2
    again = tether_mlflow.import_models(t, store.uri, actor="user:ana", cache_dir=cache)
    assert again.unmirrored == ()
    # an actor policy does not know is denied too
    other = tether_mlflow.import_models(t, store.uri, actor="agent:unknown", cache_dir=cache,
                                        system={"scorer": "credit-scorer"})  # fmt: skip
    assert {(a.alias, a.outcome) for a in other.unmirrored} == {
        ("baseline", "denied"), ("champion", "denied"),
    }  # fmt: skip


def test_one_mlflow_version_is_registered_pinned_to_its_version(
    t: Tether, store: Store, cache: Path
) -> None:
    register = tether_mlflow.register_mlflow_version
    v = register(t, "scorer", "models:/scorer@champion", actor="user:ana",
                 tracking_uri=store.uri, cache_dir=cache)  # fmt: skip
    assert (v.version, v.uri) == (1, "models:/scorer/2")
    assert v.metrics == {"accuracy": store.models["2"].score(X, Y)}
    run_uri = f"runs:/{store.runs['1']}/model"
    by_run = register(t, "scorer", run_uri, actor="user:ana", tracking_uri=store.uri,
                      cache_dir=cache, description="from the run")  # fmt: skip
    assert (by_run.uri, by_run.description) == (run_uri, "from the run")
    assert np.array_equal(t.models.load("scorer", by_run.version).predict(X),
                          store.models["1"].predict(X))  # fmt: skip
    with pytest.raises(Conflict, match="already version 1"):
        register(t, "scorer", "models:/scorer/2", actor="user:ana", tracking_uri=store.uri,
                 cache_dir=cache)  # fmt: skip
    for uri, error, match in [
        ("models:/scorer/Production", InvalidInput, "stage 'Production' of scorer, which moves"),
        ("s3://bucket/model", InvalidInput, "not an MLflow model URI"),
        ("models:/scorer@nobody", NotFound, "models:/scorer@nobody"),
        ("models:/missing/1", NotFound, "models:/missing/1"),
        ("runs:/0123456789abcdef/model", NotFound, "MLflow run 0123456789abcdef"),
    ]:
        with pytest.raises(error, match=match):
            register(t, "scorer", uri, actor="user:ana", tracking_uri=store.uri, cache_dir=cache)


def test_names_and_systems(t: Tether, store: Store, cache: Path) -> None:
    mapped = tether_mlflow.import_models(t, store.uri, actor="user:ana", cache_dir=cache,
                                         system={"scorer": "credit-scorer"})  # fmt: skip
    assert {v.system for v in mapped.versions.values()} == {"credit-scorer"}
    assert t.models.resolve("credit-scorer", "champion").uri == "models:/scorer/2"
    one = tether_mlflow.import_models(t, store.uri, actor="user:ana", cache_dir=cache,
                                      names=["scorer"], system="credit-scorer")  # fmt: skip
    assert (one.registered, one.versions) == ((), mapped.versions)
    with pytest.raises(InvalidInput, match=r"map it with system=\{'scorer'"):
        tether_mlflow.import_models(t, store.uri, actor="user:ana", system={"scorer": "a b"})
    with pytest.raises(NotFound, match="'nope'"):
        tether_mlflow.import_models(t, store.uri, actor="user:ana", names=["nope"])
    assert t.models.list("scorer") == []  # nothing imported under the MLflow name


def test_loading_needs_a_server_and_mlflows_consent(
    t: Tether, store: Store, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tether_mlflow.import_models(t, store.uri, actor="user:ana", cache_dir=cache, aliases=())
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")  # MLflow's own switch
    with pytest.raises(ConfigurationError, match="MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true"):
        t.models.load("scorer", 1)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tether_mlflow.register_loaders(cache_dir=cache)  # MLflow's configured server: none
    with pytest.raises(ConfigurationError, match="set MLFLOW_TRACKING_URI"):
        t.models.load("scorer", 2)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    monkeypatch.delenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION")
    assert np.array_equal(t.models.load("scorer", 2).predict(X), store.models["2"].predict(X))


def test_mlflow_stays_offline_and_writes_nothing_in_home(tmp_path: Path) -> None:
    # a child process: MLflow decides at import time, and here it is imported already
    code = (
        "import tether.adapters.mlflow\n"
        "from mlflow.telemetry.client import get_telemetry_client\n"
        "assert get_telemetry_client() is None\n"
    )
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "PYTEST_", "CI", "XDG_"))}  # fmt: skip
    env["HOME"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []  # no ~/.config/mlflow/telemetry.json, no mlruns


def test_without_mlflow_the_import_says_what_to_install() -> None:
    code = "import sys; sys.modules['mlflow'] = None; import tether.adapters.mlflow"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode != 0
    assert "tether.adapters.mlflow needs MLflow: pip install 'tether[mlflow]'" in done.stderr
