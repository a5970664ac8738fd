"""Per-decision feature attributions: choose the explainer, check the row, explain it.

Three explainers, chosen from the model (``docs/explain.md`` says what each computes):

* tree ensembles (scikit-learn gradient boosting, random forests, extra trees, decision
  trees, histogram gradient boosting; XGBoost and LightGBM when installed): shap's
  ``TreeExplainer``, exact Tree SHAP;
* linear models (``coef_`` and ``intercept_``, and an output that is exactly
  ``x @ coef_.T + intercept_``): shap's ``LinearExplainer``, ``coef * (x - mean)``;
* anything else: exact Shapley values over a background sample (``_shapley.py``).

Building an explainer is the expensive part (a 100-tree model: milliseconds; one row:
a tenth of one), so :class:`Explainer` is built once per model and reused, and
:func:`explainer_for` keeps the last :data:`CACHE_SIZE` of them by the caller's key.
shap and pandas are imported only when an explainer is built.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import numbers
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from tether import __version__
from tether.errors import InvalidInput
from tether.explain._explanation import Explanation
from tether.explain._shapley import EXACT_MAX, MAX_BACKGROUND, Shapley, thin

__all__ = ["CACHE_SIZE", "TREE_BACKGROUND", "Explainer", "Output", "explain", "explainer_for"]

Output = Literal["auto", "margin", "probability", "prediction"]
Array = npt.NDArray[np.float64]

CACHE_SIZE = 32
TREE_BACKGROUND = 100  # rows kept for interventional Tree SHAP (cost grows with them)
_OUTPUTS = ("auto", "margin", "probability", "prediction")
# Classifiers whose trees add up a margin (log-odds); the others average probabilities.
_MARGIN_TREES = {
    "GradientBoostingClassifier", "HistGradientBoostingClassifier", "XGBClassifier",
    "LGBMClassifier",
}  # fmt: skip
_TREES = {
    "sklearn": {
        "GradientBoostingClassifier", "GradientBoostingRegressor",
        "HistGradientBoostingClassifier", "HistGradientBoostingRegressor",
        "RandomForestClassifier", "RandomForestRegressor",
        "ExtraTreesClassifier", "ExtraTreesRegressor",
        "DecisionTreeClassifier", "DecisionTreeRegressor",
        "ExtraTreeClassifier", "ExtraTreeRegressor",
    },
    "xgboost": {"XGBClassifier", "XGBRegressor"},
    "lightgbm": {"LGBMClassifier", "LGBMRegressor"},
}  # fmt: skip


class _Backend(Protocol):
    def __call__(self, x: Array) -> tuple[Array, Array, Array]:
        """Return (base values (K,), attributions (F, K), outputs (K,)) for one row."""


class Explainer:
    """Explain one model's decisions, one row at a time; build once, reuse.

    Args:
        model: a fitted model.
        feature_names: the model's features in its order; default: the model's
            ``feature_names_in_``, else the background's columns, else ``x0, x1, …``.
        background: rows the model was trained on (a sample of ~100 is plenty);
            required for linear models, the fallback and ``output="probability"`` on
            boosted trees; for other trees it switches Tree SHAP from the trees' own
            training cover to this background ("interventional").
        output: what to explain: ``"auto"`` (the model's additive output: a boosted
            or linear classifier's margin, a forest's probability, a regressor's
            prediction), ``"margin"``, ``"probability"`` or ``"prediction"``.
        key: the model's digest; recorded in each explanation.

    Raises:
        InvalidInput: an output the model does not have, a missing background, feature
            names that do not fit the model.

    Example:
        >>> from sklearn.linear_model import LinearRegression
        >>> model = LinearRegression().fit([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]], [1.0, 2.0, 5.0])
        >>> explainer = Explainer(model, feature_names=["a", "b"], background=[[1.0, 1.0]])
        >>> e = explainer.explain({"a": 3.0, "b": 1.0})
        >>> explainer.name, e.output, [a.feature for a in e.top]
        ('LinearExplainer', 'prediction', ['a', 'b'])
        >>> abs(e.base_value + sum(a.attribution for a in e.attributions) - e.output_value) < 1e-9
        True
    """

    def __init__(
        self,
        model: Any,
        *,
        feature_names: Sequence[str] | None = None,
        background: Any = None,
        output: Output = "auto",
        key: str = "",
    ) -> None:
        if output not in _OUTPUTS:
            raise InvalidInput(f"output {output!r} must be one of {', '.join(_OUTPUTS)}")
        self.model = model
        self.key = key
        self.classes: tuple[Any, ...] | None = _classes(model)
        self.feature_names = _feature_names(model, feature_names, background)
        self._index = {name: i for i, name in enumerate(self.feature_names)}
        matrix = None if background is None else _matrix(background, self.feature_names)
        self.output = _resolve(model, self.classes, output)
        self.name, self.library, used, self._backend = _build(
            model, self.classes, self.output, matrix
        )
        self.background = "" if used is None else _digest(used)

    def __repr__(self) -> str:
        model = type(self.model).__name__
        return f"<Explainer {self.name} of {model} ({self.output}, {len(self._index)} features)>"

    def explain(self, row: Any, *, top: int = 5, target: Any = None) -> Explanation:
        """Explain the model's output for ``row``.

        Args:
            row: a mapping of feature name to value (every feature, nothing else) or a
                1-D sequence in the model's feature order; numbers only.
            top: how many features the explanation ranks (and its sentence names).
            target: the class to explain (a classifier's label); default: the positive
                class of a binary classifier, the predicted class of a multi-class one.

        Raises:
            InvalidInput: an unknown or missing feature, a wrong length, a value that is
                not a finite number, an unknown class.
        """
        if type(top) is not int or top < 1:
            raise InvalidInput(f"top={top!r} must be a whole number of features, at least 1")
        x = self._row(row)
        base, phi, out = self._backend(x)
        j, label, flip = self._target(out, target)
        b, o, a = float(base[j]), float(out[j]), phi[:, j]
        if flip:  # the other class of a single-output binary model
            b, o, a = (1 - b, 1 - o, -a) if self.output == "probability" else (-b, -o, -a)
        if not (math.isfinite(b) and math.isfinite(o) and np.isfinite(a).all()):
            raise InvalidInput(f"the model's output for this row is not finite ({o}, base {b})")
        return Explanation.build(
            explainer=self.name, library=self.library, output=self.output, target=label,
            base_value=b, output_value=o, top=top, model=self.key, background=self.background,
            attributions=list(zip(self.feature_names, x.tolist(), a.tolist(), strict=True)),
        )  # fmt: skip

    # -- the row ------------------------------------------------------------------------

    def _row(self, row: Any) -> Array:
        names = self.feature_names
        if isinstance(row, Mapping) or (hasattr(row, "to_dict") and hasattr(row, "index")):
            items = row if isinstance(row, Mapping) else row.to_dict()
            if items.keys() != self._index.keys():
                raise InvalidInput(_key_problem(items, names))
            values: Sequence[Any] = [items[name] for name in names]
        elif isinstance(row, str | bytes) or not hasattr(row, "__len__"):
            raise InvalidInput(
                f"row {row!r} must be a mapping of feature to value or a 1-D sequence "
                f"of the model's {len(names)} values"
            )
        else:
            if isinstance(row, np.ndarray) and row.ndim != 1:
                raise InvalidInput(
                    f"row has shape {row.shape}; explain one row: a 1-D sequence of "
                    f"{len(names)} values (for a 2-D array of one row, pass row[0])"
                )
            values = row
            if len(values) != len(names):
                raise InvalidInput(
                    f"row has {len(values)} values; the model takes {len(names)} "
                    f"({', '.join(names)})"
                )
        if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
            x = values.astype(np.float64)
        else:
            x = np.empty(len(names))
            for i, v in enumerate(values):
                x[i] = v if type(v) is float or type(v) is int else _number(names[i], v)
        if not np.isfinite(x).all():
            i = int(np.flatnonzero(~np.isfinite(x))[0])
            raise InvalidInput(
                f"feature {names[i]!r} is {values[i]!r}; an explanation needs the finite "
                "values the model saw (impute a missing value as the model's pipeline does)"
            )
        return x

    def _target(self, out: Array, target: Any) -> tuple[int, str | None, bool]:
        """The output column to explain, the class label, and whether to negate it."""
        k = len(out)
        if self.classes is None:
            if target is not None:
                raise InvalidInput(
                    f"target={target!r}: a regressor has no classes; leave target out"
                )
            if k != 1:
                raise InvalidInput(f"the model has {k} outputs; explain a single-output model")
            return 0, None, False
        classes = self.classes
        if target is None:
            i = 1 if len(classes) == 2 else int(np.argmax(out))
        else:
            found = [i for i, c in enumerate(classes) if c == target or str(c) == str(target)]
            if not found:
                raise InvalidInput(
                    f"target {target!r} is not one of the model's classes "
                    f"({', '.join(map(str, classes))})"
                )
            i = found[0]
        if k == len(classes):
            return i, str(classes[i]), False
        if k == 1 and len(classes) == 2:
            return 0, str(classes[i]), i == 0
        raise InvalidInput(f"the explainer gave {k} outputs for {len(classes)} classes")


def _number(name: str, v: Any) -> float:
    if isinstance(v, str | bytes) or not isinstance(v, numbers.Real | np.bool_):
        raise InvalidInput(
            f"feature {name!r} has the non-numeric value {v!r}; explanations take the "
            "numbers the model was fitted on (encode a category as the model's pipeline does)"
        )
    return float(v)


def _key_problem(items: Mapping[Any, Any], names: tuple[str, ...]) -> str:
    unknown = [k for k in items if k not in names]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown feature {unknown[0]!r}{hint}; the model's features are {', '.join(names)}"
    missing = [n for n in names if n not in items]
    return f"the row lacks feature {missing[0]!r}; pass all {len(names)} of the model's features"


# -- what the model is ------------------------------------------------------------------


def _classes(model: Any) -> tuple[Any, ...] | None:
    classes = getattr(model, "classes_", None)
    return None if classes is None else tuple(np.asarray(classes).tolist())


def _tree_family(model: Any) -> bool:
    kind = type(model)
    return kind.__name__ in _TREES.get(kind.__module__.partition(".")[0], ())


def _feature_names(model: Any, given: Sequence[str] | None, background: Any) -> tuple[str, ...]:
    fitted = getattr(model, "feature_names_in_", None)
    width = getattr(model, "n_features_in_", None)
    if isinstance(given, str):
        raise InvalidInput(f"feature_names={given!r} must be a list of names, not one string")
    if given is not None:
        names = tuple(str(n) for n in given)
        if fitted is not None and names != tuple(map(str, fitted)):
            raise InvalidInput(
                f"feature_names {list(names)} differ from the features the model was fitted "
                f"on ({', '.join(map(str, fitted))}); pass those, in that order, or leave "
                "feature_names out"
            )
    elif fitted is not None:
        names = tuple(map(str, fitted))
    elif hasattr(background, "columns"):
        names = tuple(map(str, background.columns))
    elif width is not None:
        names = tuple(f"x{i}" for i in range(int(width)))
    elif background is not None and np.ndim(background) == 2:
        names = tuple(f"x{i}" for i in range(np.shape(background)[1]))
    else:
        raise InvalidInput(
            f"cannot tell the features of {type(model).__name__}: pass feature_names=[...] "
            "in the order the model takes them"
        )
    if width is not None and len(names) != int(width):
        raise InvalidInput(
            f"{len(names)} feature names for a model that takes {width} features; "
            "pass one name per feature, in the model's order"
        )
    if len(set(names)) != len(names):
        raise InvalidInput(f"feature names repeat: {list(names)}; each must be unique")
    return names


def _matrix(background: Any, names: tuple[str, ...]) -> Array:
    """The background as a float matrix in the model's feature order."""
    try:
        if hasattr(background, "columns"):
            by_name = {str(c): c for c in background.columns}
            missing = [n for n in names if n not in by_name]
            if missing:
                raise InvalidInput(
                    f"background lacks the model's feature {missing[0]!r}; give it every "
                    "feature the model takes"
                )
            background = background[[by_name[n] for n in names]]
        matrix = np.array(background, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidInput(f"background must hold numbers only ({exc})") from exc
    if matrix.ndim != 2 or matrix.shape[1] != len(names) or matrix.shape[0] == 0:
        raise InvalidInput(
            f"background has shape {matrix.shape}; give rows of the model's {len(names)} "
            "features (a sample of ~100 training rows)"
        )
    if not np.isfinite(matrix).all():
        raise InvalidInput("background holds missing or infinite values; drop or impute them")
    return matrix


def _digest(matrix: Array) -> str:
    data = np.ascontiguousarray(matrix, dtype="<f8")
    h = hashlib.sha256(f"{data.shape[0]}x{data.shape[1]}:".encode())
    h.update(data.tobytes())
    return "sha256:" + h.hexdigest()


def _resolve(model: Any, classes: tuple[Any, ...] | None, output: str) -> str:
    """What ``output`` means for this model: margin, probability or prediction."""
    name = type(model).__name__
    if classes is None:
        if output not in ("auto", "prediction"):
            raise InvalidInput(
                f"{name} is a regressor: its output is its prediction; use output='auto'"
            )
        return "prediction"
    if output == "prediction":
        raise InvalidInput(f"{name} is a classifier: explain its 'margin' or 'probability'")
    if output != "auto":
        if output == "margin" and _tree_family(model) and name not in _MARGIN_TREES:
            raise InvalidInput(
                f"{name} averages probabilities and has no margin; use output='probability'"
            )
        return output
    if _tree_family(model):
        return "margin" if name in _MARGIN_TREES else "probability"
    if hasattr(model, "coef_") and hasattr(model, "decision_function"):
        return "margin"
    return "probability" if hasattr(model, "predict_proba") else "margin"


# -- the three explainers -----------------------------------------------------------------


def _build(
    model: Any, classes: tuple[Any, ...] | None, output: str, background: Array | None
) -> tuple[str, str, Array | None, _Backend]:
    """(explainer name, library and version, background used, the backend)."""
    name = type(model).__name__
    multiclass = classes is not None and len(classes) > 2
    margin_trees = name in _MARGIN_TREES
    shap_cannot = (name == "GradientBoostingClassifier" and multiclass) or (
        multiclass and margin_trees and output == "probability"
    )
    if _tree_family(model) and not shap_cannot:
        import shap

        if background is None:
            if margin_trees and output == "probability":
                raise InvalidInput(
                    f"{name}: output='probability' needs background= (a sample of training "
                    "rows): shap explains a boosted model's probability against one"
                )
            return "TreeExplainer", f"shap {shap.__version__}", None, _Tree(model, None, output)
        used = thin(background, TREE_BACKGROUND)
        return "TreeExplainer", f"shap {shap.__version__}", used, _Tree(model, used, output)
    if background is None:
        raise InvalidInput(
            f"{name} is explained against a background: pass background= (a sample of "
            "~100 training rows in the model's feature order)"
        )
    if output != "probability" and _is_linear(model, background):
        import shap

        return "LinearExplainer", f"shap {shap.__version__}", background, _Linear(model, background)
    used = thin(background, MAX_BACKGROUND)
    method = {"probability": "predict_proba", "margin": "decision_function"}.get(output, "predict")
    if not hasattr(model, method):
        raise InvalidInput(f"{name} has no {method}(); choose another output")
    label = "ExactShapley" if used.shape[1] <= EXACT_MAX else "PermutationShapley"
    return label, f"tether {__version__}", used, Shapley(_predictor(model, method), used)


class _Tree:
    def __init__(self, model: Any, background: Array | None, output: str) -> None:
        import shap

        if background is None:
            self._shap = shap.TreeExplainer(model)
        else:
            # shap's own name for a probability explained through the logistic link
            mode = "probability" if type(model).__name__ in _MARGIN_TREES and (
                output == "probability") else "raw"  # fmt: skip
            self._shap = shap.TreeExplainer(
                model, data=background, feature_perturbation="interventional", model_output=mode
            )
        self._base = np.atleast_1d(np.asarray(self._shap.expected_value, dtype=np.float64))

    def __call__(self, x: Array) -> tuple[Array, Array, Array]:
        rows = x.reshape(1, -1)
        # shap's additivity check predicts again; we predict once, with the same trees.
        phi = np.asarray(self._shap.shap_values(rows, check_additivity=False), dtype=np.float64)
        out = np.asarray(self._shap.model.predict(rows), dtype=np.float64)
        return self._base, phi.reshape(len(x), -1), out.reshape(-1)


def _is_linear(model: Any, background: Array) -> bool:
    """Whether the model's output is exactly ``x @ coef_.T + intercept_`` (not a GLM)."""
    if not (hasattr(model, "coef_") and hasattr(model, "intercept_")):
        return False
    method = "decision_function" if hasattr(model, "decision_function") else "predict"
    sample = background[:5]
    try:
        coef = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))
        expect = sample @ coef.T + np.asarray(model.intercept_, dtype=np.float64)
        got = _predictor(model, method)(sample)
    except (TypeError, ValueError):
        return False
    scale = max(1.0, float(np.abs(expect).max()))
    return got.shape == expect.shape and bool(np.allclose(got, expect, rtol=0, atol=1e-9 * scale))


