"""Exact quantiles of data held in pieces, without bringing the pieces together.

``np.quantile(values, qs)`` (method ``linear``) interpolates between two order statistics
per quantile. :class:`QuantileSearch` finds those order statistics by radix selection over
order-preserving 64-bit keys of the values: each round every piece answers, for each
bucket still in question, a histogram of the next 12 bits of the keys in that bucket
(sparse, at most 4,096 counts, with the bucket's smallest and largest key) or, once a
bucket holds at most 4,096 values, the keys themselves. The driver sums the answers and
narrows each order statistic to one bucket. The first round splits on sign and exponent,
the second on the top 12 mantissa bits, so a bucket is usually small enough to fetch in
the third; a bucket holding one repeated value is settled as soon as it is asked about;
six rounds at most. The interpolation then repeats numpy's arithmetic operation for
operation, so the result equals ``np.quantile`` bit for bit, except that a zero is always
``+0.0`` (numpy may return ``-0.0`` when the data holds both zeros; the two compare equal,
so bins built on either are the same).

Why 12 bits and not 16 (four rounds at most): an answer is at most 4,096 counts (64 KB)
per bucket instead of 65,536 (1 MB), and a reference of 100 numeric columns with 10 bins
asks about ~900 buckets at once.

The functions here are pure numpy; the Dask adapter only ships them to the partitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

__all__ = [
    "Answer",
    "Histogram",
    "QuantileSearch",
    "Request",
    "answer",
    "float_keys",
    "key_floats",
    "merge",
]

DIGIT_BITS = 12
COLLECT_LIMIT = 1 << 12  # a bucket this small is fetched whole instead of refined
_SIGN = np.uint64(1 << 63)


class Request(NamedTuple):
    """One question to every piece about the keys whose top ``64 - shift`` bits are
    ``prefix``: a histogram of their next ``bits`` bits or, when ``bits`` is 0, the keys
    themselves."""

    shift: int
    prefix: int
    bits: int


class Histogram(NamedTuple):
    """The answer to a histogram request: counts of the next digit (sorted by digit,
    without zeros), and the smallest and largest key in the bucket, so that a bucket of
    one repeated value (a constant column, a spike of zeros) is settled at once."""

    digits: np.ndarray
    counts: np.ndarray
    lo: int
    hi: int


# The answer to a collect request is the matching keys (unsorted once merged).
Answer = Histogram | np.ndarray
_EMPTY_LO = (1 << 64) - 1


def float_keys(values: np.ndarray) -> np.ndarray:
    """Map finite float64 values to uint64 keys in the same order (``-0.0`` as ``0.0``)."""
    bits = (np.asarray(values, dtype=np.float64) + 0.0).view(np.uint64)  # -0.0 + 0.0 == +0.0
    negative = (bits & _SIGN) != 0
    return np.where(negative, ~bits, bits | _SIGN)


def key_floats(keys: np.ndarray) -> np.ndarray:
    """Invert :func:`float_keys`."""
    keys = np.asarray(keys, dtype=np.uint64)
    positive = (keys & _SIGN) != 0
    return np.where(positive, keys ^ _SIGN, ~keys).view(np.float64)


def answer(keys: np.ndarray, request: Request) -> Answer:
    """One piece's answer to ``request`` (``keys`` from :func:`float_keys`)."""
    if request.shift < 64:
        keys = keys[(keys >> np.uint64(request.shift)) == np.uint64(request.prefix)]
    if request.bits == 0:
        return keys
    shift = np.uint64(request.shift - request.bits)
    digits = (keys >> shift) & np.uint64((1 << request.bits) - 1)
    counts = np.bincount(digits.astype(np.intp), minlength=1 << request.bits)
    nonzero = np.flatnonzero(counts)
    if not keys.size:
        return Histogram(nonzero, counts[nonzero], _EMPTY_LO, 0)
    return Histogram(nonzero, counts[nonzero], int(keys.min()), int(keys.max()))


