"""Model-agnostic Shapley values against a background sample, with no randomness.

The value of a coalition S of features is the model's mean output over the background
rows with the features in S set to the explained row's values ("interventional" or
baseline Shapley values, what shap's KernelExplainer estimates). Then

* up to :data:`EXACT_MAX` features: every one of the 2**F coalitions is evaluated and
  the Shapley values are exact (``ExactShapley``);
* beyond: :data:`PERMUTATIONS` feature orderings (half of them the reverse of the
  other half, which halves the variance) are walked and each feature gets the mean
  of its marginal contributions (``PermutationShapley``). The orderings come from
  SHA-256, not from a random generator, so they are the same on every machine and
  every numpy version.

Both are additive by construction: the attributions sum to ``f(x) - mean f(background)``.
The background is thinned to at most :data:`MAX_BACKGROUND` evenly spaced rows.
Cost, in rows the model predicts: ``2**F * B`` exact, ``PERMUTATIONS * (F - 1) * B``
by permutations (B the background rows), in chunks of at most :data:`CHUNK` rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from math import factorial

import numpy as np
import numpy.typing as npt

__all__ = ["CHUNK", "EXACT_MAX", "MAX_BACKGROUND", "PERMUTATIONS", "Shapley", "thin"]

EXACT_MAX = 10
PERMUTATIONS = 16
MAX_BACKGROUND = 50
CHUNK = 65_536

Array = npt.NDArray[np.float64]
Model = Callable[[Array], Array]  # (n, F) rows -> (n, K) outputs


def thin(background: Array, limit: int) -> Array:
    """At most ``limit`` evenly spaced rows of ``background`` (first and spread out).

    Example:
        >>> thin(np.arange(10.0).reshape(10, 1), 4).ravel().tolist()
        [0.0, 2.0, 5.0, 7.0]
    """
    n = len(background)
    if n <= limit:
        return background
    return background[(np.arange(limit) * n) // limit]


def orderings(features: int, count: int) -> list[list[int]]:
    """``count`` orderings of ``range(features)``; odd ones reverse the one before.

    Example:
        >>> orderings(4, 2)
        [[1, 2, 0, 3], [3, 0, 2, 1]]
    """
    out: list[list[int]] = []
    for k in range(count):
        if k % 2:
            out.append(out[-1][::-1])
            continue

        def key(j: int, k: int = k) -> bytes:
            return hashlib.sha256(f"tether-shapley:{k}:{j}".encode()).digest()

        out.append(sorted(range(features), key=key))
    return out


class Shapley:
    """Shapley values of ``model`` against ``background`` (see the module docstring).

    Example:
        >>> bg = np.zeros((1, 2))
        >>> s = Shapley(lambda x: (x[:, :1] * x[:, 1:] + x[:, :1]), bg)
        >>> base, phi, out = s(np.array([2.0, 3.0]))
        >>> base.tolist(), phi.ravel().tolist(), out.tolist()
        ([0.0], [5.0, 3.0], [8.0])
    """

    def __init__(self, model: Model, background: Array) -> None:
        self.model = model
        self.background = background
        self.features = background.shape[1]
        self.exact = self.features <= EXACT_MAX
        self.base = model(background).mean(axis=0)

    def __call__(self, x: Array) -> tuple[Array, Array, Array]:
        """Return (base values (K,), attributions (F, K), outputs (K,)) for row ``x``."""
        out = self.model(x.reshape(1, -1))[0]
        if self.features == 0:
            return self.base, np.zeros((0, out.shape[0])), out
        if self.exact:
            return self.base, self._exact(x, out), out
        return self.base, self._permutations(x, out), out

    def _exact(self, x: Array, out: Array) -> Array:
        f = self.features
        full = (1 << f) - 1
        masks = (np.arange(full + 1)[:, None] >> np.arange(f)) & 1 == 1
        v = np.empty((full + 1, out.shape[0]))
        v[0], v[full] = self.base, out
        v[1:full] = self._values(masks[1:full], x)
        sizes = masks.sum(axis=1)
        weights = np.array([factorial(s) * factorial(f - s - 1) / factorial(f) for s in range(f)])
        phi = np.empty((f, out.shape[0]))
        for i in range(f):
            without = np.flatnonzero(~masks[:, i])
            phi[i] = weights[sizes[without]] @ (v[without | (1 << i)] - v[without])
        return phi

    def _permutations(self, x: Array, out: Array) -> Array:
        f = self.features
        walks = orderings(f, PERMUTATIONS)
        # Row j of a walk holds its first j + 1 features; the empty and the full
        # coalitions (base and output) are shared by all walks.
        masks = np.zeros((len(walks), f - 1, f), dtype=bool)
        for w, order in enumerate(walks):
            for j in range(f - 1):
                masks[w, j:, order[j]] = True
        inner = self._values(masks.reshape(-1, f), x).reshape(len(walks), f - 1, -1)
        phi = np.zeros((f, out.shape[0]))
        for w, order in enumerate(walks):
            steps = np.concatenate([self.base[None], inner[w], out[None]])
            phi[order] += np.diff(steps, axis=0)
        return phi / len(walks)

    def _values(self, masks: npt.NDArray[np.bool_], x: Array) -> Array:
        """Mean model output over the background for each coalition (row of ``masks``)."""
        b = len(self.background)
        per = max(1, CHUNK // b)
        parts = []
        for start in range(0, len(masks), per):
            m = masks[start : start + per]
            rows = np.where(m[:, None, :], x[None, None, :], self.background[None, :, :])
            parts.append(self.model(rows.reshape(-1, self.features)).reshape(len(m), b, -1))
        means: Array = np.concatenate(parts).mean(axis=1)
        return means
