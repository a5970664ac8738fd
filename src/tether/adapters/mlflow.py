"""MLflow models in tether's registry: import registered models, load them back.

- :func:`import_models` copies an MLflow model registry into tether: every version of
  every registered model (or of the ones named) becomes a tether version whose URI is
  ``models:/NAME/VERSION`` and whose digest is :func:`~tether.registry.artifact_digest`
  of the downloaded model folder; the run's metrics come along. Versions already in
  tether are skipped, so running it again is a no-op. MLflow's aliases are then mirrored
  through the pipeline (``set_alias``, so policy decides); a move policy does not allow
  is reported in the result, never dropped.
- :func:`register_mlflow_version` registers one MLflow model (``models:/NAME/VERSION``,
  ``models:/NAME@ALIAS``, ``models:/MODEL_ID`` or ``runs:/RUN_ID/PATH``); an alias is
  resolved to its version first, so the recorded URI never moves.
- Importing this module teaches :meth:`Models.load <tether.registry.Models.load>` the
  ``models:/`` and ``runs:/`` schemes: the artifact is downloaded into a cache folder
  (one per server and URI), checked against the registered digest, then deserialised
  with ``mlflow.sklearn.load_model`` when it has the ``sklearn`` flavour (the estimator
  itself, as a ``file:`` version loads) and ``mlflow.pyfunc.load_model`` otherwise. It
  loads from the tracking server MLflow is configured with (``MLFLOW_TRACKING_URI``);
  :func:`register_loaders` names another server or cache folder.

A model file can run code when it is loaded, and MLflow refuses to when
``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false``; loading then raises
:class:`~tether.errors.ConfigurationError`. tether's digest check proves the artifact is
the registered one, not that it is safe, so tether leaves that switch to you. Importing this
module turns MLflow's usage telemetry and download progress bars off unless you set
``MLFLOW_DISABLE_TELEMETRY`` or ``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR`` yourself.

Usage (needs a tracking server, so it is not run as a doctest)::

    from tether.adapters import mlflow as tether_mlflow

    result = tether_mlflow.import_models(t, "sqlite:////srv/mlflow/mlflow.db", actor="svc:ci")
    result.versions[("scorer", "3")].version  # the tether version of MLflow's scorer v3
    for alias in result.unmirrored:           # e.g. a champion move waiting for approval
        print(alias.system, alias.alias, alias.error)
"""

from __future__ import annotations

import hashlib
import math
import os
import posixpath
import shutil
import tempfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

# Before MLflow is imported: it starts its telemetry client at import time.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

try:
    import mlflow
    import mlflow.artifacts
    import mlflow.tracking
    from mlflow.exceptions import MlflowException
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("tether.adapters.mlflow needs MLflow: pip install 'tether[mlflow]'") from exc

from tether.errors import (
    ActionDenied,
    ConfigurationError,
    Conflict,
    InvalidInput,
    NotFound,
    TetherError,
)
from tether.registry import AliasMove, ModelVersion, artifact_digest, register_loader
from tether.registry._inventory import _check_name

if TYPE_CHECKING:
    from tether.core import Tether

__all__ = [
    "AliasImport",
    "ImportResult",
    "import_models",
    "register_loaders",
    "register_mlflow_version",
]

try:  # mlflow was imported before us: drop the client it may have started
    from mlflow.telemetry import set_telemetry_client
except ImportError:  # pragma: no cover - in MLflow 3.2 and later (so far)
    pass
else:
    set_telemetry_client()

Key = tuple[str, str]  # (MLflow registered model name, MLflow version)
Outcome = Literal["moved", "unchanged", "denied", "conflict", "invalid"]


