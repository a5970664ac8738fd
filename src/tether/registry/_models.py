"""Model versions and aliases: what is registered, what is live, and every move.

A **version** of a system is immutable once registered: its artifact's SHA-256 and URI,
the training data's fingerprint (its monitoring profile's digest and a content hash),
the code (git commit and a dirty flag), the environment (a hash of the installed
packages), metrics and lineage (the parent version). Registering is a
``model.registered`` ledger entry whose projection row commits with it.

An **alias** (``champion``, ``challenger``, ``shadow``, ...) points at one version. Moving
it is a governed action: the pipeline decides ``set_alias`` on the system (so policy
says who may move ``champion`` and whether a person must approve), and the move is an
``alias.moved`` ledger entry (actor, reason, from → to, evidence) applied with a
compare-and-set, so concurrent moves never leave an alias at zero or two versions: one
wins, the others get :class:`~tether.errors.Conflict`. ``live_at`` answers which version
an alias pointed at, at any time, from the recorded moves; ``rollback`` moves it back
to the most recent earlier version that was live and was not itself rolled back from.
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import io
import shutil
import subprocess
import tempfile
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlparse

import numpy as np
import orjson

from tether.errors import Conflict, InvalidInput, NotFound, VerificationError
from tether.registry._inventory import _check_name
from tether.store import model_repo as repo

if TYPE_CHECKING:
    from tether.core import Tether
    from tether.pipeline import Decision

__all__ = [
    "ALIAS_ACTION",
    "AliasMove",
    "ModelVersion",
    "Models",
    "artifact_digest",
    "environment_hash",
    "fingerprint",
    "register_loader",
]

ALIAS_ACTION = "set_alias"  # the action policy governs alias moves as
MoveKind = Literal["set", "promote", "rollback"]


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One registered, immutable version of a system."""

    system: str
    version: int
    digest: str  # SHA-256 of the artifact, hex
    uri: str
    actor: str
    registered_at: datetime
    data: dict[str, Any] | None = None  # rows, columns, content_sha256, profile_sha256
    code: dict[str, Any] | None = None  # commit, dirty
    environment: str | None = None  # SHA-256 of the installed packages
    metrics: dict[str, float] = field(default_factory=dict)
    parent: int | None = None
    description: str = ""
    ledger_index: int = -1
    features: tuple[str, ...] | None = None  # the model's input columns, in order
    background: tuple[tuple[float, ...], ...] | None = None  # rows explanations compare to

    def record(self) -> dict[str, Any]:
        """The JSON-ready record (what the ledger entry holds)."""
        return {
            "system": self.system, "version": self.version, "digest": self.digest,
            "uri": self.uri, "actor": self.actor, "data": self.data, "code": self.code,
            "environment": self.environment, "metrics": self.metrics, "parent": self.parent,
            "description": self.description,
            "features": None if self.features is None else list(self.features),
            "background": None if self.background is None else [list(r) for r in self.background],
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class AliasMove:
    """One move of an alias."""

    system: str
    alias: str
    previous: int | None
    version: int
    kind: str
    at: datetime
    actor: str
    reason: str
    ledger_index: int
    decision: str | None = None  # the pipeline decision that allowed it
    evidence: dict[str, Any] | None = None


class Models:
    """Versions and aliases of the systems' models (``tether.models``).

    Example:
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> v = t.models.register("scorer", b"model bytes", uri="mem://scorer/1",
        ...                       actor="user:ana", code=None)
        >>> (v.version, v.digest[:12])
        (1, '9cb7487000bc')
        >>> t.close()
    """

    def __init__(self, tether: Tether) -> None:
        self._t = tether
        self._loaded: OrderedDict[str, Any] = OrderedDict()  # digest -> model (LRU)
        self._load_lock = threading.Lock()
        self.epoch = 0
        """Bumped by every alias move this process makes (serving re-resolves at once;
        moves by other processes show within ``TETHER_CACHE_SECONDS``)."""

    # -- versions --------------------------------------------------------------------

    def register(
        self,
        system: str,
        artifact: str | Path | bytes,
        *,
        actor: str,
        uri: str | None = None,
        data: Any = None,
        metrics: Mapping[str, float] | None = None,
        parent: int | None = None,
        code: Mapping[str, Any] | Literal["auto"] | None = "auto",
        environment: str | Literal["auto"] | None = "auto",
        description: str = "",
        features: Sequence[str] | None = None,
        background: Any = None,
    ) -> ModelVersion:
        """Register a new version of ``system``: ``artifact`` is a file or a folder
        (hashed as it is read) or its bytes (then give ``uri``). ``data`` (a batch or a
        :class:`~tether.monitoring.Profile`) is fingerprinted; ``code="auto"`` records
        the git commit of the working directory, ``environment="auto"`` a hash of the
        installed packages. ``features`` names the model's input columns in order (what
        serving and explanations map a decision's inputs to); ``background`` (up to
        1,000 rows of those features) is what explanations compare a row to.

        Raises:
            InvalidInput: a bad name, a missing file, bytes without a URI, a metric that
                is not a number, a parent that is not a version, or a background that
                does not match the features.
            Conflict: this artifact is already a version of the system.
        """
        _check_name(system, "system")
        digest, uri = _artifact(artifact, uri)
        clean_metrics = _metrics(metrics)
        names = None if features is None else tuple(str(f) for f in features)
        rows = _background(background, names)
        record_data = None if data is None else fingerprint(data)
        record_code = _git() if code == "auto" else (None if code is None else dict(code))
        env = environment_hash() if environment == "auto" else environment
        for _ in range(8):  # a concurrent registration may take the number: take the next
            with self._t.store.read() as conn:
                known = repo.version(conn, system, digest=digest)
                if known is not None:
                    raise Conflict(
                        f"this artifact (sha256 {digest[:12]}...) is already version "
                        f"{known['version']} of {system}"
                    )
                if parent is not None and repo.version(conn, system, parent) is None:
                    raise InvalidInput(f"parent {parent} is not a version of {system}")
                number = repo.next_version(conn, system)
            now = self._t.clock.now()
            version = ModelVersion(
                system, number, digest, uri, actor, now, record_data, record_code, env,
                clean_metrics, parent, description, -1, names, rows,
            )  # fmt: skip
            record = version.record()
            try:
                entry = self._t.ledger.append(
                    "model.registered", actor, record, subject=f"system/{system}/model",
                    mutation=repo.register(system, number, digest,
                                           orjson.dumps(record).decode(), now.timestamp()),
                )  # fmt: skip
            except Conflict:
                continue
            return replace(version, ledger_index=entry.index)
        raise Conflict(f"could not take a version number for {system}: too many concurrent writers")

    def get(self, system: str, version: int) -> ModelVersion:
        """One version.

        Raises:
            NotFound: no such version.
        """
        with self._t.store.read() as conn:
            row = repo.version(conn, system, version)
        if row is None:
            raise NotFound(f"{system} has no version {version}")
        return _version(row)

    def list(self, system: str) -> list[ModelVersion]:
        """Every version of a system, oldest first."""
        with self._t.store.read() as conn:
            return [_version(r) for r in repo.versions(conn, system)]

    def load(self, system: str, version: int | str = "champion") -> Any:
        """The model object of ``version`` (a number or an alias), read from its URI and
        checked against its registered SHA-256 before it is deserialised; kept in memory
        by digest (the 8 most recent), so a hot swap back to a known version is free.

        Local files are read with joblib (pickles included): load only artifacts you
        trust; the digest check proves it is the registered one, not that it is safe.
        Other URI schemes need a loader (:func:`register_loader`), e.g. the MLflow adapter.

        Raises:
            NotFound: no such version or alias, or the artifact is missing.
            VerificationError: the artifact's hash is not the registered digest.
        """
        v = self.resolve(system, version) if isinstance(version, str) else self.get(system, version)
        with self._load_lock:
            if v.digest in self._loaded:
                self._loaded.move_to_end(v.digest)
                return self._loaded[v.digest]
        model = load_artifact(v.uri, v.digest)
        with self._load_lock:
            self._loaded[v.digest] = model
            while len(self._loaded) > 8:
                self._loaded.popitem(last=False)
        return model

    # -- aliases ---------------------------------------------------------------------

    def resolve(self, system: str, alias: str = "champion") -> ModelVersion:
        """The version ``alias`` points at now.

        Raises:
            NotFound: the alias points nowhere yet.
        """
        with self._t.store.read() as conn:
            number = repo.alias(conn, system, alias)
        if number is None:
            raise NotFound(f"{system} has no {alias!r} yet: promote a version first")
        return self.get(system, number)

    def set_alias(
        self,
        system: str,
        alias: str,
        version: int,
        *,
        actor: str,
        reason: str,
        evidence: Mapping[str, Any] | None = None,
        approval_id: str | None = None,
    ) -> AliasMove:
        """Point ``alias`` at ``version``, if policy allows ``actor`` to (the pipeline
        decides ``set_alias`` with args alias, version, previous, kind ``set`` and
        reason). An alias the system's gates guard moves only by :meth:`promote` (which
        runs them) or :meth:`rollback`.

        Raises:
            NotFound: no such version.
            InvalidInput: no reason, or the alias is guarded by gates.
            ActionDenied: policy denied the move (``ApprovalRequired`` carries the id of
                the approval to ask for; pass it as ``approval_id`` once granted).
            Conflict: the alias moved meanwhile (nothing was changed).
        """
        gates = self._t.gates.current(system)
        if gates is not None and alias in gates.spec.aliases:
            raise InvalidInput(
                f"{alias!r} of {system} is guarded by gates (gate set "
                f"{gates.version}): move it with promote, which runs them, or rollback"
            )
        return self._set_alias(system, alias, version, actor, reason, evidence, approval_id,
                               "set")  # fmt: skip

    def _set_alias(
        self, system: str, alias: str, version: int, actor: str, reason: str,
        evidence: Mapping[str, Any] | None, approval_id: str | None, kind: MoveKind,
        expect: int | Literal[False] | None = False,
    ) -> AliasMove:  # fmt: skip
        """Move an alias; ``kind`` is only ever chosen here (set), by :meth:`promote`
        after the gates, or by :meth:`rollback` (callers cannot claim a kind: policy
        and the gates judge by it). ``expect``: the version the alias must still point
        at (a rollback's starting point), else ``Conflict``."""
        _check_name(alias, "alias")
        if not reason or not reason.strip():
            raise InvalidInput("moving an alias needs a reason (it is recorded)")
        self.get(system, version)  # exists
        with self._t.store.read() as conn:
            previous = repo.alias(conn, system, alias)
        if expect is not False and previous != expect:
            raise Conflict(f"alias {alias} of {system} moved meanwhile (now {previous}); retry")
        decision = self._govern(system, alias, version, previous, kind, reason, actor,
                                approval_id)  # fmt: skip
        return self._move(system, alias, previous, version, kind, actor, reason, evidence,
                          decision.id)  # fmt: skip

    def promote(
        self,
        system: str,
        version: int,
        *,
        actor: str,
        reason: str,
        alias: str = "champion",
        evidence: Mapping[str, Any] | None = None,
        approval_id: str | None = None,
        override_by: str | None = None,
        justification: str | None = None,
    ) -> AliasMove:
        """Make ``version`` the ``alias`` (``champion`` by default); see :meth:`set_alias`.

        When the system's gate set guards ``alias``, the version must pass its gates
        first (:meth:`tether.registry.Gates.admit`): the latest stored passing report,
        else a fresh run; the sign-off is ``approval_id`` (the move's own approval or
        one from ``Gates.request_signoff``). To promote despite failing gates, name
        ``override_by`` (a person other than ``actor`` with an override role) and a
        ``justification``: the first call opens an override approval and raises
        ``ApprovalRequired`` with its id; once that person approved it, call again with
        ``approval_id=`` and the same arguments (a ``gates.overridden`` entry, used
        once). The gates' verdict is recorded in the move's evidence under ``gates``.

        Raises:
            GateFailed: a gate failed and there is no override.
            ApprovalRequired: the policy, or a missing sign-off, asks for a person.
            InvalidInput: no reason, or an override without justification or by
                someone who may not override.
        """
        if not reason or not reason.strip():
            raise InvalidInput("moving an alias needs a reason (it is recorded)")
        admitted = self._t.gates.admit(
            system, version, alias=alias, actor=actor, approval_id=approval_id,
            override_by=override_by, justification=justification,
        )  # fmt: skip
        if admitted.evidence is not None:
            evidence = {**(evidence or {}), "gates": admitted.evidence}
        return self._set_alias(system, alias, version, actor, reason, evidence,
                               admitted.approval_id, "promote")  # fmt: skip

    def rollback(
        self,
        system: str,
        *,
        actor: str,
        reason: str,
        alias: str = "champion",
        evidence: Mapping[str, Any] | None = None,
        approval_id: str | None = None,
    ) -> AliasMove:
        """Move ``alias`` back to the most recent earlier version that was live under
        it and was not itself rolled back from (the current one is marked unhealthy).

        Raises:
            NotFound: the alias points nowhere.
            Conflict: no earlier healthy version, or the alias moved meanwhile.
        """
        with self._t.store.read() as conn:
            moves = repo.moves(conn, system, alias)
        if not moves:
            raise NotFound(f"{system} has no {alias!r} to roll back")
        target = rollback_target([(m["previous"], m["version"], m["kind"]) for m in moves])
        if target is None:
            raise Conflict(
                f"{system} has no earlier healthy {alias!r} to roll back to "
                f"(it points at version {moves[-1]['version']})"
            )
        return self._set_alias(system, alias, target, actor, reason, evidence, approval_id,
                               "rollback", expect=int(moves[-1]["version"]))  # fmt: skip

    def history(self, system: str, alias: str = "champion") -> builtins.list[AliasMove]:
        """Every move of ``alias``, oldest first (actor, reason and evidence from the
        ledger)."""
        with self._t.store.read() as conn:
            moves = repo.moves(conn, system, alias)
        out = []
        for m in moves:
            payload = self._t.ledger.get(int(m["ledger_index"])).payload or {}
            out.append(AliasMove(
                system, alias, m["previous"], int(m["version"]), m["kind"],
                datetime.fromtimestamp(m["moved_at"], UTC), str(payload.get("actor", "")),
                str(payload.get("reason", "")), int(m["ledger_index"]),
                payload.get("decision"), payload.get("evidence"),
            ))  # fmt: skip
        return out

    def live_at(self, system: str, when: datetime, alias: str = "champion") -> int | None:
        """The version ``alias`` pointed at, at ``when`` (None before its first move)."""
        with self._t.store.read() as conn:
            moves = repo.moves(conn, system, alias)
        return live_at([(m["moved_at"], int(m["version"])) for m in moves], when.timestamp())

    # -- internals -------------------------------------------------------------------

    def _govern(
        self, system: str, alias: str, version: int, previous: int | None, kind: str,
        reason: str, actor: str, approval_id: str | None,
    ) -> Decision:  # fmt: skip
        args = {"alias": alias, "version": version, "previous": previous or 0, "kind": kind,
                "reason": reason}  # fmt: skip
        return self._t.pipeline.decide(system, ALIAS_ACTION, actor=actor, inputs=args,
                                       approval_id=approval_id, raise_on_denial=True)  # fmt: skip

    def _move(
        self, system: str, alias: str, previous: int | None, version: int, kind: str,
        actor: str, reason: str, evidence: Mapping[str, Any] | None, decision: str,
    ) -> AliasMove:  # fmt: skip
        now = self._t.clock.now()
        payload: dict[str, Any] = {
            "system": system, "alias": alias, "from": previous, "to": version, "kind": kind,
            "actor": actor, "reason": reason, "decision": decision,
            "evidence": None if evidence is None else dict(evidence),
            "unhealthy": previous if kind == "rollback" else None,
        }  # fmt: skip
        entry = self._t.ledger.append(
            "alias.moved", actor, payload, subject=f"system/{system}/alias/{alias}",
            mutation=repo.move_alias(system, alias, previous, version, kind, now.timestamp()),
        )  # fmt: skip
        self.epoch += 1
        return AliasMove(system, alias, previous, version, kind, now, actor, reason,
                         entry.index, decision, payload["evidence"])  # fmt: skip


def live_at(moves: list[tuple[float, int]], when: float) -> int | None:
    """The version of the last move at or before ``when`` (moves in order)."""
    current = None
    for at, version in moves:
        if at > when:
            break
        current = version
    return current


def rollback_target(moves: list[tuple[int | None, int, str]]) -> int | None:
    """The version to roll back to: walking back through the versions that were live
    (``moves`` as (previous, version, kind), in order), the first that is neither the
    current one nor one that was rolled back from."""
    if not moves:
        return None
    current = moves[-1][1]
    unhealthy = {current} | {prev for prev, _, kind in moves if kind == "rollback" and prev}
    for _, version, _ in reversed(moves):
        if version not in unhealthy:
            return version
    return None


def fingerprint(data: Any) -> dict[str, Any]:
    """A training batch's (or profile's) fingerprint: rows, columns, the SHA-256 of its
    monitoring profile's JSON and, for a batch, of its content (per column in name
    order: the name, then float64 bytes for numbers or the values' text)."""
    from tether.monitoring import Profile
    from tether.monitoring._profile import columns_of

    if isinstance(data, Profile):
        profile, content = data, None
    else:
        cols = columns_of(data)
        profile = Profile.build(cols)
        content = content_sha256(cols)
    counts = profile.to_dict()
    for col in counts["columns"].values():  # the randomised sketches are left out
        col.pop("kll", None)
        col.pop("hll", None)
    return {
        "rows": profile.rows,
        "columns": sorted(profile.columns),
        "profile_sha256": hashlib.sha256(
            orjson.dumps(counts, option=orjson.OPT_SORT_KEYS)
        ).hexdigest(),
        "content_sha256": content,
    }


def content_sha256(columns: Mapping[str, np.ndarray | None]) -> str:
    """SHA-256 of columns' content: per column in name order, its name, then float64
    bytes for numbers or the values' text (a column that is None is left out)."""
    h = hashlib.sha256()
    for name in sorted(columns):
        values = columns[name]
        if values is None:
            continue
        h.update(name.encode() + b"\0")
        if values.dtype.kind in "iufb":
            h.update(np.ascontiguousarray(values, dtype="<f8").tobytes())
        else:
            h.update("\x1f".join(map(str, values.tolist())).encode())
        h.update(b"\0")
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def environment_hash() -> str:
    """SHA-256 of the sorted ``name==version`` lines of the installed packages."""
    lines = sorted(
        {f"{(d.metadata['Name'] or '').lower()}=={d.version}" for d in metadata.distributions()}
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def artifact_digest(path: str | Path) -> str:
    """SHA-256 of a model file, or of a folder: the sorted lines ``relative/path\0<file
    sha256>\n`` of every file in it (so renaming, adding or changing a file changes it).

    Raises:
        NotFound: no such file or folder.
    """
    p = Path(path)
    if p.is_file():
        return _file_sha256(p)
    if not p.is_dir():
        raise NotFound(f"artifact {p} does not exist")
    h = hashlib.sha256()
    for f in sorted(q for q in p.rglob("*") if q.is_file()):
        h.update(f"{f.relative_to(p).as_posix()}\0{_file_sha256(f)}\n".encode())
    return h.hexdigest()


Fetch = Callable[[str], Path]
Deserialize = Callable[[Path], Any]
_LOADERS: dict[str, tuple[Fetch, Deserialize]] = {}


def register_loader(scheme: str, fetch: Fetch, deserialize: Deserialize) -> None:
    """Teach :meth:`Models.load` a URI scheme: ``fetch(uri)`` gives a local file or
    folder (hashed against the digest), ``deserialize(path)`` the model object."""
    _LOADERS[scheme] = (fetch, deserialize)


def load_artifact(uri: str, digest: str) -> Any:
    """Read the artifact at ``uri``, check it is ``digest``, and deserialise it.

    Raises:
        NotFound: the artifact is missing, or no loader knows the URI's scheme.
        VerificationError: its hash is not ``digest``.
    """
    scheme = urlparse(uri).scheme
    if scheme in _LOADERS:
        fetch, deserialize = _LOADERS[scheme]
        return _load_private_copy(fetch(uri), digest, uri, deserialize)
    if scheme not in ("file", ""):
        raise NotFound(
            f"no loader for {uri!r}: register one with tether.registry.register_loader "
            "(import tether.adapters.mlflow for models:/ and runs:/ URIs)"
        )
    path = Path(unquote(urlparse(uri).path) if scheme == "file" else uri)
    if path.is_dir():
        raise NotFound(f"{uri} is a folder: register a loader for its format")
    try:
        blob = path.read_bytes()  # hashed and loaded from the same bytes: no swap between
    except OSError as exc:
        raise NotFound(f"model artifact {path} cannot be read ({exc.strerror})") from exc
    _check_digest(hashlib.sha256(blob).hexdigest(), digest, uri)
    import joblib

    return joblib.load(io.BytesIO(blob))


def _load_private_copy(path: Path, digest: str, uri: str, deserialize: Deserialize) -> Any:
    """Copy a fetched artifact into a private temporary folder, hash the copy and
    deserialise the copy: what is checked is what is loaded, whatever happens to the
    fetched files meanwhile (a loader's cache, a shared folder).

    The copy lives as long as the model object (some libraries read their files
    lazily, after ``deserialize`` returns); it is removed when the object is
    collected, at exit, or at once when the object cannot be tracked or loading fails.
    """
    source = Path(path)
    if not source.exists():
        raise NotFound(f"artifact {source} of {uri} does not exist")
    private = Path(tempfile.mkdtemp(prefix="tether-model-"))  # mode 0700: ours alone
    try:
        copy = private / (source.name or "artifact")
        if source.is_dir():
            shutil.copytree(source, copy, symlinks=False)  # links are copied as their files
        else:
            shutil.copyfile(source, copy)
        _check_digest(artifact_digest(copy), digest, uri)
        model = deserialize(copy)
    except BaseException:
        shutil.rmtree(private, ignore_errors=True)
        raise
    try:
        weakref.finalize(model, shutil.rmtree, str(private), True)
    except TypeError:  # not weakly referable (str, int, ...): nothing can read lazily
        shutil.rmtree(private, ignore_errors=True)
    return model


def _check_digest(actual: str, expected: str, uri: str) -> None:
    if actual != expected:
        raise VerificationError(
            f"model artifact {uri} has sha256 {actual[:16]}..., not the registered "
            f"{expected[:16]}...: it was changed after registration; refusing to load it "
            "(restore the registered file or register this one as a new version)"
        )


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _artifact(artifact: str | Path | bytes, uri: str | None) -> tuple[str, str]:
    if isinstance(artifact, bytes):
        if not uri:
            raise InvalidInput("an artifact given as bytes needs uri= (where it lives)")
        return hashlib.sha256(artifact).hexdigest(), uri
    path = Path(artifact)
    if not path.exists():
        raise InvalidInput(f"artifact {path} does not exist: pass a model file, folder or bytes")
    return artifact_digest(path), uri or path.resolve().as_uri()


def _background(
    background: Any, features: tuple[str, ...] | None
) -> tuple[tuple[float, ...], ...] | None:
    if background is None:
        return None
    try:
        arr = np.asarray(background, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"background must be numeric rows: {exc}") from exc
    if arr.ndim != 2 or not 1 <= len(arr) <= 1000:
        raise InvalidInput(f"background must be 1 to 1,000 rows of features, got shape {arr.shape}")
    if features is not None and arr.shape[1] != len(features):
        raise InvalidInput(
            f"background has {arr.shape[1]} columns but {len(features)} features are named"
        )
    return tuple(tuple(float(x) for x in row) for row in arr)


def _metrics(metrics: Mapping[str, float] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, value in (metrics or {}).items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(f"metric {name!r} must be a number, got {value!r}")
        out[str(name)] = float(value)
    return out


def _git() -> dict[str, Any] | None:
    """The working directory's git commit and whether it has uncommitted changes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()  # fmt: skip
        status = subprocess.run(["git", "status", "--porcelain"], capture_output=True,
                                text=True, timeout=5, check=True).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


def _version(row: Mapping[str, Any]) -> ModelVersion:
    r = orjson.loads(row["record"])
    return ModelVersion(
        r["system"], int(r["version"]), r["digest"], r["uri"], r["actor"],
        datetime.fromtimestamp(row["registered_at"], UTC), r.get("data"), r.get("code"),
        r.get("environment"), r.get("metrics") or {}, r.get("parent"),
        r.get("description", ""), int(row["ledger_index"]),
        None if r.get("features") is None else tuple(r["features"]),
        None if r.get("background") is None else tuple(tuple(x) for x in r["background"]),
    )  # fmt: skip
