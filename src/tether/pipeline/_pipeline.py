"""The one pipeline: identify → breaker → policy → rate limit → input guardrails →
approval → execute → output guardrails → record → notify.

Every action of an AI system goes through :meth:`Pipeline.decide` (the caller runs
the action itself and may report the outcome) or through a governed function
(:meth:`Pipeline.governed`, the pipeline runs it). Both fail closed: an internal
error denies the action. Each decision is one durable ledger entry holding the
attempt and its outcome: actor, system, action and inputs (redactions applied),
verdict, matched rules, policy version, guardrail results, approval id, output
digest or error, and the latency of every stage.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import orjson

from tether._ids import new_id
from tether.errors import (
    ActionDenied,
    ApprovalRequired,
    CircuitOpen,
    GuardrailBlocked,
    InvalidInput,
    NotFound,
    RateLimited,
    TetherError,
)
from tether.ledger import canonical_json
from tether.pipeline._breakers import breaker_keys
from tether.pipeline._ratelimit import RateLimiter
from tether.pipeline.guardrails import GuardOutcome, Guardrail, GuardResult, run_guardrails
from tether.policy import Verdict
from tether.store import decision_repo, ratelimit_repo

if TYPE_CHECKING:
    from tether.core import Tether
    from tether.pipeline._run import Run
    from tether.registry import Actor, System

__all__ = ["Decision", "Outcome", "Pipeline"]

_log = logging.getLogger("tether.pipeline")

R = TypeVar("R")

Outcome = Literal[
    "allowed",  # decide(): the caller may run the action
    "executed",  # the pipeline ran it and it succeeded
    "failed",  # the pipeline ran it and it raised (or timed out)
    "denied",  # policy, identity or an internal error said no
    "pending_approval",  # waits for people
    "blocked",  # a guardrail blocked the input or the output
    "circuit_open",  # a breaker or kill switch is open
    "rate_limited",
    "stopped",  # its run failed, was stopped, or spent its budget
]
INTERNAL_ERROR = "tether:internal-error"
# An action outside any run: sequence rules see no earlier actions.
_NO_RUN: Mapping[str, Any] = {"id": "", "workflow": "", "actions": [], "count": 0, "cost": 0}
UNKNOWN_ACTOR = "tether:unknown-actor"
INACTIVE_ACTOR = "tether:inactive-actor"
NO_POLICY = "tether:no-policy"
APPROVAL_NOT_USABLE = "tether:approval-not-usable"
_REDACTED = "[REDACTED]"


@dataclass(frozen=True, slots=True)
class Decision:
    """The full record of one action going through the pipeline."""

    id: str
    system: str
    action: str
    actor: str
    effect: str
    outcome: Outcome
    rules: tuple[str, ...] = ()
    matched: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    policy_version: int | None = None
    approval_id: str | None = None
    guardrails: tuple[GuardResult, ...] = ()
    output: Any = field(default=None, repr=False, compare=False)
    error: str | None = None
    ledger_index: int = -1
    latency_us: Mapping[str, int] = field(default_factory=dict, compare=False)
    run_id: str | None = None
    shadow: Mapping[str, Any] | None = None
    breaker_probes: tuple[str, ...] = field(default=(), repr=False, compare=False)
    """Half-open breakers this decision is the probe for (settled by its outcome)."""
    retry_after: float | None = None
    """Rate limited: seconds until the next token."""
    record: Future[Any] | None = field(default=None, repr=False, compare=False)
    """With ``TETHER_DURABILITY=async``: the pending ledger entry (index -1 until then)."""

    @property
    def allowed(self) -> bool:
        """True when the action may run (or ran)."""
        return self.outcome in ("allowed", "executed", "failed")


@dataclass(slots=True)
class _Attempt:
    """A decision being made: what is known so far."""

    id: str
    system: str
    action: str
    actor_id: str
    inputs: Any
    context: Mapping[str, Any]
    run: Run | None
    raw_inputs: Any = None  # as the caller gave them (guardrails may redact ``inputs``)
    redact_paths: tuple[str, ...] = ()  # every redact path of the rules in scope
    started: int = field(default_factory=time.perf_counter_ns)
    stages: dict[str, int] = field(default_factory=dict)
    actor: Actor | None = None
    sys: System | None = None
    verdict: Verdict | None = None
    policy_version: int | None = None
    shadow: dict[str, Any] | None = None
    guard: list[GuardResult] = field(default_factory=list)
    probes: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    exc: BaseException | None = None  # what the governed function raised
    out_guards: tuple[Guardrail, ...] = ()  # the policy's output guardrails for the action
    pending: Future[Any] | None = None  # the approval.requested entry, queued

    def lap(self, stage: str, since: int) -> int:
        now = time.perf_counter_ns()
        self.stages[stage] = (now - since) // 1000
        return now


class Pipeline:
    """Decide, guard, execute and record actions (``tether.pipeline``)."""

    def __init__(self, tether: Tether) -> None:
        self._t = tether
        self.limiter = RateLimiter()
        self.monitors: list[Callable[[Decision], None]] = []
        self._failed_monitors: set[int] = set()
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    # -- the two entry points ----------------------------------------------------------

    def decide(
        self,
        system: str,
        action: str,
        *,
        actor: str,
        inputs: Any = None,
        context: Mapping[str, Any] | None = None,
        run: Run | None = None,
        input_guardrails: Sequence[Guardrail] = (),
        approval_id: str | None = None,
        raise_on_denial: bool = False,
    ) -> Decision:
        """Decide whether ``actor`` may do ``action`` on ``system``; record it.

        The caller runs the action itself when ``decision.allowed``; pass
        ``approval_id`` of an approved request to run an action that needed one.

        Raises:
            ActionDenied: with ``raise_on_denial``, the specific subclass for a
                denial (the decision is recorded first either way).
            StoreError: the decision could not be recorded (the action must not run).
        """
        attempt = self._attempt(system, action, actor, inputs, context, run)
        decision = self._decide(attempt, input_guardrails, approval_id)
        if decision.outcome == "allowed":
            decision = self._record(attempt, decision)
            if run is not None:
                run._note(decision)
            return decision
        decision = self._record(attempt, decision)
        if run is not None:
            run._note(decision)
        if raise_on_denial:
            raise _error_for(decision)
        return decision

    async def decide_async(
        self,
        system: str,
        action: str,
        *,
        actor: str,
        inputs: Any = None,
        context: Mapping[str, Any] | None = None,
        run: Run | None = None,
        input_guardrails: Sequence[Guardrail] = (),
        approval_id: str | None = None,
        raise_on_denial: bool = False,
    ) -> Decision:
        """:meth:`decide` for coroutines: the record is appended without blocking the
        event loop, so many tasks share group commits.

        Raises:
            ActionDenied: with ``raise_on_denial``, for a denial (recorded first).
            StoreError: the decision could not be recorded (the action must not run).
        """
        attempt = self._attempt(system, action, actor, inputs, context, run)
        decision = await self._record_async(
            attempt, self._decide(attempt, input_guardrails, approval_id)
        )
        if run is not None:
            run._note(decision)
        if raise_on_denial and decision.outcome != "allowed":
            raise _error_for(decision)
        return decision

    def execute(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        *,
        system: str,
        action: str,
        actor: str,
        inputs: Any = None,
        context: Mapping[str, Any] | None = None,
        run: Run | None = None,
        input_guardrails: Sequence[Guardrail] = (),
        output_guardrails: Sequence[Guardrail] = (),
        timeout: float | None = None,
        approval_id: str | None = None,
    ) -> Decision:
        """Decide, and when allowed run ``fn(*args, **kwargs)``; record attempt and
        outcome as one entry. Denials raise (see :meth:`governed`)."""
        attempt = self._attempt(system, action, actor, inputs, context, run)
        decision = self._decide(attempt, input_guardrails, approval_id)
        if decision.outcome != "allowed":
            decision = self._record(attempt, decision)
            if run is not None:
                run._note(decision)
            raise _error_for(decision)
        args, kwargs = _redacted_call(attempt, inputs, args, kwargs)
        decision = self._run_fn(attempt, decision, fn, args, kwargs, timeout, output_guardrails)
        decision = self._record(attempt, decision)
        if run is not None:
            run._note(decision)
        if decision.outcome == "blocked":
            raise _error_for(decision)
        _reraise(attempt, decision)
        return decision

    async def execute_async(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        *,
        system: str,
        action: str,
        actor: str,
        inputs: Any = None,
        context: Mapping[str, Any] | None = None,
        run: Run | None = None,
        input_guardrails: Sequence[Guardrail] = (),
        output_guardrails: Sequence[Guardrail] = (),
        timeout: float | None = None,
        approval_id: str | None = None,
    ) -> Decision:
        """:meth:`execute` for a coroutine function: it is awaited in the caller's
        event loop, and the record is appended without blocking the loop."""
        attempt = self._attempt(system, action, actor, inputs, context, run)
        decision = self._decide(attempt, input_guardrails, approval_id)
        if decision.outcome == "allowed":
            args, kwargs = _redacted_call(attempt, inputs, args, kwargs)
            t = time.perf_counter_ns()
            output, error = None, None
            try:
                if timeout is None:
                    output = await fn(*args, **kwargs)
                else:
                    output = await _wait_for(fn(*args, **kwargs), timeout)
            except _PipelineTimeout as exc:
                error, attempt.exc = str(exc), TimeoutError(f"{action} on {system} {exc}")
            except Exception as exc:
                error, attempt.exc = f"{type(exc).__name__}: {_first_line(exc)}", exc
            attempt.lap("execute", t)
            decision = self._finish(attempt, decision, output, error, output_guardrails)
        final = await self._record_async(attempt, decision)
        if run is not None:
            run._note(final)
        if final.outcome not in ("executed", "failed"):
            raise _error_for(final)
        _reraise(attempt, final)
        return final

    def governed(
        self,
        system: str,
        action: str | None = None,
        *,
        actor: str | Callable[..., str] | None = None,
        input_guardrails: Sequence[Guardrail] = (),
        output_guardrails: Sequence[Guardrail] = (),
        timeout: float | None = None,
        context: Mapping[str, Any] | Callable[..., Mapping[str, Any]] | None = None,
    ) -> Callable[[Callable[..., R]], Callable[..., R]]:
        """Decorate a sync or async function so every call goes through the pipeline.

        The call's keyword arguments (and named positional ones) are the action's
        inputs. ``actor`` is fixed, or a function of the call's arguments, or given
        per call as ``_actor=``; ``_context=`` and ``_run=`` likewise. The wrapped
        function returns what the function returns (output guardrails applied) and
        raises :class:`ActionDenied` subclasses for denials; a blocked output never
        reaches the caller.
        """

        def wrap(fn: Callable[..., R]) -> Callable[..., R]:
            name = action or fn.__name__
            signature = inspect.signature(fn)

            def prepare(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
                # What the decorator fixed, a call may not change: the arguments may come
                # from a model (``tool(**llm_json)``), and must not choose who acts.
                given_actor, given_ctx = kwargs.pop("_actor", None), kwargs.pop("_context", None)
                if given_actor is not None and actor is not None:
                    raise InvalidInput(f"{name}: the actor is fixed by governed(); drop _actor=")
                if given_ctx is not None and context is not None:
                    raise InvalidInput(
                        f"{name}: the context is fixed by governed(); drop _context="
                    )
                who = given_actor or (actor(*args, **kwargs) if callable(actor) else actor)
                if not who:
                    raise InvalidInput(f"{name}: say who acts: governed(..., actor=...) or _actor=")
                ctx = given_ctx
                if ctx is None:
                    ctx = context(*args, **kwargs) if callable(context) else context
                run = kwargs.pop("_run", None)
                approval = kwargs.pop("_approval_id", None)
                bound = signature.bind_partial(*args, **kwargs)
                return {
                    "system": system, "action": name, "actor": who,
                    "inputs": dict(bound.arguments), "context": ctx or {}, "run": run,
                    "input_guardrails": input_guardrails, "output_guardrails": output_guardrails,
                    "timeout": timeout, "approval_id": approval,
                }  # fmt: skip

            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def async_call(*args: Any, **kwargs: Any) -> Any:
                    options = prepare(args, kwargs)
                    decision = await self.execute_async(fn, args, kwargs, **options)
                    return decision.output

                return async_call  # type: ignore[return-value]

            @functools.wraps(fn)
            def call(*args: Any, **kwargs: Any) -> R:
                options = prepare(args, kwargs)
                output: R = self.execute(fn, args, kwargs, **options).output
                return output

            return call

        return wrap

    def run(self, workflow: str, **kwargs: Any) -> Run:
        """A workflow run or agent session; see :class:`tether.pipeline.Run`."""
        from tether.pipeline._run import Run

        return Run(self._t, workflow, **kwargs)

    def record_outcome(
        self, decision: Decision, *, output: Any = None, error: str | None = None, actor: str
    ) -> int:
        """Record the outcome of an action the caller ran after :meth:`decide`;
        count it for the breakers. Returns the ledger index.

        Raises:
            InvalidInput: the decision was not allowed (nothing to report).
        """
        if decision.outcome != "allowed":
            raise InvalidInput(f"decision {decision.id} was {decision.outcome}; it did not run")
        ok = error is None
        agent = decision.actor if self._is_agent(decision.actor) else None
        self._t.breakers.record(
            breaker_keys(decision.system, decision.action, agent), ok=ok,
            probes=decision.breaker_probes,
        )  # fmt: skip
        payload = {
            "decision": decision.id,
            "decision_index": decision.ledger_index,
            "status": "executed" if ok else "failed",
            "output_digest": None if output is None else _digest(output),
            "error": error,
        }
        entry = self._t.ledger.append(
            "decision.outcome", actor, payload, subject=f"decision/{decision.id}"
        )
        return entry.index

    # -- the stages -----------------------------------------------------------------------

    def _attempt(
        self,
        system: str,
        action: str,
        actor: str,
        inputs: Any,
        context: Mapping[str, Any] | None,
        run: Run | None,
    ) -> _Attempt:
        for value, what in ((system, "system"), (action, "action"), (actor, "actor")):
            if not isinstance(value, str) or not value:
                raise InvalidInput(f"{what} must be a non-empty string, not {value!r}")
        return _Attempt(_new_id(), system, action, actor, inputs, dict(context or {}), run, inputs)

    def _decide(
        self, a: _Attempt, guardrails: Sequence[Guardrail], approval_id: str | None
    ) -> Decision:
        try:
            decision = self._stages(a, guardrails, approval_id)
        except ActionDenied:
            raise
        except Exception as exc:  # fail closed: nothing runs on an internal error
            reason = f"internal error ({type(exc).__name__}: {_first_line(exc)}); denied"
            decision = self._base(a, "deny", "denied", (INTERNAL_ERROR,), (reason,))
        if a.probes:
            if decision.outcome == "allowed":
                return _evolve(decision, breaker_probes=a.probes)
            self._t.breakers.release(a.probes)  # the probe call will not run
        return decision

    def _stages(
        self, a: _Attempt, guardrails: Sequence[Guardrail], approval_id: str | None
    ) -> Decision:
        t = a.started
        # identify
        a.actor = self._t.actors.cached(a.actor_id)
        if a.actor is None:
            return self._base(a, "deny", "denied", (UNKNOWN_ACTOR,),
                              (f"actor {a.actor_id!r} is not registered",))  # fmt: skip
        if not a.actor.active:
            return self._base(a, "deny", "denied", (INACTIVE_ACTOR,),
                              (f"actor {a.actor_id!r} is deactivated",))  # fmt: skip
        a.sys = self._t.systems.cached(a.system)
        t = a.lap("identify", t)
        # breakers (and kill switches)
        agent = a.actor_id if a.actor.kind == "agent" else None
        a.keys = breaker_keys(a.system, a.action, agent)
        check = self._t.breakers.check(a.keys)
        a.probes = check.probes
        t = a.lap("breaker", t)
        if check.open is not None:
            row = check.open
            how = "stopped by a person (kill switch)" if row.manual else "open"
            return self._base(a, "deny", "circuit_open", (f"breaker:{row.key}",),
                              (f"breaker {row.key} is {how}: {row.reason}",))  # fmt: skip
        if a.run is not None:
            stop = a.run._check(a.action)
            if stop:
                return self._base(a, "deny", "stopped", (f"run:{a.run.id}",), (stop,))
        # policy
        published = self._t.policies.enforced()
        if published is None:
            return self._base(a, "deny", "denied", (NO_POLICY,),
                              ("no policy is published: tether policy publish FILE",))  # fmt: skip
        request = self._request(a)
        a.redact_paths = published.policy.redactions(a.system, a.action)
        verdict = published.policy.evaluate(request)
        a.verdict, a.policy_version = verdict, published.version
        shadow = self._t.policies.shadow()
        if shadow is not None:
            try:  # a broken candidate never decides live traffic
                sv = shadow.policy.evaluate(request)
                a.shadow = {"version": shadow.version, "effect": sv.effect,
                            "rules": list(sv.rules)}  # fmt: skip
            except Exception as exc:
                a.shadow = {"version": shadow.version, "error": _first_line(exc)}
        t = a.lap("policy", t)
        if verdict.effect == "deny":
            return self._verdict(a, "denied")
        if mode := self._t.review.applies(a.system, a.action, a.inputs):
            # Human-review mode: the system's reviewers approve every decision (on top
            # of any approval the policy asks for) until the mode is cleared.
            why, need = f"{a.system} is in human-review mode: {mode.reason}", mode.requirement
            asked = verdict.effect == "require_approval"
            verdict = a.verdict = replace(
                verdict, effect="require_approval",
                rules=(*verdict.rules, need.rule) if asked else (need.rule,),
                approvals=(*verdict.approvals, need),
                reasons=(*verdict.reasons, why) if asked else (why,),
            )  # fmt: skip
        # rate limits (obligations of the matched rules)
        for rule_id, spec in verdict.rate_limits:
            key = _limit_key(rule_id, spec.per, a)
            now = self._t.clock.now().timestamp()
            if spec.scope == "shared":
                capacity = float(spec.burst or spec.rate)
                with self._t.store.write() as conn:
                    ok, retry = ratelimit_repo.take(conn, key, capacity, spec.rate / spec.period,
                                                    now)  # fmt: skip
            else:
                ok, retry = self.limiter.take(key, spec.rate, spec.period, spec.burst, now)
            if not ok:
                why = f"rate limit of rule {rule_id}: retry in {retry:.1f} s"
                decision = self._base(a, "deny", "rate_limited", (rule_id,), (why,))
                return _evolve(decision, retry_after=retry)
        # input guardrails (the policy file's for this action, then the caller's)
        declared_in, a.out_guards = published.policy.guardrails.get(a.action, ((), ()))
        if declared_in:
            guardrails = (*declared_in, *guardrails)
        if guardrails:
            outcome = run_guardrails(guardrails, a.inputs)
            a.guard.extend(_phase(outcome, "input"))
            t = a.lap("input_guardrails", t)
            if outcome.blocked:
                return self._verdict(a, "blocked", reasons=outcome.reasons)
            a.inputs = outcome.value
        # approval
        if verdict.effect == "require_approval":
            if approval_id is not None:
                try:
                    rules = [r.rule for r in verdict.approvals]
                    self._t.approvals.consume(approval_id, a.system, a.action, a.actor_id,
                                              _request_digest(a), rules)  # fmt: skip
                except (InvalidInput, NotFound) as exc:
                    return self._base(
                        a, "deny", "denied", (APPROVAL_NOT_USABLE,), (str(exc),), approval_id
                    )  # the record names the approval refused
                a.lap("approval", t)
                return self._verdict(a, "allowed", approval_id=approval_id)
            approval = self._t.approvals.request(
                decision_id=a.id, system=a.system, action=a.action, requester=a.actor_id,
                requirements=verdict.approvals, reasons=verdict.reasons,
                request=self._redacted(a), inputs_digest=_request_digest(a), wait=False,
            )  # fmt: skip
            a.pending = approval.pending
            a.lap("approval", t)
            return self._verdict(a, "pending_approval", approval_id=approval.id)
        return self._verdict(a, "allowed")

    def _run_fn(
        self,
        a: _Attempt,
        decision: Decision,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        timeout: float | None,
        guardrails: Sequence[Guardrail],
    ) -> Decision:
        t = time.perf_counter_ns()
        error: str | None = None
        output: Any = None
        try:
            output = self._call(fn, args, kwargs, timeout)
        except _PipelineTimeout as exc:
            error = str(exc)
            a.exc = TimeoutError(f"{a.action} on {a.system} {error}")
        except Exception as exc:
            error, a.exc = f"{type(exc).__name__}: {_first_line(exc)}", exc
        a.lap("execute", t)
        return self._finish(a, decision, output, error, guardrails)

    def _finish(
        self, a: _Attempt, decision: Decision, output: Any, error: str | None,
        guardrails: Sequence[Guardrail],
    ) -> Decision:  # fmt: skip
        """Count the result for the breakers, guard the output."""
        t = time.perf_counter_ns()
        self._t.breakers.record(a.keys, ok=error is None, probes=a.probes)
        if a.out_guards:
            guardrails = (*a.out_guards, *guardrails)
        if error is not None:
            if a.run is not None:
                a.run._failed(a.action, error)
            return _evolve(decision, outcome="failed", error=error, latency_us=dict(a.stages))
        if guardrails:
            checked = run_guardrails(guardrails, output)
            a.guard.extend(_phase(checked, "output"))
            a.lap("output_guardrails", t)
            if checked.blocked:
                # the output never leaves: neither returned nor recorded
                return _evolve(
                    decision, outcome="blocked", reasons=checked.reasons,
                    guardrails=tuple(a.guard), error="output blocked by a guardrail",
                    latency_us=dict(a.stages),
                )  # fmt: skip
            output = checked.value
        return _evolve(decision, outcome="executed", output=output, guardrails=tuple(a.guard),
                       latency_us=dict(a.stages))  # fmt: skip

    def _call(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any],
        timeout: float | None,
    ) -> Any:  # fmt: skip
        if timeout is None:
            return fn(*args, **kwargs)
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(thread_name_prefix="tether-exec")
        future = self._executor.submit(fn, *args, **kwargs)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            if future.done():
                raise  # the function's own TimeoutError
            raise _PipelineTimeout(f"timed out after {timeout:g} s") from None

    # -- building and recording -------------------------------------------------------------

    def _request(self, a: _Attempt) -> dict[str, Any]:
        assert a.actor is not None
        system = a.sys.as_input() if a.sys is not None else {"name": a.system}
        req: dict[str, Any] = {
            "actor": a.actor.as_input(),
            "system": system,
            "action": {"name": a.action, "args": a.inputs if isinstance(a.inputs, Mapping) else {}},
            "context": a.context,
        }
        req["run"] = a.run._input() if a.run is not None else _NO_RUN
        req["signals"] = self._t.signals.for_policy(a.system)
        return req

    def _base(
        self, a: _Attempt, effect: str, outcome: Outcome, rules: tuple[str, ...],
        reasons: tuple[str, ...], approval_id: str | None = None,
    ) -> Decision:  # fmt: skip
        v = a.verdict
        return Decision(
            a.id, a.system, a.action, a.actor_id, effect, outcome, rules,
            v.matched if v else (), reasons, a.policy_version, approval_id, tuple(a.guard),
            latency_us=dict(a.stages), run_id=a.run.id if a.run else None, shadow=a.shadow,
        )  # fmt: skip

    def _verdict(
        self, a: _Attempt, outcome: Outcome, *, reasons: tuple[str, ...] | None = None,
        approval_id: str | None = None,
    ) -> Decision:  # fmt: skip
        v = a.verdict
        assert v is not None
        effect = "deny" if outcome == "blocked" else v.effect
        return self._base(a, effect, outcome, v.rules, reasons or v.reasons, approval_id)

    def _redacted(self, a: _Attempt) -> dict[str, Any]:
        paths = a.redact_paths
        request = {"action": {"args": a.inputs}, "context": dict(a.context)}
        return _redact(request, paths)

    def _record(self, a: _Attempt, d: Decision) -> Decision:
        t = time.perf_counter_ns()
        future = self._submit(a, d)
        if a.pending is not None:  # an approval id is only handed out once it exists
            a.pending.result()
        if not future.done():  # TETHER_DURABILITY=async: the writer commits it shortly
            return _evolve(self._recorded(a, d, -1, t), record=future)
        return self._recorded(a, d, future.result().index, t)

    async def _record_async(self, a: _Attempt, d: Decision) -> Decision:
        t = time.perf_counter_ns()
        if self._t.ledger.durability != "durable":
            future = self._submit(a, d)
            if a.pending is not None:  # an approval id is only handed out once it exists
                await asyncio.wrap_future(a.pending)
            return _evolve(self._recorded(a, d, -1, t), record=future)
        try:
            entry = await self._t.ledger.append_async("decision", d.actor, **self._entry(a, d))
        except InvalidInput:  # inputs that are not plain JSON: record them converted
            converted = self._entry(a, d, convert=True)
            entry = await self._t.ledger.append_async("decision", d.actor, **converted)
        if a.pending is not None:
            await asyncio.wrap_future(a.pending)
        return self._recorded(a, d, entry.index, t)

    def _submit(self, a: _Attempt, d: Decision) -> Future[Any]:
        """Queue the decision's entry with the configured durability."""
        try:
            return self._t.ledger.record("decision", d.actor, **self._entry(a, d))
        except InvalidInput:  # inputs that are not plain JSON: record them converted
            converted = self._entry(a, d, convert=True)
            return self._t.ledger.record("decision", d.actor, **converted)

    def _entry(self, a: _Attempt, d: Decision, *, convert: bool = False) -> dict[str, Any]:
        """The payload, subject and mutation of a decision's ledger entry: the record,
        and its row in ``decisions`` (what labels join to)."""
        output = _model_output(a, d)
        now = self._t.clock.now().timestamp()
        mutation = decision_repo.record(d.id, d.system, d.action, d.outcome, now, output, d.actor)
        payload = self._payload(a, d, output, convert=convert)
        subject = f"system/{d.system}/action/{d.action}"
        return {"payload": payload, "subject": subject, "mutation": mutation}

    def _recorded(self, a: _Attempt, d: Decision, index: int, t: int) -> Decision:
        stages = dict(a.stages)
        stages["record"] = (time.perf_counter_ns() - t) // 1000
        stages["total"] = (time.perf_counter_ns() - a.started) // 1000
        final = _evolve(d, ledger_index=index, latency_us=stages)
        for monitor in tuple(self.monitors):  # a snapshot: others may add or remove
            try:
                monitor(final)
            except Exception:  # a monitor never breaks the action it watches
                if id(monitor) not in self._failed_monitors:  # said once per monitor
                    self._failed_monitors.add(id(monitor))
                    _log.warning("decision monitor %r failed (reported once)", monitor,
                                 exc_info=True)  # fmt: skip
        return final

    def _payload(
        self, a: _Attempt, d: Decision, output: Any, *, convert: bool = False
    ) -> dict[str, Any]:
        """The decision record; ``convert`` turns non-JSON inputs (tuples, numpy
        scalars, objects) into JSON first (only needed when the plain one fails)."""
        redacted = self._redacted(a)
        inputs, context = redacted["action"]["args"], redacted["context"]
        if convert:
            inputs, context = _jsonable(inputs), _jsonable(context)
        payload: dict[str, Any] = {
            "id": d.id,
            "system": d.system,
            "action": d.action,
            "actor": d.actor,
            "inputs": inputs,
            "context": context,
            "effect": d.effect,
            "outcome": d.outcome,
            "rules": list(d.rules),
            "matched": list(d.matched),
            "reasons": list(d.reasons),
            "policy": d.policy_version,
            "verdict": (
                {"effect": a.verdict.effect, "rules": list(a.verdict.rules)} if a.verdict else None
            ),
            "approval": d.approval_id,
            "guardrails": [
                {"name": g.guardrail, "outcome": g.outcome, "reason": g.reason}
                for g in d.guardrails
            ],
            "output_digest": _digest(d.output) if d.outcome == "executed" else None,
            "output": output,
            "error": d.error,
            "run": d.run_id,
            "run_workflow": a.run.workflow if a.run is not None else None,
            "run_cost": a.run.cost if a.run is not None else None,
            "shadow": d.shadow,
            "latency_us": dict(a.stages),
        }
        return payload

    def _is_agent(self, actor_id: str) -> bool:
        found = self._t.actors.cached(actor_id)
        return found is not None and found.kind == "agent"

    def close(self) -> None:
        """Stop the execution thread pool (used for timeouts)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)


# -- helpers ----------------------------------------------------------------------------------


def _new_id() -> str:
    return new_id("dec_")


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else ""


def _digest(value: Any) -> str:
    try:
        body = canonical_json(_jsonable(value))
    except TetherError:
        body = repr(value).encode()
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _jsonable(value: Any) -> Any:
    """Turn common Python values (tuples, sets, numpy scalars, objects) into JSON."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        return value if -(2**53) <= value <= 2**53 else str(value)  # JSON-safe integers
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return _jsonable(item())
        except (TypeError, ValueError):
            pass
    return repr(value)