@dataclass(frozen=True, slots=True)
class AliasImport:
    """What became of one MLflow alias: ``moved`` (the move is ``move``), ``unchanged``
    (tether's alias already pointed there), or not mirrored: ``denied`` (``error`` is the
    :class:`~tether.errors.ActionDenied`; an ``ApprovalRequired`` carries the approval
    to ask for, then call ``set_alias`` with this ``reason`` and its ``approval_id``),
    ``conflict`` (the alias moved meanwhile) or ``invalid`` (not a valid tether name)."""

    system: str
    alias: str
    version: int  # the tether version MLflow's alias points at
    outcome: Outcome
    reason: str
    move: AliasMove | None = None
    error: TetherError | None = None


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What :func:`import_models` did. ``versions`` maps every imported MLflow version,
    ``(name, version)``, to its tether version; ``registered`` were registered by this
    call, ``skipped`` were already in tether, ``pending`` were not ready in MLflow (not
    imported: run again later)."""

    versions: dict[Key, ModelVersion]
    registered: tuple[Key, ...]
    skipped: tuple[Key, ...]
    pending: tuple[Key, ...]
    aliases: tuple[AliasImport, ...]

    @property
    def unmirrored(self) -> tuple[AliasImport, ...]:
        """The aliases left as they were in tether: denied, conflicting or invalid."""
        return tuple(a for a in self.aliases if a.outcome not in ("moved", "unchanged"))


def import_models(
    tether: Tether,
    tracking_uri: str,
    *,
    actor: str,
    names: Sequence[str] | None = None,
    system: str | Mapping[str, str] | None = None,
    registry_uri: str | None = None,
    aliases: Collection[str] | None = None,
    cache_dir: str | Path | None = None,
) -> ImportResult:
    """Register the MLflow model registry's versions in tether and mirror its aliases.

    ``names`` picks registered models (default: the keys of ``system`` when it is a
    mapping, otherwise all). Each becomes the tether system ``system[name]`` (a mapping),
    ``system`` (a string, for one model) or its own name. ``aliases`` picks the aliases
    to mirror (default: all; ``()`` for none). Downloads go to ``cache_dir`` (default:
    ``$XDG_CACHE_HOME/tether/mlflow``), where :meth:`Models.load` finds them again.

    Raises:
        InvalidInput: a system name tether cannot hold (map it with ``system=``).
        NotFound: a named model is not in the registry, or an artifact is missing.
    """
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)
    registry = registry_uri or tracking_uri
    cache = _cache(cache_dir)
    systems = _systems(client, names, system)
    versions: dict[Key, ModelVersion] = {}
    registered: list[Key] = []
    skipped: list[Key] = []
    pending: list[Key] = []
    mirrored: list[AliasImport] = []
    for name, target in systems.items():
        known = {v.uri: v for v in tether.models.list(target)}
        for mv in _versions(client, name):
            key = (name, str(mv.version))
            uri = f"models:/{name}/{mv.version}"
            if mv.status != "READY":
                pending.append(key)
            elif uri in known:
                versions[key] = known[uri]
                skipped.append(key)
            else:
                folder = _download(client, tracking_uri, registry, uri, cache)
                versions[key], new = _register(
                    tether, target, folder, uri, actor=actor,
                    metrics=_run_metrics(client, mv.run_id),
                    description=mv.description or f"MLflow {name} version {mv.version}",
                )  # fmt: skip
                (registered if new else skipped).append(key)
        with _errors(f"MLflow model {name!r}"):
            pointers = client.get_registered_model(name).aliases or {}
        for alias, number in sorted(pointers.items()):
            v = versions.get((name, str(number)))
            if v is not None and (aliases is None or alias in aliases):
                evidence = {"mlflow": {"registry": _redact(registry), "name": name,
                                       "version": str(number), "alias": alias}}  # fmt: skip
                mirrored.append(_mirror(tether, v, alias, actor, evidence))
    return ImportResult(versions, tuple(registered), tuple(skipped), tuple(pending),
                        tuple(mirrored))  # fmt: skip


def register_mlflow_version(
    tether: Tether,
    system: str,
    model_uri: str,
    *,
    actor: str,
    tracking_uri: str | None = None,
    registry_uri: str | None = None,
    cache_dir: str | Path | None = None,
    metrics: Mapping[str, float] | None = None,
    description: str = "",
    data: Any = None,
    parent: int | None = None,
    features: Sequence[str] | None = None,
    background: Any = None,
) -> ModelVersion:
    """Register the MLflow model at ``model_uri`` as a new version of ``system``.

    ``models:/NAME@ALIAS`` is recorded as ``models:/NAME/VERSION`` (the version the
    alias points at now). ``metrics`` default to the MLflow run's. The server is
    ``tracking_uri`` (default: MLflow's configured one); the rest is as for
    :meth:`Models.register <tether.registry.Models.register>`.

    Raises:
        ConfigurationError: no ``tracking_uri`` and MLflow has none configured.
        InvalidInput: not a ``models:/`` or ``runs:/`` URI, or a stage (it moves).
        NotFound: no such model, version, alias, run or artifact.
        Conflict: this artifact is already a version of ``system``.
    """
    tracking, registry = _servers(tracking_uri, registry_uri, model_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking, registry_uri=registry)
    uri, run_id = _pin(client, model_uri)
    folder = _download(client, tracking, registry, uri, _cache(cache_dir))
    return tether.models.register(
        system, folder, uri=uri, actor=actor, data=data, parent=parent,
        metrics=_run_metrics(client, run_id) if metrics is None else metrics,
        code=None, environment=None, description=description, features=features,
        background=background,
    )  # fmt: skip


def register_loaders(
    *,
    tracking_uri: str | None = None,
    registry_uri: str | None = None,
    cache_dir: str | Path | None = None,
) -> None:
    """Make :meth:`Models.load <tether.registry.Models.load>` read ``models:/`` and
    ``runs:/`` URIs from this server (default: MLflow's configured one, looked up at each
    load) through ``cache_dir`` (default: ``$XDG_CACHE_HOME/tether/mlflow``). Importing
    this module calls it with the defaults."""

    def fetch(uri: str) -> Path:
        tracking, registry = _servers(tracking_uri, registry_uri, uri)
        client = mlflow.MlflowClient(tracking_uri=tracking, registry_uri=registry)
        # an alias moves: download it again rather than trust what was cached under it
        return _download(client, tracking, registry, uri, _cache(cache_dir), refresh="@" in uri)

    for scheme in ("models", "runs"):
        register_loader(scheme, fetch, _deserialize)


# --- internals --------------------------------------------------------------------------


def _systems(client: Any, names: Sequence[str] | None, system: Any) -> dict[str, str]:
    """MLflow name -> tether system, every system name checked before anything is done."""
    if names is None:
        names = list(system) if isinstance(system, Mapping) else _all_names(client)
    if isinstance(system, str) and len(names) != 1:
        raise InvalidInput(
            f"system={system!r} names one system, but {len(names)} MLflow models are to be "
            "imported: pass names=[one] or a mapping {mlflow_name: system}"
        )
    out = {}
    for name in names:
        target = system.get(name, name) if isinstance(system, Mapping) else system or name
        try:
            _check_name(target, "system")
        except InvalidInput as exc:
            raise InvalidInput(
                f"{exc} (MLflow model {name!r}: map it with system={{{name!r}: 'a-name'}})"
            ) from None
        out[name] = target
    return out


def _all_names(client: Any) -> list[str]:
    names: list[str] = []
    token = None
    while True:
        with _errors("MLflow registry"):
            page = client.search_registered_models(max_results=100, page_token=token)
        names += [m.name for m in page]
        token = page.token
        if not token:
            return sorted(names)


def _versions(client: Any, name: str) -> list[Any]:
    found: list[Any] = []
    token = None
    while True:
        with _errors(f"MLflow model {name!r}"):
            page = client.search_model_versions(f"name = {_quote(name)}", page_token=token)
        found += page
        token = page.token
        if not token:
            break
    if not found:
        with _errors(f"MLflow model {name!r}"):
            client.get_registered_model(name)  # a missing model raises NotFound here
    return sorted(found, key=lambda mv: int(mv.version))


def _register(
    tether: Tether, system: str, folder: Path, uri: str, *, actor: str,
    metrics: Mapping[str, float], description: str,
) -> tuple[ModelVersion, bool]:  # fmt: skip
    """The registered version and whether it is new (the same artifact is not new)."""
    try:
        v = tether.models.register(
            system, folder, uri=uri, actor=actor, metrics=metrics, code=None,
            environment=None, description=description,
        )  # fmt: skip
    except Conflict:
        digest = artifact_digest(folder)
        for known in tether.models.list(system):
            if known.digest == digest:
                return known, False
        raise
    return v, True


def _mirror(
    tether: Tether, v: ModelVersion, alias: str, actor: str, evidence: dict[str, Any]
) -> AliasImport:
    mlflow_ = evidence["mlflow"]
    reason = f"imported from MLflow: {mlflow_['name']}@{alias} is version {mlflow_['version']}"
    try:
        current: int | None = tether.models.resolve(v.system, alias).version
    except NotFound:
        current = None
    except InvalidInput as exc:
        return AliasImport(v.system, alias, v.version, "invalid", reason, error=exc)
    if current == v.version:
        return AliasImport(v.system, alias, v.version, "unchanged", reason)
    try:
        move = tether.models.set_alias(v.system, alias, v.version, actor=actor, reason=reason,
                                       evidence=evidence)  # fmt: skip
    except ActionDenied as exc:
        return AliasImport(v.system, alias, v.version, "denied", reason, error=exc)
    except Conflict as exc:
        return AliasImport(v.system, alias, v.version, "conflict", reason, error=exc)
    except InvalidInput as exc:
        return AliasImport(v.system, alias, v.version, "invalid", reason, error=exc)
    return AliasImport(v.system, alias, v.version, "moved", reason, move=move)


def _pin(client: Any, uri: str) -> tuple[str, str | None]:
    """``uri`` with an alias replaced by its version, and the run that made the model."""
    parts = urlsplit(uri)
    path = parts.path.lstrip("/")
    if parts.scheme == "runs" and path:
        run_id = path.split("/")[0]
        with _errors(f"MLflow run {run_id}"):
            client.get_run(run_id)
        return uri, run_id
    if parts.scheme != "models" or not path:
        raise InvalidInput(
            f"{uri!r} is not an MLflow model URI: give models:/NAME/VERSION, "
            "models:/NAME@ALIAS, models:/MODEL_ID or runs:/RUN_ID/PATH"
        )
    head, _, rest = path.partition("/")
    version = rest.partition("/")[0]
    with _errors(f"MLflow model {uri}"):
        if "@" in head:
            name, alias = head.split("@", 1)
            mv = client.get_model_version_by_alias(name, alias)
            return f"models:/{name}/{mv.version}{'/' + rest if rest else ''}", mv.run_id
        if not version:  # a logged model's ID (MLflow 3): it never moves
            return uri, getattr(client.get_logged_model(head), "source_run_id", None)
        if version.isdigit():
            return uri, client.get_model_version(head, version).run_id
    raise InvalidInput(
        f"{uri!r} names the stage {version!r} of {head}, which moves: give "
        f"models:/{head}/VERSION or models:/{head}@ALIAS (recorded as its version)"
    )


def _run_metrics(client: Any, run_id: str | None) -> dict[str, float]:
    """The run's latest metrics (none without a run; NaN and infinities left out)."""
    if not run_id:
        return {}
    with _errors(f"MLflow run {run_id}"):
        metrics = client.get_run(run_id).data.metrics
    return {str(k): float(x) for k, x in metrics.items() if math.isfinite(x)}


def _servers(tracking_uri: str | None, registry_uri: str | None, uri: str) -> tuple[str, str]:
    if tracking_uri is None and not mlflow.tracking.is_tracking_uri_set():
        # MLflow's fallback is ./mlflow.db in the working directory: an empty store
        raise ConfigurationError(
            f"no MLflow tracking server to read {uri} from: set MLFLOW_TRACKING_URI or call "
            "tether.adapters.mlflow.register_loaders(tracking_uri=...)"
        )
    tracking = tracking_uri or mlflow.get_tracking_uri()
    return tracking, registry_uri or (tracking if tracking_uri else mlflow.get_registry_uri())


def _cache(cache_dir: str | Path | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tether" / "mlflow"


def _download(
    client: Any, tracking: str, registry: str, uri: str, cache: Path, refresh: bool = False
) -> Path:
    """The local folder of ``uri``, downloaded once per server and URI. A download lands
    in a temporary folder renamed into place, so a failed one leaves nothing behind."""
    dest = cache / hashlib.sha256(f"{tracking}\n{registry}\n{uri}".encode()).hexdigest()[:32]
    if dest.is_dir() and not refresh:
        return dest
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=cache))
    try:
        with _errors(f"MLflow artifact {uri}"):
            got = Path(mlflow.artifacts.download_artifacts(
                artifact_uri=_location(client, uri), dst_path=str(tmp / "new"),
                tracking_uri=tracking,
            ))  # fmt: skip
        if refresh and dest.is_dir():
            dest.rename(tmp / "old")
        try:
            (got if got.is_dir() else got.parent).rename(dest)
        except OSError:
            if not dest.is_dir():  # not another process that got there first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _location(client: Any, uri: str) -> str:
    """Where the files of a ``models:/`` or ``runs:/`` URI are stored. MLflow 3 resolves
    these URIs on its *default* tracking server whatever server it is given (and would
    create ./mlflow.db looking there), so they are resolved here with ``client``."""
    parts = urlsplit(uri)
    path = parts.path.lstrip("/")
    head, _, rest = path.partition("/")
    if parts.scheme == "models" and "@" in head:
        name, alias = head.split("@", 1)
        version = client.get_model_version_by_alias(name, alias).version
        return _join(client.get_model_version_download_uri(name, version), rest)
    if parts.scheme == "models" and head and not rest:  # a logged model's ID
        return str(client.get_logged_model(head).artifact_location)
    if parts.scheme == "models" and head:
        version, _, sub = rest.partition("/")
        return _join(client.get_model_version_download_uri(head, version), sub)
    if parts.scheme != "runs" or not head:
        raise InvalidInput(f"{uri!r} is not a models:/ or runs:/ URI")
    run = client.get_run(head)
    parent = posixpath.dirname(rest)
    if not rest or any(f.path == rest for f in client.list_artifacts(head, parent or None)):
        return _join(run.info.artifact_uri, rest)
    # MLflow 3 keeps a model logged in a run apart from the run's files, under its name
    name, _, sub = rest.partition("/")
    token = None
    while True:
        page = client.search_logged_models(experiment_ids=[run.info.experiment_id],
                                           filter_string=f"name = {_quote(name)}",
                                           page_token=token)  # fmt: skip
        for model in page:
            if model.source_run_id == head:
                return _join(model.artifact_location, sub)
        token = page.token
        if not token:
            raise NotFound(f"MLflow run {head} has no artifact or model {rest!r}")


