"""The registry: the systems and actors tether governs, and the versions and aliases
of their models (gates come with the model lifecycle)."""

from __future__ import annotations

from tether.registry._inventory import Actor, Actors, System, Systems
from tether.registry._models import (
    ALIAS_ACTION,
    AliasMove,
    Models,
    ModelVersion,
    artifact_digest,
    fingerprint,
    register_loader,
)
from tether.registry._responses import ResponseResult, Responses
from tether.registry._review import REVIEW_RULE, Review, ReviewMode

__all__ = [
    "ALIAS_ACTION",
    "Actor",
    "Actors",
    "AliasMove",
    "ModelVersion",
    "Models",
    "REVIEW_RULE",
    "ResponseResult",
    "Responses",
    "Review",
    "ReviewMode",
    "System",
    "Systems",
    "artifact_digest",
    "fingerprint",
    "register_loader",
]