class _Linear:
    def __init__(self, model: Any, background: Array) -> None:
        import shap

        self._coef = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))
        self._intercept = np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64))
        self._shap = shap.LinearExplainer(model, background)
        self._base = np.atleast_1d(np.asarray(self._shap.expected_value, dtype=np.float64))

    def __call__(self, x: Array) -> tuple[Array, Array, Array]:
        phi = np.asarray(self._shap.shap_values(x.reshape(1, -1)), dtype=np.float64)
        return self._base, phi.reshape(len(x), -1), self._coef @ x + self._intercept


def _predictor(model: Any, method: str) -> Callable[[Array], Array]:
    """``model.method`` as rows -> (n, K) floats, given a DataFrame if it was fitted on one."""
    fn = getattr(model, method)
    columns = getattr(model, "feature_names_in_", None)
    if columns is None:
        return lambda rows: np.asarray(fn(rows), dtype=np.float64).reshape(len(rows), -1)
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]  # shap needs it

    names = list(columns)

    def call(rows: Array) -> Array:
        frame = pd.DataFrame(rows, columns=names)
        return np.asarray(fn(frame), dtype=np.float64).reshape(len(rows), -1)

    return call


# -- entry points ---------------------------------------------------------------------------

_cache: OrderedDict[tuple[Any, ...], Explainer] = OrderedDict()
_lock = threading.Lock()


