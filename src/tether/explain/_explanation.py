"""The explanation of one decision: attributions, top features, a sentence, canonical JSON.

An :class:`Explanation` is a plain record; ``_attributions.py`` computes it. Everything
here is pure Python (no numpy), so reading a stored explanation back is cheap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
import rfc8785

from tether.errors import InvalidInput

__all__ = ["SCHEMA", "Attribution", "Explanation", "rank", "sentence"]

SCHEMA = "tether.explanation/1"


class Attribution(NamedTuple):
    """One feature's part in a decision: its value and how far it moved the output."""

    feature: str
    value: float
    attribution: float


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a model gave one row the output it gave.

    ``base_value + sum(a.attribution for a in attributions) == output_value`` (up to
    floating-point rounding). ``output`` says what the output is: ``"margin"`` (the
    model's decision function: log-odds for a binary classifier), ``"probability"``
    (of class ``target``) or ``"prediction"`` (a regressor's value). ``attributions``
    are in the model's feature order; ``top`` are the largest by absolute value (ties
    by feature order). ``to_json`` is canonical: the same explanation, the same bytes.

    Example:
        >>> e = Explanation.build(
        ...     explainer="LinearExplainer", library="shap 0.51.0", output="prediction",
        ...     target=None, base_value=10.0, output_value=7.5,
        ...     attributions=[("debt", 42000, -3.0), ("income", 18000, 0.5)], top=1)
        >>> e.sentence
        'The prediction was 7.5, below the average of 10, mostly because of debt = 42,000 (-3.00).'
        >>> Explanation.from_json(e.to_json()) == e
        True
    """

    explainer: str
    library: str
    output: str
    target: str | None
    base_value: float
    output_value: float
    attributions: tuple[Attribution, ...]
    top: tuple[Attribution, ...]
    sentence: str
    model: str = ""
    background: str = ""

    @classmethod
    def build(
        cls,
        *,
        explainer: str,
        library: str,
        output: str,
        target: str | None,
        base_value: float,
        output_value: float,
        attributions: Sequence[tuple[str, float, float]],
        top: int = 5,
        model: str = "",
        background: str = "",
    ) -> Explanation:
        """Assemble an explanation, ranking the top features and writing the sentence."""
        rows = tuple(Attribution(str(f), float(v), float(a)) for f, v, a in attributions)
        best = rank(rows, top)
        text = sentence(output, target, float(base_value), float(output_value), best)
        return cls(
            explainer, library, output, target, float(base_value), float(output_value),
            rows, best, text, model, background,
        )  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the content of :meth:`to_json`)."""
        return self._doc(float)

    def _doc(self, number: Callable[[float], Any]) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "explainer": self.explainer,
            "library": self.library,
            "output": self.output,
            "target": self.target,
            "base_value": number(self.base_value),
            "output_value": number(self.output_value),
            "attributions": [
                {
                    "feature": a.feature,
                    "value": number(a.value),
                    "attribution": number(a.attribution),
                }
                for a in self.attributions
            ],
            "top": [a.feature for a in self.top],
            "sentence": self.sentence,
            "model": self.model,
            "background": self.background,
        }

    def to_json(self) -> bytes:
        """Canonical JSON (RFC 8785): byte-identical for equal explanations.

        Raises:
            InvalidInput: a number is NaN or infinite.
        """
        # The keys are fixed ASCII (orjson's key order is then JCS's) and orjson writes
        # most floats as JCS does; _jcs rewrites the others. ~15 us for 20 features,
        # where the general canonical_json spends ~50 us scanning its output.
        return orjson.dumps(self._doc(_jcs), option=orjson.OPT_SORT_KEYS)

    @classmethod
    def from_json(cls, data: bytes | str) -> Explanation:
        """Read an explanation written by :meth:`to_json`.

        Raises:
            InvalidInput: the text is not an explanation of this schema.
        """
        try:
            doc = orjson.loads(data)
            if doc.get("schema") != SCHEMA:
                raise InvalidInput(
                    f"explanation schema {doc.get('schema')!r} is not {SCHEMA!r}; "
                    "read it with the tether version that wrote it"
                )
            rows = tuple(
                Attribution(str(a["feature"]), float(a["value"]), float(a["attribution"]))
                for a in doc["attributions"]
            )
            by_name = {a.feature: a for a in rows}
            return cls(
                str(doc["explainer"]), str(doc["library"]), str(doc["output"]),
                None if doc["target"] is None else str(doc["target"]),
                float(doc["base_value"]), float(doc["output_value"]), rows,
                tuple(by_name[name] for name in doc["top"]), str(doc["sentence"]),
                str(doc.get("model", "")), str(doc.get("background", "")),
            )  # fmt: skip
        except InvalidInput:
            raise
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(
                f"not a stored explanation ({type(exc).__name__}: {exc}); "
                "pass the bytes Explanation.to_json wrote"
            ) from exc


