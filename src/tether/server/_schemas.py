"""Request bodies of the HTTP API: strict pydantic models (unknown fields are refused).

Names follow the inventory's rule (letters, digits and ``_ . : / @ -``, not starting
with punctuation, at most 200 characters), so SQL or path-traversal strings are
refused with 422 before anything reaches the pipeline or the ledger.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ApprovalVote",
    "BreakerChange",
    "DecisionRequest",
    "ExpectedVerdict",
    "FeedbackBatch",
    "FeedbackLabel",
    "Name",
    "OutcomeReport",
    "PolicyCase",
    "PolicyPublication",
    "PolicyTest",
    "Promotion",
    "Rollback",
]

NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:/@-]{0,199}$"
ID_PATTERN = r"^[A-Za-z0-9_]{1,64}$"

Name = Annotated[str, Field(pattern=NAME_PATTERN, description="a system or action name")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class DecisionRequest(_Strict):
    """Ask the pipeline whether the token's actor may do ``action`` on ``system``.

    Example:
        >>> DecisionRequest(system="loan-model", action="predict", inputs={"income": 1}).system
        'loan-model'
    """

    system: Name
    action: Name
    inputs: Any = None
    context: dict[str, Any] = Field(default_factory=dict)
    approval_id: Annotated[str, Field(pattern=ID_PATTERN)] | None = Field(
        default=None, description="an approved request, to run the action it was for"
    )


class ApprovalVote(_Strict):
    """A vote on an approval; a rejection needs a comment saying why.

    Example:
        >>> ApprovalVote(comment="checked the invoice").comment
        'checked the invoice'
    """

    comment: str = Field(default="", max_length=4000)


class BreakerChange(_Strict):
    """Trip or reset a breaker, saying why (the reason goes in the ledger).

    Example:
        >>> BreakerChange(reason="looping on refunds").reason
        'looping on refunds'
    """

    reason: str = Field(min_length=1, max_length=4000)


IdField = Annotated[str, Field(pattern=ID_PATTERN)]


class OutcomeReport(_Strict):
    """The outcome of an action the client ran itself after an allowing decision:
    ``error`` set means it failed (counted by the breakers), else it was executed.

    Example:
        >>> OutcomeReport(output={"tier": "gold"}).error is None
        True
    """

    output: Any = None
    error: str | None = Field(default=None, min_length=1, max_length=4000)


class FeedbackLabel(_Strict):
    """The ground truth for one decision."""

    decision_id: IdField
    label: Any


class FeedbackBatch(_Strict):
    """Labels joined to decisions whenever they arrive.

    Example:
        >>> FeedbackBatch(labels=[FeedbackLabel(decision_id="dec_1", label=1)]).labels[0].label
        1
    """

    labels: list[FeedbackLabel] = Field(min_length=1, max_length=10_000)


class Promotion(_Strict):
    """Point ``alias`` at ``version`` (gates and policy decide), saying why.

    Example:
        >>> Promotion(version=2, reason="better auc").alias
        'champion'
    """

    version: int = Field(ge=1)
    reason: str = Field(min_length=1, max_length=4000)
    alias: Name = "champion"
    approval_id: IdField | None = Field(
        default=None, description="a granted approval (or sign-off) the last try asked for"
    )


class Rollback(_Strict):
    """Move ``alias`` back to its last healthy version, saying why.

    Example:
        >>> Rollback(reason="error rate doubled").alias
        'champion'
    """

    reason: str = Field(min_length=1, max_length=4000)
    alias: Name = "champion"
    approval_id: IdField | None = None


class PolicyPublication(_Strict):
    """A policy file's text, published as the enforced policy or as the shadow candidate.

    Example:
        >>> PolicyPublication(text="policy: p").shadow
        False
    """

    text: str = Field(min_length=1, max_length=1_000_000)
    shadow: bool = False


Effect = Literal["allow", "deny", "require_approval"]


class ExpectedVerdict(_Strict):
    """The verdict a policy test case must get (``rules`` null: any deciding rules)."""

    effect: Effect
    rules: list[str] | None = None


class PolicyCase(_Strict):
    """One row of a policy test table (as in a cases file)."""

    name: str = Field(default="", max_length=400)
    request: dict[str, Any]
    expect: Effect | ExpectedVerdict


class PolicyTest(_Strict):
    """A policy text and the cases to run against it (nothing is published).

    Example:
        >>> case = PolicyCase(request={}, expect="deny")
        >>> PolicyTest(text="policy: p", cases=[case]).cases[0].expect
        'deny'
    """

    text: str = Field(min_length=1, max_length=1_000_000)
    cases: list[PolicyCase] = Field(min_length=1, max_length=10_000)