def explainer_for(
    model: Any,
    *,
    key: str,
    feature_names: Sequence[str] | None = None,
    background: Any = None,
    output: Output = "auto",
) -> Explainer:
    """The :class:`Explainer` of ``model``, built once per ``key`` and settings.

    ``key`` must identify the model (its artifact digest): a different model under the
    same key gets the first one's explainer. The last :data:`CACHE_SIZE` are kept.

    Raises:
        InvalidInput: an empty key, or anything :class:`Explainer` refuses.
    """
    if not isinstance(key, str) or not key:
        raise InvalidInput("key must be the model's digest (a non-empty string)")
    names = None if feature_names is None else tuple(map(str, feature_names))
    ident = (key, output, names, None if background is None else _fingerprint(background))
    with _lock:
        hit = _cache.get(ident)
        if hit is not None:
            _cache.move_to_end(ident)
            return hit
    made = Explainer(
        model, feature_names=feature_names, background=background, output=output, key=key
    )
    with _lock:
        made = _cache.setdefault(ident, made)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return made


def _fingerprint(background: Any) -> str:
    columns = tuple(map(str, background.columns)) if hasattr(background, "columns") else ()
    try:
        data = np.ascontiguousarray(np.asarray(background, dtype=np.float64))
    except (TypeError, ValueError):
        return f"id:{id(background)}"  # Explainer will refuse it with a proper message
    return f"{columns}:{data.shape}:" + hashlib.sha256(data.tobytes()).hexdigest()


def explain(
    model: Any,
    row: Any,
    *,
    feature_names: Sequence[str] | None = None,
    background: Any = None,
    output: Output = "auto",
    top: int = 5,
    target: Any = None,
    key: str | None = None,
) -> Explanation:
    """Explain ``model``'s output for one ``row`` (see :class:`Explainer`).

    With ``key`` (the model's digest) the explainer is cached and reused; without, it
    is built for this call.

    Raises:
        InvalidInput: a bad row, output, background or feature names.

    Example:
        >>> from sklearn.tree import DecisionTreeRegressor
        >>> model = DecisionTreeRegressor(max_depth=1).fit([[0.0], [1.0]], [0.0, 2.0])
        >>> e = explain(model, {"x0": 1.0})
        >>> e.explainer, e.base_value, e.output_value, e.attributions[0].attribution
        ('TreeExplainer', 1.0, 2.0, 1.0)
    """
    if key is not None:
        explainer = explainer_for(
            model, key=key, feature_names=feature_names, background=background, output=output
        )
    else:
        explainer = Explainer(
            model, feature_names=feature_names, background=background, output=output
        )
    return explainer.explain(row, top=top, target=target)
