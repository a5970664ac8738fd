"""Dataset-level drift: the share of drifted features.

Example:
    >>> dataset_drift({"age": True, "income": False, "region": True})
    DatasetDrift(share_drifted=0.6666666666666666, drifted=('age', 'region'), is_drift=True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from tether.errors import InvalidInput

__all__ = ["DatasetDrift", "dataset_drift"]


@dataclass(frozen=True)
class DatasetDrift:
    """Whether a dataset drifted, judged by the share of its drifted features.

    Attributes:
        share_drifted: Drifted features / all features, in ``[0, 1]``.
        drifted: The drifted features' names, in the order they were given.
        is_drift: ``share_drifted >= share`` (the rule's share).

    Example:
        >>> DatasetDrift(0.0, (), False).is_drift
        False
    """

    share_drifted: float
    drifted: tuple[str, ...]
    is_drift: bool


def dataset_drift(flags: Mapping[str, bool], share: float = 0.5) -> DatasetDrift:
    """Judge dataset drift from per-feature drift flags.

    Args:
        flags: Feature name to whether that feature drifted.
        share: The dataset drifted when at least this share of features did
            (``0 < share <= 1``; default one half).

    Returns:
        The share, the drifted features and the verdict.

    Raises:
        InvalidInput: If there are no features or ``share`` is outside ``(0, 1]``.

    Example:
        >>> dataset_drift({"a": True, "b": False}, share=0.5).is_drift
        True
    """
    if not isinstance(share, int | float) or not (0 < share <= 1) or math.isnan(share):
        raise InvalidInput(f"share must be in (0, 1], got {share!r}")
    if not flags:
        raise InvalidInput("dataset_drift needs at least one feature's flag; got none")
    drifted = tuple(name for name, flag in flags.items() if flag)
    fraction = len(drifted) / len(flags)
    return DatasetDrift(fraction, drifted, fraction >= share)
