"""Explanations and fairness: why a model decided as it did, and for whom it errs.

* :func:`explain` / :class:`Explainer`: per-decision feature attributions (shap's
  ``TreeExplainer`` for tree ensembles, ``LinearExplainer`` for linear models, exact
  Shapley values over a background for anything else) as an :class:`Explanation` with
  canonical JSON; :func:`explainer_for` caches explainers by model digest.
* :class:`Explanations` (``tether.explanations``): recorded model decisions explained
  from the ledger (the version and digest they name) and stored with them as
  ``decision.explained`` entries, on request or eagerly off the decision path.
* :mod:`tether.explain.fairness`: selection rates, impact ratios (the four-fifths rule)
  and equalized-odds differences per group and per intersection, on fairlearn.

See ``docs/explain.md``. Names are imported on first use: ``import tether.explain``
imports neither numpy nor shap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether._lazy import lazy_exports

if TYPE_CHECKING:
    from tether.explain._attributions import Explainer, Output, explain, explainer_for
    from tether.explain._decisions import Explanations, StoredExplanation
    from tether.explain._explanation import Attribution, Explanation

_EXPORTS = {
    "Attribution": "tether.explain._explanation",
    "Explanation": "tether.explain._explanation",
    "Explanations": "tether.explain._decisions",
    "Explainer": "tether.explain._attributions",
    "Output": "tether.explain._attributions",
    "StoredExplanation": "tether.explain._decisions",
    "explain": "tether.explain._attributions",
    "explainer_for": "tether.explain._attributions",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "Attribution",
    "Explainer",
    "Explanation",
    "Explanations",
    "Output",
    "StoredExplanation",
    "explain",
    "explainer_for",
]
