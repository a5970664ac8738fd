"""Replay: evaluate a candidate policy against the decisions already in the ledger.

Backtesting a policy before it is enforced: every recorded decision that went
through policy is rebuilt from the ledger alone — the actor and system as the
inventory entries before it describe them, its inputs and context (as recorded,
so redacted fields stay redacted), and the earlier actions of its run — and the
candidate's verdict is compared with the recorded one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tether.clock import format_timestamp
from tether.policy._policy import Policy

if TYPE_CHECKING:
    from tether.core import Tether

__all__ = ["Change", "ReplayReport", "replay"]


@dataclass(frozen=True, slots=True)
class Change:
    """A decision whose verdict the candidate would change."""

    index: int
    decision: str
    timestamp: str
    system: str
    action: str
    actor: str
    before: str
    before_rules: tuple[str, ...]
    after: str
    after_rules: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """What a replay found."""

    policy: str
    version: str
    replayed: int
    skipped: int  # decided before policy ran (identity, breakers, no policy)
    changes: tuple[Change, ...]

    def summary(self) -> str:
        """One line for people."""
        return (
            f"{self.replayed} decisions replayed against {self.policy} ({self.version[:19]}), "
            f"{len(self.changes)} would change, {self.skipped} not decided by policy"
        )


def replay(
    tether: Tether,
    candidate: Policy,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Replay every recorded decision (from ``since`` on, before ``until``) against
    ``candidate``. The whole ledger is read either way: the actors and systems as they
    were at each decision come from the entries before it."""
    actors: dict[str, dict[str, Any]] = {}
    systems: dict[str, dict[str, Any]] = {}
    runs: dict[str, list[dict[str, Any]]] = {}
    changes: list[Change] = []
    replayed = skipped = 0
    cutoff = format_timestamp(since) if since is not None else None
    end = format_timestamp(until) if until is not None else None
    for n, entry in enumerate(_entries(tether)):
        if progress is not None and n % 1000 == 0:
            progress(n)
        kind, payload = entry.kind, entry.payload
        if payload is None:
            continue
        if kind in ("actor.registered", "actor.updated"):
            actors[payload["id"]] = {
                **payload.get("attributes", {}), "id": payload["id"], "kind": payload["kind"],
                "roles": payload.get("roles", []),
            }  # fmt: skip
        elif kind == "system.registered" or kind == "system.updated":
            systems[payload["name"]] = {
                k: payload[k] for k in ("name", "kind", "owner", "risk_tier", "environments")
            }
        elif kind == "decision":
            run_id = payload.get("run")
            history = runs.setdefault(run_id, []) if run_id else None
            verdict = payload.get("verdict")
            if verdict is None or payload["actor"] not in actors:
                skipped += 1
            elif (cutoff is None or entry.timestamp >= cutoff) and (
                end is None or entry.timestamp < end
            ):
                replayed += 1
                request = _request(payload, actors, systems, run_id, history)
                new = candidate.evaluate(request)
                old_rules = tuple(verdict["rules"])
                if new.effect != verdict["effect"] or sorted(new.rules) != sorted(old_rules):
                    changes.append(Change(
                        entry.index, payload["id"], entry.timestamp, payload["system"],
                        payload["action"], payload["actor"], verdict["effect"], old_rules,
                        new.effect, new.rules,
                    ))  # fmt: skip
            if history is not None:
                history.append({"name": payload["action"], "outcome": payload["outcome"],
                                "effect": payload["effect"]})  # fmt: skip
    return ReplayReport(candidate.name, candidate.version, replayed, skipped, tuple(changes))


def _entries(tether: Tether) -> Iterator[Any]:
    return tether.ledger.iter_entries()


def _request(
    payload: dict[str, Any],
    actors: dict[str, dict[str, Any]],
    systems: dict[str, dict[str, Any]],
    run_id: str | None,
    history: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "actor": actors[payload["actor"]],
        "system": systems.get(payload["system"], {"name": payload["system"]}),
        "action": {"name": payload["action"], "args": payload.get("inputs") or {}},
        "context": payload.get("context") or {},
    }
    if run_id is not None and history is not None:
        request["run"] = {
            "id": run_id, "workflow": payload.get("run_workflow") or "",
            "actions": list(history), "count": len(history),
            "cost": payload.get("run_cost") or 0,
        }  # fmt: skip
    else:
        request["run"] = {"id": "", "workflow": "", "actions": [], "count": 0, "cost": 0}
    return request
