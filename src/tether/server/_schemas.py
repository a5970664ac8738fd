"""Request bodies of the HTTP API: strict pydantic models (unknown fields are refused).

Names follow the inventory's rule (letters, digits and ``_ . : / @ -``, not starting
with punctuation, at most 200 characters), so SQL or path-traversal strings are
refused with 422 before anything reaches the pipeline or the ledger.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ApprovalVote",
    "BreakerChange",
    "DecisionRequest",
    "Name",
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
