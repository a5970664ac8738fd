"""Request bodies of the HTTP API: strict pydantic models (unknown fields are refused).

Names follow the inventory's rule (letters, digits and ``_ . : / @ -``, not starting
with punctuation, at most 200 characters), so SQL or path-traversal strings are
refused with 422 before anything reaches the pipeline or the ledger.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from tether.pipeline import Outcome

__all__ = [
    "ApprovalOverride",
    "ApprovalVote",
    "BreakerChange",
    "DecisionRequest",
    "ErrorBody",
    "ErrorInfo",
    "ExpectedVerdict",
    "FeedItem",
    "FeedPage",
    "FeedbackBatch",
    "FeedbackLabel",
    "Name",
    "OutcomeReport",
    "PolicyCase",
    "PolicyPublication",
    "PolicyReplay",
    "PolicyTest",
    "Promotion",
    "Rollback",
    "errors",
]

NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:/@-]{0,199}$"
ID_PATTERN = r"^[A-Za-z0-9_]{1,64}$"
MAX_INDEX = 2**63 - 1
"""The largest ledger index the stores hold (a 64-bit integer); larger ones are 422."""
MAX_VERSION = 2**31 - 1
"""The largest version number the stores hold (a 32-bit integer)."""

Name = Annotated[str, Field(pattern=NAME_PATTERN, description="a system or action name")]


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text, and no reason or comment needs one: refuse
    # it here, before anything is written, on every database alike.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters (\\u0000): remove them")
    return value


NoNul = AfterValidator(_no_nul)
Reason = Annotated[str, Field(min_length=1, max_length=4000), NoNul]
"""A required free-text why (recorded in the ledger)."""


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

    comment: Annotated[str, Field(max_length=4000), NoNul] = ""


class ApprovalOverride(_Strict):
    """Override an approval, saying why (at least 10 characters; recorded).

    Example:
        >>> ApprovalOverride(justification="outage: the CFO is unreachable").approve
        True
    """

    justification: Annotated[str, Field(min_length=10, max_length=4000), NoNul]
    approve: bool = Field(default=True, description="false: override to reject")


class BreakerChange(_Strict):
    """Trip or reset a breaker, saying why (the reason goes in the ledger).

    Example:
        >>> BreakerChange(reason="looping on refunds").reason
        'looping on refunds'
    """

    reason: Reason


IdField = Annotated[str, Field(pattern=ID_PATTERN)]


class OutcomeReport(_Strict):
    """The outcome of an action the client ran itself after an allowing decision:
    ``error`` set means it failed (counted by the breakers), else it was executed.

    Example:
        >>> OutcomeReport(output={"tier": "gold"}).error is None
        True
    """

    output: Any = None
    error: Reason | None = None


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

    version: int = Field(ge=1, le=MAX_VERSION)
    reason: Reason
    alias: Name = "champion"
    approval_id: IdField | None = Field(
        default=None, description="a granted approval (or sign-off) the last try asked for"
    )
    override_by: Name | None = Field(
        default=None,
        description="promote despite failing gates: the person (admin or overrider, not "
        "the token's actor) who must approve the override",
    )
    justification: Annotated[str, Field(min_length=10, max_length=4000), NoNul] | None = Field(
        default=None, description="why the gates are overridden (required with override_by)"
    )

    @model_validator(mode="after")
    def _override_is_justified(self) -> Promotion:
        if (self.override_by is None) != (self.justification is None):
            raise ValueError(
                "override_by and justification go together: name who approves the gate "
                "override and say why, or send neither"
            )
        return self


class Rollback(_Strict):
    """Move ``alias`` back to its last healthy version, saying why.

    Example:
        >>> Rollback(reason="error rate doubled").alias
        'champion'
    """

    reason: Reason
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

    name: Annotated[str, Field(max_length=400), NoNul] = ""
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


class ErrorInfo(BaseModel):
    """What went wrong: the exception type, a message naming the problem, the fix."""

    type: str = Field(description="e.g. InvalidInput, Forbidden, NotFound, PolicyError")
    message: str
    hint: str
    approval_id: str | None = Field(
        default=None, description="ApprovalRequired: the approval to have granted, then send"
    )
    problems: list[str] | None = Field(
        default=None, description="PolicyError: every problem, file:line:column: what"
    )


class ErrorBody(BaseModel):
    """The body of every error response.

    Example:
        >>> ErrorBody(error=ErrorInfo(type="NotFound", message="m", hint="h")).error.type
        'NotFound'
    """

    error: ErrorInfo


_ERROR_TEXT = {
    400: "the body is not JSON",
    401: "no token, or one that is unknown, expired or revoked",
    403: "the token's role or systems do not cover this, or the governance refused it",
    404: "no such object",
    409: "the state changed meanwhile: reload and retry",
    413: "the body is larger than the server accepts",
    422: "a wrong, missing or unknown field or parameter; nothing was written",
    429: "rate limited: retry after Retry-After seconds",
    503: "the database is unavailable: retry later",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring these error statuses with the error body.

    Example:
        >>> sorted(errors(401, 404))
        [401, 404]
    """
    return {c: {"model": ErrorBody, "description": _ERROR_TEXT[c]} for c in codes}


VERDICTS: tuple[str, ...] = get_args(Outcome)
"""Every decision outcome (the feed's ``outcome`` filter)."""


class FeedItem(BaseModel):
    """One decision of the feed; its full record is ``GET /v1/decisions/{id}``."""

    id: str
    ledger_index: int
    system: str
    action: str
    actor: str | None = Field(
        description="null for decisions recorded before the feed existed (migration 0012)"
    )
    outcome: str
    at: str = Field(description="when it was decided, ISO-8601 in UTC")


class FeedPage(BaseModel):
    """A page of the decision feed, newest first.

    Example:
        >>> FeedPage(items=[], next=None).next is None
        True
    """

    items: list[FeedItem]
    next: str | None = Field(description="the cursor of the next (older) page; null at the end")


class PolicyReplay(_Strict):
    """A candidate policy text to replay against recorded decisions (nothing is written).

    Example:
        >>> PolicyReplay(text="policy: p", since="2026-01-01T00:00:00Z").limit
        100
    """

    text: str = Field(min_length=1, max_length=1_000_000)
    since: str | None = Field(
        default=None, max_length=64, description="only decisions at or after this instant "
        "(ISO-8601 with a UTC offset, e.g. 2026-01-01T00:00:00Z)"
    )  # fmt: skip
    until: str | None = Field(
        default=None, max_length=64, description="only decisions before this instant"
    )
    limit: int = Field(default=100, ge=1, le=500, description="changed decisions returned")