def _join(base: str, sub: str) -> str:
    return f"{base.rstrip('/')}/{sub}" if sub else base


def _quote(value: str) -> str:
    """``value`` as a string in an MLflow search filter."""
    return f'"{value}"' if "'" in value else f"'{value}'"


def _deserialize(path: Path) -> Any:
    if not (path / "MLmodel").is_file():
        raise InvalidInput(f"{path} is not an MLflow model folder (it has no MLmodel file)")
    from mlflow.models import Model

    try:
        if "sklearn" in Model.load(str(path / "MLmodel")).flavors:
            import mlflow.sklearn

            return mlflow.sklearn.load_model(str(path))
        import mlflow.pyfunc

        return mlflow.pyfunc.load_model(str(path))
    except MlflowException as exc:
        if "MLFLOW_ALLOW_PICKLE_DESERIALIZATION" in str(exc):
            raise ConfigurationError(
                f"MLflow refuses to deserialise {path} unless "
                "MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true: tether checked that it is the "
                "registered artifact (its digest), not that it is safe to load; set it if "
                "you trust the models in your registry"
            ) from exc
        raise


@contextmanager
def _errors(what: str) -> Iterator[None]:
    """MLflow's errors as tether's: a missing object is NotFound, a bad value InvalidInput."""
    try:
        yield
    except MlflowException as exc:
        # MLflow reports a missing alias as an invalid parameter "... not found"
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(exc.message):
            raise NotFound(f"{what}: {exc.message}") from exc
        if exc.error_code == "INVALID_PARAMETER_VALUE":
            raise InvalidInput(f"{what}: {exc.message}") from exc
        raise


def _redact(uri: str) -> str:
    """``uri`` without its user and password (they would land in the ledger)."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


register_loaders()  # on import: models:/ and runs:/ versions load