def _redact(value: dict[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    """Copy ``value`` with each dotted path (``action.args.card``) replaced."""
    if not paths:
        return value
    out: dict[str, Any] = _copy(value)
    for path in paths:
        target: Any = out
        parts = path.split(".")
        for name in parts[:-1]:
            target = target.get(name) if isinstance(target, dict) else None
            if target is None:
                break
        if isinstance(target, dict) and parts[-1] in target:
            target[parts[-1]] = _REDACTED
    return out


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _phase(outcome: GuardOutcome, phase: str) -> list[GuardResult]:
    return [
        GuardResult(f"{phase}:{r.guardrail}", r.outcome, r.reason, r.findings)
        for r in outcome.results
    ]


def _limit_key(rule: str, per: str, a: _Attempt) -> str:
    by = {
        "actor": a.actor_id,
        "system": a.system,
        "action": f"{a.system}/{a.action}",
        "actor_action": f"{a.actor_id}/{a.system}/{a.action}",
    }[per]
    return f"{rule}:{per}:{by}"


_DECISION_FIELDS: tuple[str, ...] = ()


def _evolve(d: Decision, **changes: Any) -> Decision:
    """``dataclasses.replace`` without its per-call introspection (~4x cheaper)."""
    global _DECISION_FIELDS
    if not _DECISION_FIELDS:
        _DECISION_FIELDS = tuple(f.name for f in fields(Decision))
    return Decision(*[changes[n] if n in changes else getattr(d, n) for n in _DECISION_FIELDS])


class _PipelineTimeout(Exception):
    """The pipeline's own timeout (not a TimeoutError the function raised)."""


async def _wait_for(awaitable: Any, timeout: float) -> Any:
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.cancel()
        raise _PipelineTimeout(f"timed out after {timeout:g} s")
    return task.result()


def _model_output(a: _Attempt, d: Decision) -> Any:
    """A model's prediction, kept for monitoring (JSON, at most 2 KB); None otherwise."""
    if d.outcome != "executed" or a.sys is None or a.sys.kind != "model":
        return None
    value = _jsonable(d.output)
    return value if len(orjson.dumps(value)) <= 2048 else None


def _request_digest(a: _Attempt) -> str:
    """What an approval approves: the inputs and the context, before any redaction."""
    return _digest({"inputs": a.raw_inputs, "context": a.context})


def _redacted_call(
    a: _Attempt, inputs: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> tuple[tuple[Any, ...], Mapping[str, Any]]:
    """When input guardrails redacted the inputs, the function gets the redacted
    values (by name): what a guardrail removed never reaches the tool."""
    if a.inputs is inputs or not isinstance(a.inputs, Mapping):
        return args, kwargs
    return (), dict(a.inputs)


def _reraise(a: _Attempt, d: Decision) -> None:
    """A governed function's own exception reaches its caller, after the record."""
    if d.outcome == "failed" and a.exc is not None:
        a.exc.add_note(f"tether: recorded as decision {d.id} (ledger index {d.ledger_index})")
        raise a.exc


def _error_for(d: Decision) -> ActionDenied:
    why = "; ".join(d.reasons) or d.outcome
    message = f"{d.action} on {d.system} by {d.actor}: {d.outcome} ({why})"
    if d.outcome == "pending_approval":
        return ApprovalRequired(message, d, d.approval_id or "")
    if d.outcome == "circuit_open":
        return CircuitOpen(message, d)
    if d.outcome == "blocked":
        return GuardrailBlocked(message, d)
    if d.outcome == "rate_limited":
        return RateLimited(message, d, d.retry_after or 0.0)
    if d.outcome == "stopped":
        from tether.errors import RunStopped

        return RunStopped(message, d)
    return ActionDenied(message, d)
