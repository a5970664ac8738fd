"""Evaluation data handed to a gate run: labels, decisions, scores and sensitive
columns, the model's own predictions when only features are given (the artifact is
loaded through :meth:`Models.load`, which checks its digest), and the metrics computed
from them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tether.errors import InvalidInput
from tether.registry._models import content_sha256

if TYPE_CHECKING:
    from tether.core import Tether
    from tether.registry._models import ModelVersion

__all__ = ["Evaluation", "build_evaluation"]


@dataclass(frozen=True)
class Evaluation:
    """Evaluation data handed to a gate run: labels, decisions, scores, sensitive
    columns and the metrics computed from them (or given with them)."""

    rows: int
    y: np.ndarray | None
    predictions: np.ndarray | None
    scores: np.ndarray | None
    sensitive: dict[str, np.ndarray] | None
    metrics: dict[str, float] = field(default_factory=dict)
    digest: str | None = None  # SHA-256 of the data (labels, decisions, scores, sensitive)
    model_digest: str | None = None  # the artifact that predicted, when tether ran it

    def summary(self) -> dict[str, Any]:
        """What the ledger records of it."""
        return {
            "rows": self.rows, "labelled": self.y is not None, "metrics": self.metrics,
            "sensitive": sorted(self.sensitive or {}), "digest": self.digest,
            "model_digest": self.model_digest,
        }  # fmt: skip


def build_evaluation(
    t: Tether,
    version: ModelVersion,
    *,
    X: Any = None,
    y: Any = None,
    predictions: Any = None,
    scores: Any = None,
    sensitive: Any = None,
    metrics: Mapping[str, float] | None = None,
    threshold: float = 0.5,
) -> Evaluation | None:
    """Turn what a gate run was given into an :class:`Evaluation` (None: nothing).

    With ``X`` the version's model is loaded (its artifact checked against the
    registered digest) and predicts; ``scores`` without ``predictions`` are cut at
    ``threshold``.

    Raises:
        InvalidInput: both X and predictions, lengths that differ, a metric that is
            not a number or that the data already gives, a model that cannot predict.
        VerificationError: the artifact is not the registered one.
    """
    given = (X, y, predictions, scores, sensitive)
    if all(v is None for v in given) and not metrics:
        return None
    model_digest = None
    if X is not None:
        if predictions is not None or scores is not None:
            raise InvalidInput("give X (the model predicts) or predictions/scores, not both")
        predictions, scores = _predict(t, version, X)
        model_digest = version.digest
    score = None if scores is None else _vector("scores", scores).astype(np.float64)
    pred = None if predictions is None else _vector("predictions", predictions)
    if pred is None and score is not None:
        pred = (score >= threshold).astype(np.int64)
    truth = None if y is None else _vector("y", y)
    sens = None if sensitive is None else _columns(sensitive)
    named = (("y", truth), ("predictions", pred), ("scores", score))
    sizes = {n: len(a) for n, a in named if a is not None}
    sizes |= {f"sensitive {k!r}": len(v) for k, v in (sens or {}).items()}
    if len(set(sizes.values())) > 1:
        shown = ", ".join(f"{k} {v}" for k, v in sizes.items())
        raise InvalidInput(f"the evaluation data have different lengths ({shown}); pair them")
    computed = _metrics(truth, pred, score) if truth is not None and pred is not None else {}
    for name, value in (metrics or {}).items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise InvalidInput(f"metric {name!r} must be a number, got {value!r}")
        if name in computed:
            raise InvalidInput(
                f"metric {name!r} is computed from the evaluation data; drop it from metrics="
            )
        computed[str(name)] = float(value)
    rows = next(iter(sizes.values()), 0)
    parts = {"y": truth, "predictions": pred, "scores": score, **(sens or {})}
    digest = content_sha256(parts) if any(v is not None for v in parts.values()) else None
    return Evaluation(rows, truth, pred, score, sens, computed, digest, model_digest)


def _predict(t: Tether, version: ModelVersion, X: Any) -> tuple[Any, Any]:
    model = t.models.load(version.system, version.version)  # checks the artifact's digest
    matrix = _matrix(X, version.features)
    try:
        pred = np.asarray(model.predict(matrix))
    except Exception as exc:  # the model's own error, named
        raise InvalidInput(
            f"version {version.version} of {version.system} cannot predict on X: {exc}"
        ) from exc
    scores = None
    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(matrix))
        if proba.ndim == 2 and proba.shape[1] == 2:
            scores = proba[:, 1]
    return pred, scores


def _matrix(X: Any, features: tuple[str, ...] | None) -> Any:
    if isinstance(X, Mapping) or hasattr(X, "columns"):
        names = list(X.keys()) if isinstance(X, Mapping) else [str(c) for c in X.columns]
        if features is None:
            raise InvalidInput(
                "X has named columns but the version names no features: register it with "
                "features= (the model's input order) or pass X as an array"
            )
        missing = [f for f in features if f not in names]
        if missing:
            raise InvalidInput(f"X lacks the model's feature(s) {missing}")
        return np.column_stack([np.asarray(X[f], dtype=np.float64) for f in features])
    return X


def _vector(name: str, values: Any) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or len(arr) == 0:
        raise InvalidInput(f"{name} must be a non-empty 1-D sequence (got shape {arr.shape})")
    return arr


def _columns(sensitive: Any) -> dict[str, np.ndarray]:
    if hasattr(sensitive, "columns"):
        return {str(c): np.asarray(sensitive[c], dtype=object) for c in sensitive.columns}
    if not isinstance(sensitive, Mapping) or not sensitive:
        raise InvalidInput("sensitive must be a mapping of column name to values (or a DataFrame)")
    return {str(k): np.asarray(v, dtype=object) for k, v in sensitive.items()}


def _metrics(y: np.ndarray, pred: np.ndarray, scores: np.ndarray | None) -> dict[str, float]:
    from sklearn import metrics as m

    labels = set(np.unique(y).tolist()) | set(np.unique(pred).tolist())
    if labels <= {0, 1}:
        y_, p_ = y.astype(np.int64), pred.astype(np.int64)
        out = {
            "accuracy": m.accuracy_score(y_, p_),
            "precision": m.precision_score(y_, p_, zero_division=0),
            "recall": m.recall_score(y_, p_, zero_division=0),
            "f1": m.f1_score(y_, p_, zero_division=0),
        }
        if scores is not None:
            out["brier"] = m.brier_score_loss(y_, scores)
            if len(set(y_.tolist())) == 2:
                out["auc"] = m.roc_auc_score(y_, scores)
        return {k: float(v) for k, v in out.items()}
    if y.dtype.kind in "iuf" and pred.dtype.kind in "iuf":
        err = pred.astype(np.float64) - y.astype(np.float64)
        return {
            "mae": float(np.mean(np.abs(err))),
            "rmse": float(np.sqrt(np.mean(err**2))),
            "r2": float(m.r2_score(y, pred)),
        }
    return {"accuracy": float(np.mean(y.astype(str) == pred.astype(str)))}
