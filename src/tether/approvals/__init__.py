"""Human approvals: a durable state machine with N-of-M approvers, escalation,
expiry (never auto-approval) and justified overrides."""

from __future__ import annotations

from tether.approvals._approvals import OVERRIDE_ROLES, Approval, Approvals

__all__ = ["OVERRIDE_ROLES", "Approval", "Approvals"]
