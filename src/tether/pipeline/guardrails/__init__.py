"""Guardrails: validators run on an action's inputs and outputs.

Each returns pass, redact or block with a reason and findings located by path. Field
guardrails (:class:`Range`, :class:`AllowedValues`, :class:`Regex`) and
:class:`JsonSchema` check structure; the PII detectors (:class:`Email`, :class:`Phone`,
:class:`PaymentCard`, :class:`Iban`, :class:`UsSsn`, together :class:`Pii`) scan every
string; :class:`PythonValidator` wraps a function. :func:`run_guardrails` runs a list
and fails closed; :func:`guardrail_from_spec` reads a policy file's mapping.

See ``docs/guardrails.md``.
"""

from __future__ import annotations

from tether.pipeline.guardrails._core import (
    Finding,
    GuardOutcome,
    Guardrail,
    GuardResult,
    Outcome,
    run_guardrails,
)
from tether.pipeline.guardrails._detectors import (
    IBAN_LENGTHS,
    Email,
    Iban,
    PaymentCard,
    Phone,
    UsSsn,
    luhn_valid,
)
from tether.pipeline.guardrails._fields import AllowedValues, Range, Regex
from tether.pipeline.guardrails._pii import Action, Pii, PiiDetector, Span
from tether.pipeline.guardrails._python import PythonValidator
from tether.pipeline.guardrails._schema import JsonSchema
from tether.pipeline.guardrails._spec import DETECTORS, guardrail_from_spec

__all__ = [
    "DETECTORS",
    "IBAN_LENGTHS",
    "Action",
    "AllowedValues",
    "Email",
    "Finding",
    "GuardOutcome",
    "GuardResult",
    "Guardrail",
    "Iban",
    "JsonSchema",
    "Outcome",
    "PaymentCard",
    "Phone",
    "Pii",
    "PiiDetector",
    "PythonValidator",
    "Range",
    "Regex",
    "Span",
    "UsSsn",
    "guardrail_from_spec",
    "luhn_valid",
    "run_guardrails",
]
