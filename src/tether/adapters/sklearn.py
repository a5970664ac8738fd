"""Governed serving: a scikit-learn-compatible model whose every prediction goes
through the pipeline.

:class:`GovernedModel` stands in for an estimator (``predict``, ``predict_proba``,
``decision_function``, ``classes_``): each row is one ``predict`` (or
``predict_proba``) decision of the system, recorded with its inputs (feature name →
value), the served version in ``context.model`` (alias, version, digest) and the
prediction as the decision's output, so monitoring, labels and explanations find it.
The model behind the alias is loaded by digest (the artifact's SHA-256 is checked
before it is deserialised) and swapped in when the alias moves: at once for moves
made in this process (a response's rollback), within a quarter of a second for moves
made elsewhere. Calls in flight finish on the version they started with;
none is dropped. XGBoost and LightGBM models work through their scikit-learn API.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tether.errors import InvalidInput

if TYPE_CHECKING:
    from tether.core import Tether
    from tether.registry import ModelVersion

__all__ = ["REFRESH", "GovernedModel", "Served"]

REFRESH = 0.25  # seconds: a rollback made elsewhere is served within this (plus a load)


@dataclass(frozen=True, slots=True)
class Served:
    """The version being served and its model object."""

    version: ModelVersion
    model: Any
    epoch: int
    checked: float  # time.monotonic() of the last alias look-up

    @property
    def context(self) -> dict[str, Any]:
        """What each decision records about the model."""
        v = self.version
        return {"version": v.version, "digest": v.digest}


class GovernedModel:
    """A governed stand-in for the model behind ``alias`` of ``system``.

    Example:
        >>> import joblib, tempfile, numpy as np
        >>> from sklearn.linear_model import LogisticRegression
        >>> from tether.policy import Policy
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> _ = t.systems.register("scorer", kind="model", owner="ml", risk_tier="limited",
        ...                        actor="admin")
        >>> for who in ("user:ana", "svc:api"):
        ...     _ = t.actors.register(who, kind="human" if "user" in who else "service",
        ...                           roles=["model_owner"], actor="admin")
        >>> _ = t.policies.publish(Policy.from_text('''
        ... policy: serve
        ... systems: {scorer: {kind: model}}
        ... actions: [predict, predict_proba, set_alias]
        ... rules: [{id: ok, effect: allow}]
        ... '''), actor="admin")
        >>> X = np.random.default_rng(0).normal(size=(200, 2)); y = (X[:, 0] > 0).astype(int)
        >>> path = tempfile.mkdtemp() + "/m.joblib"
        >>> _ = joblib.dump(LogisticRegression().fit(X, y), path)
        >>> v = t.models.register("scorer", path, actor="user:ana", features=["a", "b"], code=None)
        >>> _ = t.models.promote("scorer", v.version, actor="user:ana", reason="first")
        >>> m = GovernedModel(t, "scorer", actor="svc:api")
        >>> m.predict([[2.0, 0.0], [-2.0, 0.0]]).tolist()
        [1, 0]
        >>> m.last_decisions[0].outcome, m.served.version.version
        ('executed', 1)
        >>> t.close()
    """

    def __init__(
        self,
        tether: Tether,
        system: str,
        *,
        actor: str,
        alias: str = "champion",
        features: Sequence[str] | None = None,
        refresh: float | None = None,
    ) -> None:
        """Serve ``alias`` of ``system`` as ``actor``; ``features`` overrides the
        version's feature names; ``refresh`` (seconds) how often the alias is looked
        up again for moves made by other processes (default: a quarter of a second, or
        ``TETHER_CACHE_SECONDS`` if shorter; one indexed read each time)."""
        self.tether = tether
        self.system = system
        self.actor = actor
        self.alias = alias
        self.features = None if features is None else tuple(features)
        default = min(REFRESH, tether.settings.cache_seconds)
        self.refresh = default if refresh is None else refresh
        self._local = threading.local()
        self._served: Served | None = None
        self._lock = threading.Lock()

    # -- the estimator interface ---------------------------------------------------------

    def predict(self, X: Any, *, context: Mapping[str, Any] | None = None) -> np.ndarray:
        """Predict each row, one governed ``predict`` decision per row: the model runs
        on a row only after the pipeline allowed it (and on the inputs its guardrails
        let through), one model call per row.

        Raises:
            ActionDenied: a row was not allowed (rows before it were served and
                recorded; the error names the decision and, for an approval, its id).
        """
        return self._serve("predict", X, context)

    def predict_proba(self, X: Any, *, context: Mapping[str, Any] | None = None) -> np.ndarray:
        """Class probabilities per row, one governed ``predict_proba`` decision per row
        (its recorded output is the positive class's probability for two classes)."""
        return self._serve("predict_proba", X, context)

    def decision_function(self, X: Any, *, context: Mapping[str, Any] | None = None) -> np.ndarray:
        """Decision scores per row, governed as ``predict`` decisions."""
        return self._serve("decision_function", X, context, action="predict")

    @property
    def last_decisions(self) -> list[Any]:
        """This thread's decisions of its last call, one per row (so far, if a row
        was refused)."""
        decisions: list[Any] = getattr(self._local, "decisions", [])
        return decisions

    @property
    def classes_(self) -> Any:
        """The served model's classes."""
        return self.served.model.classes_

    @property
    def served(self) -> Served:
        """The version served now (looked up again when due)."""
        s = self._served
        models = self.tether.models
        if s is None or s.epoch != models.epoch or time.monotonic() - s.checked > self.refresh:
            s = self._resolve(s)
        return s

    def fit(self, *args: Any, **kwargs: Any) -> GovernedModel:
        """Not here: train a model, register it as a version and promote it."""
        raise InvalidInput(
            "a GovernedModel serves registered versions; fit your estimator, register it "
            "(tether.models.register) and promote it"
        )

    # -- internals -----------------------------------------------------------------------

    def _resolve(self, current: Served | None) -> Served:
        with self._lock:
            models = self.tether.models
            epoch = models.epoch
            s = self._served
            if s is not None and s is not current:
                return s  # another thread looked already
            version = models.resolve(self.system, self.alias)
            if s is not None and s.version.digest == version.digest:
                s = Served(s.version, s.model, epoch, time.monotonic())
            else:
                model = models.load(self.system, version.version)
                s = Served(version, model, epoch, time.monotonic())
            self._served = s
            return s

    def _serve(
        self, method: str, X: Any, context: Mapping[str, Any] | None, action: str | None = None
    ) -> np.ndarray:
        served = self.served
        fn = getattr(served.model, method, None)
        if fn is None:
            raise InvalidInput(f"the served model ({type(served.model).__name__}) has no {method}")
        rows, names = _rows(X, self.features or served.version.features)
        # a frame goes to a model fitted on one (it checks the names)
        frame = _is_frame(X) and hasattr(served.model, "feature_names_in_")
        ctx = {**(context or {}), "model": {"alias": self.alias, **served.context}}
        pipeline = self.tether.pipeline
        full: list[Any] = []

        def predict_one(**features: Any) -> Any:
            # runs only once the pipeline allowed the row, on the inputs it let through
            x = [[features[n] for n in names]]
            value = np.asarray(fn(_frame(x, names) if frame else np.asarray(x)))[0]
            full.append(value)
            return _recorded(value)

        decisions: list[Any] = []
        self._local.decisions = decisions
        for row in rows:
            inputs = dict(zip(names, map(_scalar, row), strict=True))
            decisions.append(pipeline.execute(
                predict_one, (), inputs, system=self.system, action=action or method,
                actor=self.actor, inputs=inputs, context=ctx,
            ))  # fmt: skip
        return np.asarray(full)


def _frame(rows: list[list[Any]], names: Sequence[str]) -> Any:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    return pd.DataFrame(rows, columns=list(names))


def _recorded(value: Any) -> Any:
    """A prediction as recorded: a number, or a two-class probability row's positive
    class, or a list."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        return arr.item()
    if arr.shape == (2,):
        return float(arr[1])
    return arr.tolist()


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _is_frame(X: Any) -> bool:
    return hasattr(X, "columns") and hasattr(X, "iloc")


def _rows(X: Any, features: Sequence[str] | None) -> tuple[list[Any], tuple[str, ...]]:
    if _is_frame(X):
        if features is not None:  # the version's column order, whatever the frame's
            missing = [f for f in features if f not in X.columns]
            if missing:
                raise InvalidInput(f"X lacks the version's features {missing}")
            X = X[list(features)]
        names = tuple(str(c) for c in X.columns)
        return X.to_numpy().tolist(), names
    arr = np.asarray(X)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise InvalidInput(f"X must be rows of features (2-D), got shape {arr.shape}")
    n = arr.shape[1]
    if features is not None and len(features) != n:
        raise InvalidInput(
            f"X has {n} columns but the version names {len(features)} features "
            f"({', '.join(features)})"
        )
    names = tuple(features) if features is not None else tuple(f"x{i}" for i in range(n))
    return arr.tolist(), names
