"""The registry: the systems and actors tether governs, and the versions and aliases
of their models, and the gates a version must pass before an alias points at it."""

from __future__ import annotations

from tether.registry._gate_records import GateReport, GateResult, GateSet
from tether.registry._gate_spec import GateSpec
from tether.registry._gates import Gates
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
    "REVIEW_RULE",
    "Actor",
    "Actors",
    "AliasMove",
    "GateReport",
    "GateResult",
    "GateSet",
    "GateSpec",
    "Gates",
    "ModelVersion",
    "Models",
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
