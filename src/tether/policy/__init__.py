"""Policy as code: YAML rules with CEL conditions, loaded strictly, compiled per
(system, action), evaluated with default deny.

See ``docs/policy.md`` for the file format and the semantics.
"""

from __future__ import annotations

from tether.policy._model import parse_duration
from tether.policy._policy import ApprovalRequirement, Policy, Rule, Verdict
from tether.policy._replay import Change, ReplayReport, replay
from tether.policy._store import Policies, Published

__all__ = [
    "ApprovalRequirement",
    "Change",
    "Policies",
    "Policy",
    "Published",
    "ReplayReport",
    "Rule",
    "Verdict",
    "parse_duration",
    "replay",
]