def merge(a: Answer, b: Answer) -> Answer:
    """Sum two pieces' answers to the same request."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return np.concatenate([a, b])
    if isinstance(a, Histogram) and isinstance(b, Histogram):
        size = max(a.digits[-1] if a.digits.size else 0, b.digits[-1] if b.digits.size else 0)
        dense = np.zeros(int(size) + 1, dtype=np.int64)
        dense[a.digits] += a.counts
        dense[b.digits] += b.counts
        nonzero = np.flatnonzero(dense)
        return Histogram(nonzero, dense[nonzero], min(a.lo, b.lo), max(a.hi, b.hi))
    raise TypeError("cannot merge a histogram with collected keys")


@dataclass
class _Target:
    rank: int  # rank of the order statistic among the keys in its bucket
    request: Request  # the bucket it is in, and how to ask about it next


@dataclass
class QuantileSearch:
    """Find ``np.quantile(values, qs)`` exactly while the values stay in pieces.

    Ask every piece :meth:`requests` (with :func:`answer`), :func:`merge` the answers per
    request, :meth:`feed` them back; repeat until :attr:`done` (at most ``ceil(64 / bits)``
    rounds), then read :meth:`result`.

    Example:
        >>> values = np.array([3.0, -1.0, 2.5, 2.5, 1e300, -0.0])
        >>> pieces = [float_keys(values[:2]), float_keys(values[2:])]
        >>> search = QuantileSearch(np.array([0.1, 0.5, 0.9]))
        >>> while not search.done:
        ...     asked = search.requests()
        ...     answers = [{r: answer(keys, r) for r in asked} for keys in pieces]
        ...     search.feed({r: merge(answers[0][r], answers[1][r]) for r in asked})
        >>> bool(np.array_equal(search.result(), np.quantile(values, [0.1, 0.5, 0.9])))
        True
    """

    qs: np.ndarray
    bits: int = DIGIT_BITS  # digit width of a histogram
    collect_limit: int = COLLECT_LIMIT
    n: int | None = None  # number of values, known after the first round
    _targets: dict[int, _Target] = field(default_factory=dict, repr=False)
    _found: dict[int, int] = field(default_factory=dict, repr=False)  # rank -> key

    def __post_init__(self) -> None:
        self.qs = np.asarray(self.qs, dtype=np.float64)
        if not 1 <= self.bits <= 20:
            raise ValueError(f"bits must be between 1 and 20, not {self.bits}")

    @property
    def done(self) -> bool:
        """Whether every order statistic is known."""
        return self.n is not None and not self._targets

    def requests(self) -> set[Request]:
        """The questions for every piece this round."""
        if self.n is None:
            return {self._root}
        return {t.request for t in self._targets.values()}

    def feed(self, answers: Mapping[Request, Answer]) -> None:
        """Take this round's merged answers (one per request)."""
        if self.n is None:
            first = answers[self._root]
            assert isinstance(first, Histogram)
            self.n = int(first.counts.sum())
            if self.n == 0:
                return
            lo, hi, _ = _neighbours(self.n, self.qs)
            self._targets = {r: _Target(r, self._root) for r in {*lo.tolist(), *hi.tolist()}}
        collected = {
            r: np.sort(a) for r, a in answers.items() if not r.bits and isinstance(a, np.ndarray)
        }
        for rank, target in list(self._targets.items()):
            req = target.request
            if not req.bits:
                self._found[rank] = int(collected[req][target.rank])
                del self._targets[rank]
                continue
            reply = answers[req]
            assert isinstance(reply, Histogram)
            if reply.lo == reply.hi:  # one value fills the bucket
                self._found[rank] = reply.lo
                del self._targets[rank]
                continue
            cum = np.cumsum(reply.counts)
            j = int(np.searchsorted(cum, target.rank, side="right"))
            below = int(cum[j - 1]) if j else 0
            prefix = (req.prefix << req.bits) | int(reply.digits[j])
            shift = req.shift - req.bits
            if shift == 0:
                self._found[rank] = prefix
                del self._targets[rank]
            else:
                small = int(reply.counts[j]) <= self.collect_limit
                target.rank -= below
                target.request = Request(shift, prefix, 0 if small else min(self.bits, shift))

    @property
    def _root(self) -> Request:
        return Request(64, 0, self.bits)

    def result(self) -> np.ndarray:
        """``np.quantile(values, qs)``, float64 (empty when there are no values)."""
        if not self.done:
            raise RuntimeError("the search is not finished")
        assert self.n is not None
        if self.n == 0:
            return np.zeros(0, dtype=np.float64)
        lo, hi, gamma = _neighbours(self.n, self.qs)
        a = key_floats(np.asarray([self._found[r] for r in lo.tolist()], dtype=np.uint64))
        b = key_floats(np.asarray([self._found[r] for r in hi.tolist()], dtype=np.uint64))
        return _lerp(a, b, gamma)


def _neighbours(n: int, qs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ranks numpy's ``linear`` quantile interpolates between, and the weight,
    computed as ``numpy.lib._function_base_impl._get_indexes`` and ``_get_gamma`` do
    (numpy 1.26 to 2.x): the weight uses the clamped lower index on purpose."""
    virtual = (n - 1) * qs
    previous = np.floor(virtual)
    following = previous + 1
    above = virtual >= n - 1
    previous[above] = -1
    following[above] = -1
    below = virtual < 0
    previous[below] = 0
    following[below] = 0
    gamma = np.asarray(virtual - previous, dtype=np.float64)
    lo = previous.astype(np.int64)
    hi = following.astype(np.int64)
    lo[lo < 0] += n
    hi[hi < 0] += n
    return lo, hi, gamma


def _lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """numpy's ``_lerp``, operation for operation, so the rounding is the same."""
    diff = b - a
    out: np.ndarray = np.add(a, diff * t)
    np.subtract(b, diff * (1 - t), out=out, where=t >= 0.5)
    return out