def _jcs(x: float) -> float | orjson.Fragment:
    """``x`` as orjson should write it for RFC 8785 (tested against ``rfc8785``).

    orjson and JCS differ on integral floats (``1.0`` / ``1``) and where orjson uses an
    exponent (below 1e-5 and from 1e16); orjson writes NaN as null, JCS refuses it.
    """
    if 1e-5 <= abs(x) < 1e15 and not x.is_integer():
        return x  # the common case, first
    if not math.isfinite(x):
        raise InvalidInput(f"an explanation holds finite numbers only, not {x}")
    if x.is_integer() and abs(x) < 1e15:
        return orjson.Fragment(str(int(x)))  # exact: shortest digits of a small integer
    return orjson.Fragment(rfc8785.dumps(x))


def rank(attributions: Sequence[Attribution], top: int) -> tuple[Attribution, ...]:
    """The ``top`` attributions by absolute value, ties broken by feature order.

    Example:
        >>> rows = [Attribution("a", 1.0, 0.2), Attribution("b", 2.0, -0.5),
        ...         Attribution("c", 3.0, 0.5)]
        >>> [a.feature for a in rank(rows, 2)]
        ['b', 'c']
    """
    order = sorted(range(len(attributions)), key=lambda i: (-abs(attributions[i][2]), i))
    return tuple(attributions[i] for i in order[:top])


def sentence(
    output: str, target: str | None, base: float, value: float, top: Sequence[Attribution]
) -> str:
    """One plain sentence for the person affected: the output against the average, then
    the features that moved it.

    The features named first are those of ``top`` that moved the output the way it went
    (above or below the average, the base value), largest first; those that pushed the
    other way follow. Features with a zero attribution are not named.

    Example:
        >>> sentence("margin", "1", 0.41, -1.2, [Attribution("debt_ratio", 0.62, -1.1),
        ...          Attribution("income", 18000.0, -0.4), Attribution("age", 51.0, 0.2)])
        'The score of class 1 was -1.2, below the average of 0.41, mostly because of debt_ratio = 0.62 (-1.10) and income = 18,000 (-0.40); age = 51 (+0.20) pushed the other way.'
    """  # noqa: E501
    shown, average = number(value), number(base)
    head = f"The {_subject(output, target)} was {shown}"
    # Compared as printed: "0.41, above the average of 0.41" would read as a mistake.
    way = 0 if shown == average else (1 if value > base else -1)
    head += (", the same as the average", f", above the average of {average}",
             f", below the average of {average}")[way]  # fmt: skip
    moving = [a for a in top if a.attribution != 0]
    if not moving:
        return head + ": no feature moved it."
    if way == 0:
        up = [a for a in moving if a.attribution > 0]
        down = [a for a in moving if a.attribution < 0]
        clauses = [f"{verb} by {_listed(side)}" for verb, side in
                   (("raised", up), ("lowered", down)) if side]  # fmt: skip
        if down and (not up or abs(down[0].attribution) > abs(up[0].attribution)):
            clauses.reverse()
        return head + ": " + " and ".join(clauses) + "."
    same = [a for a in moving if (a.attribution > 0) == (way > 0)]
    other = [a for a in moving if (a.attribution > 0) != (way > 0)]
    text = f"{head}, mostly because of {_listed(same) if same else 'other features'}"
    if other:
        text += f"; {_listed(other)} pushed the other way"
    return text + "."


def _listed(side: Sequence[Attribution]) -> str:
    named = [f"{a.feature} = {number(a.value)} ({signed(a.attribution)})" for a in side]
    return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]


def _subject(output: str, target: str | None) -> str:
    # A margin is log-odds only for a binary classifier; "score" is right for all.
    if output == "margin":
        return "score" if target is None else f"score of class {target}"
    if output == "probability":
        return "probability" if target is None else f"probability of class {target}"
    return "prediction"


def number(v: float) -> str:
    """A value for people: thousands separators, four significant digits.

    Example:
        >>> [number(v) for v in (42000.0, -1234.5, 0.123456, 3.0, 1e20)]
        ['42,000', '-1,234', '0.1235', '3', '100,000,000,000,000,000,000']
    """
    if not math.isfinite(v):
        text = str(v)
    elif v == int(v):
        text = f"{int(v):,}"
    elif abs(v) >= 1000:
        text = f"{v:,.0f}"
    else:
        text = f"{v:.4g}"
    return text


def signed(a: float) -> str:
    """An attribution with its sign: two decimals, or two significant digits when small.

    Example:
        >>> [signed(a) for a in (0.8123, -0.4, -0.0031, 0.0)]
        ['+0.81', '-0.40', '-0.0031', '+0']
    """
    size = abs(a)
    text = "0" if size == 0 else f"{size:,.2f}" if size >= 0.01 else f"{size:.2g}"
    return ("+" if a >= 0 else "-") + text
