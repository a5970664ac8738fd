"""Workflow runs and agent sessions: each step is its own governed action.

A run keeps the names and outcomes of its earlier steps (policy sees them as
``run.actions``, so a rule can say "after reading PII in this run, an e-mail outside
the company needs approval"), enforces budgets (actions, cost, duration), and is
contained: a step that fails, is denied, or trips a breaker stops *this* run, calls
the compensation hooks of its completed steps (newest first), and leaves every other
run alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from tether._ids import new_id
from tether.errors import ActionDenied, ApprovalRequired, InvalidInput, RunStopped

if TYPE_CHECKING:
    from tether.core import Tether
    from tether.pipeline._pipeline import Decision

__all__ = ["Run"]


@dataclass(slots=True)
class _Done:
    action: str
    output: Any
    compensate: Callable[[Any], Any] | None


class Run:
    """A workflow run or agent session (``with tether.run(...) as run:``).

    Example:
        >>> from tether.policy import Policy
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> _ = t.actors.register("agent:a", kind="agent", actor="user:ana")
        >>> text = "{policy: p, systems: [bot], actions: [ping], rules: [{id: ok, effect: allow}]}"
        >>> _ = t.policies.publish(Policy.from_text(text), actor="user:ana")
        >>> with t.run("onboarding", system="bot", actor="agent:a") as run:
        ...     run.step("ping", lambda: "pong")
        'pong'
        >>> [a["name"] for a in run.actions], run.state
        (['ping'], 'completed')
        >>> t.close()
    """

    def __init__(
        self,
        tether: Tether,
        workflow: str,
        *,
        system: str,
        actor: str,
        max_actions: int | None = None,
        max_cost: float | None = None,
        max_duration: float | None = None,
        run_id: str | None = None,
    ) -> None:
        self._t = tether
        self.workflow = workflow
        self.system = system
        self.actor = actor
        self.id = run_id or new_id("run_")
        self.max_actions = max_actions
        self.max_cost = max_cost
        self.max_duration = max_duration
        self.actions: list[dict[str, Any]] = []
        self.cost = 0.0
        self.state = "running"  # running, completed, failed, stopped
        self.reason = ""
        self._started = tether.clock.now().timestamp()
        self._done: list[_Done] = []
        self._lock = threading.Lock()
        self.compensated: list[tuple[str, str]] = []  # (action, "ok" or the error)

    # -- context manager ------------------------------------------------------------------

    def __enter__(self) -> Run:
        self._t.ledger.record(
            "run.started", self.actor,
            {"run": self.id, "workflow": self.workflow, "system": self.system,
             "budgets": {"actions": self.max_actions, "cost": self.max_cost,
                         "duration": self.max_duration}},
            subject=f"run/{self.id}",
        )  # fmt: skip
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None and self.state == "running":
            self._stop("failed", f"{type(exc).__name__}: {exc}")
        if self.state in ("failed", "stopped"):
            self._compensate()
        elif self.state == "running":
            self.state = "completed"
        self._t.ledger.record(
            f"run.{self.state}", self.actor,
            {"run": self.id, "workflow": self.workflow, "reason": self.reason,
             "actions": len(self.actions), "cost": self.cost,
             "compensated": [{"action": a, "result": r} for a, r in self.compensated]},
            subject=f"run/{self.id}",
        )  # fmt: skip

    # -- steps ------------------------------------------------------------------------------

    def step(
        self,
        action: str,
        fn: Callable[..., Any] | None = None,
        /,
        *args: Any,
        inputs: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        system: str | None = None,
        cost: float = 0.0,
        compensate: Callable[[Any], Any] | None = None,
        timeout: float | None = None,
        approval_id: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run one governed step; return its output (or the decision without ``fn``).

        A denied, failed or blocked step stops the run (and raises); later steps
        raise :class:`RunStopped`. A step that needs an approval raises
        :class:`ApprovalRequired` and leaves the run open: once approved, retry the
        step with ``approval_id``.

        Raises:
            ActionDenied: the step was not allowed (the subclass says why).
            RunStopped: the run already stopped, or this step would exceed a budget.
        """
        if cost < 0:
            raise InvalidInput("a step's cost cannot be negative")
        self._pending_cost = cost
        pipeline = self._t.pipeline
        args_in = dict(inputs) if inputs is not None else dict(kwargs)
        options: dict[str, Any] = {
            "system": system or self.system, "action": action, "actor": self.actor,
            "inputs": args_in, "context": context, "run": self, "approval_id": approval_id,
        }  # fmt: skip
        if fn is None:
            decision = pipeline.decide(**options, raise_on_denial=False)
            if decision.outcome == "pending_approval":
                raise _raise_for(decision)
            if not decision.allowed:
                self._stop("stopped", f"step {action} was {decision.outcome}")
                self._compensate()
                raise _raise_for(decision)
            self._done.append(_Done(action, decision, compensate))
            return decision
        try:
            decision = pipeline.execute(fn, args, kwargs, timeout=timeout, **options)
        except ApprovalRequired:
            raise  # the run waits; retry the step with the approval id
        except ActionDenied as exc:
            if self.state == "running":
                self._stop("stopped", str(exc))
            self._compensate()
            raise
        except Exception as exc:  # the step itself failed (recorded as failed)
            self._stop("failed", f"step {action} failed: {type(exc).__name__}: {exc}")
            self._compensate()
            raise RunStopped(f"run {self.id}: {self.reason}") from exc
        self._done.append(_Done(action, decision.output, compensate))
        return decision.output

    # -- what the pipeline asks ---------------------------------------------------------------

    def _check(self, action: str) -> str:
        """Why the next step may not run ("" when it may)."""
        if self.state != "running":
            return f"run {self.id} is {self.state}: {self.reason}"
        if self.max_actions is not None and len(self.actions) >= self.max_actions:
            return self._budget(f"its budget of {self.max_actions} actions is spent")
        cost = getattr(self, "_pending_cost", 0.0)
        if self.max_cost is not None and self.cost + cost > self.max_cost:
            return self._budget(
                f"step {action} would spend {self.cost + cost:g} of {self.max_cost:g}"
            )
        if self.max_duration is not None:
            elapsed = self._t.clock.now().timestamp() - self._started
            if elapsed > self.max_duration:
                return self._budget(f"it ran {elapsed:.1f} s of {self.max_duration:g} s")
        return ""

    def _budget(self, why: str) -> str:
        self._stop("stopped", f"budget: {why}")
        return f"run {self.id} stopped: {self.reason}"

    def _note(self, decision: Decision) -> None:
        with self._lock:
            self.actions.append(
                {"name": decision.action, "outcome": decision.outcome, "effect": decision.effect}
            )
            if decision.outcome in ("allowed", "executed"):
                self.cost += getattr(self, "_pending_cost", 0.0)
            self._pending_cost = 0.0

    def _failed(self, action: str, error: str) -> None:
        self._stop("failed", f"step {action} failed: {error}")

    def _input(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflow": self.workflow,
            "actions": list(self.actions),
            "count": len(self.actions),
            "cost": self.cost,
        }

    def _stop(self, state: str, reason: str) -> None:
        with self._lock:
            if self.state == "running":
                self.state, self.reason = state, reason

    def _compensate(self) -> None:
        with self._lock:
            done, self._done = self._done, []
        for step in reversed(done):
            if step.compensate is None:
                continue
            try:
                step.compensate(step.output)
            except Exception as exc:  # keep compensating the rest
                self.compensated.append((step.action, f"{type(exc).__name__}: {exc}"))
            else:
                self.compensated.append((step.action, "ok"))


def _raise_for(decision: Decision) -> ActionDenied:
    from tether.pipeline._pipeline import _error_for

    return _error_for(decision)
