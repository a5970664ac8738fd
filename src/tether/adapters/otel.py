"""OpenTelemetry spans for decisions (``pip install 'tether[otel]'``).

:func:`instrument` makes every decision of a tether one span, emitted when the
decision is recorded, through the tracer provider you configured (the global one
unless you pass another). tether never configures an exporter, a sampler or a
network destination itself: what happens to the spans is your OpenTelemetry SDK
set-up (see ``docs/telemetry.md``).

The span follows the OpenTelemetry GenAI semantic conventions where they apply:

- an **agent's tool call** (the actor is an agent, or the system is an inventoried
  agent) is ``execute_tool {action}`` with ``gen_ai.operation.name = execute_tool``,
  ``gen_ai.tool.name`` (the action) and ``gen_ai.agent.id`` / ``gen_ai.agent.name``;
- **any other decision** (a model's prediction, a person's promotion, a workflow
  step) is ``tether.decide {action}`` and carries no ``gen_ai.*`` attribute, since
  none of the GenAI operations describes it.

Every span is ``INTERNAL``, a child of the context current where the decision was
made (so the caller's trace continues), starts when the pipeline started on the
decision and ends when it was recorded, and carries ``tether.*`` attributes:
``tether.decision_id``, ``tether.system``, ``tether.action``, ``tether.actor``,
``tether.verdict`` (the effect: allow / deny / require_approval), ``tether.outcome``,
``tether.rule_ids``, and when known ``tether.policy_version``,
``tether.approval_id``, ``tether.ledger_index`` and ``tether.run_id``. Inputs,
outputs and reasons never go into a span (``gen_ai.tool.call.arguments`` and
``.result`` are opt-in in the conventions, and tether's redactions apply to its
ledger): look the decision up by its id.

Status: a denial, a pending approval, a block, a rate limit or an open breaker is a
normal outcome of governance, so the status stays unset. The status is ``ERROR``
(with ``error.type``) only when something failed: the governed function raised or
timed out (outcome ``failed``; ``error.type`` is the exception's class name, or
``timeout``), or the pipeline failed and denied the action to fail closed
(``error.type`` is ``tether:internal-error``).

Example:
    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    >>> from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    ...     InMemorySpanExporter)
    >>> from tether.testing import temporary_tether
    >>> exporter = InMemorySpanExporter()
    >>> provider = TracerProvider()
    >>> provider.add_span_processor(SimpleSpanProcessor(exporter))
    >>> t = temporary_tether()
    >>> tracing = instrument(t, tracer_provider=provider)
    >>> d = t.decide("support-bot", "refund", actor="agent:nobody")
    >>> [(s.name, s.attributes["tether.outcome"]) for s in exporter.get_finished_spans()]
    [('tether.decide refund', 'denied')]
    >>> tracing.uninstrument()
    >>> t.close()
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tether.errors import ConfigurationError
from tether.pipeline import Decision
from tether.pipeline._pipeline import INTERNAL_ERROR

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer, TracerProvider

    from tether.core import Tether

__all__ = ["INSTALL", "Instrumentation", "instrument"]

INSTALL = "pip install 'tether[otel]'"
"""The command that installs what tracing needs."""
_SCOPE = "tether"


def instrument(tether: Tether, tracer_provider: TracerProvider | None = None) -> Instrumentation:
    """Emit one span per decision of ``tether`` until :meth:`Instrumentation.uninstrument`.

    Args:
        tether: the tether whose decisions to trace.
        tracer_provider: where spans go; default the global provider
            (``opentelemetry.trace.set_tracer_provider``). With no provider
            configured, OpenTelemetry's API makes the spans no-ops.

    Raises:
        ConfigurationError: OpenTelemetry is not installed (the message gives the
            install command), or the tether is already instrumented.
    """
    try:
        from opentelemetry import trace
    except ImportError as exc:
        raise ConfigurationError(
            f"tracing decisions needs OpenTelemetry, which is not installed: {INSTALL}"
        ) from exc
    if any(isinstance(getattr(m, "__self__", None), Instrumentation)
           for m in tether.pipeline.monitors):  # fmt: skip
        raise ConfigurationError(
            "this tether is already instrumented for OpenTelemetry: call uninstrument() "
            "on the first Instrumentation before instrumenting it again"
        )
    from tether import __version__

    provider = tracer_provider or trace.get_tracer_provider()
    tracing = Instrumentation(tether, provider.get_tracer(_SCOPE, __version__))
    tether.pipeline.monitors.append(tracing._on_decision)
    return tracing


class Instrumentation:
    """Spans for the decisions of one tether; made by :func:`instrument`.

    Example:
        >>> from opentelemetry.trace import NoOpTracerProvider
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> tracing = instrument(t, tracer_provider=NoOpTracerProvider())
        >>> tracing.active
        True
        >>> tracing.uninstrument()
        >>> tracing.active
        False
        >>> t.close()
    """

    def __init__(self, tether: Tether, tracer: Tracer) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        self._t = tether
        self.tracer = tracer
        self._kind = SpanKind.INTERNAL
        self._error = StatusCode.ERROR
        self._status = Status
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        """True while decisions are traced."""
        return self._on_decision in self._t.pipeline.monitors

    def uninstrument(self) -> None:
        """Stop emitting spans (decisions being recorded may still finish theirs)."""
        with self._lock:
            if self._on_decision in self._t.pipeline.monitors:
                self._t.pipeline.monitors.remove(self._on_decision)

    def _on_decision(self, d: Decision) -> None:
        """The pipeline's monitor hook: called in the thread (and the context) that
        recorded ``d``, right after it was recorded."""
        end = time.time_ns()
        start = end - 1000 * d.latency_us.get("total", 0)
        name, attributes = self._describe(d)
        failure = _failure(d)
        if failure is not None:
            attributes["error.type"] = failure
        span = self.tracer.start_span(
            name, kind=self._kind, attributes=attributes, start_time=start
        )
        if failure is not None:
            what = "the action failed" if d.outcome == "failed" else "the pipeline failed"
            span.set_status(self._status(self._error, f"{what} ({failure}): decision {d.id}"))
        span.end(end_time=end)

    def _describe(self, d: Decision) -> tuple[str, dict[str, Any]]:
        """The span's name and attributes."""
        attributes: dict[str, Any] = {
            "tether.decision_id": d.id,
            "tether.system": d.system,
            "tether.action": d.action,
            "tether.actor": d.actor,
            "tether.verdict": d.effect,
            "tether.outcome": d.outcome,
            "tether.rule_ids": list(d.rules),
        }
        if d.policy_version is not None:
            attributes["tether.policy_version"] = d.policy_version
        if d.approval_id is not None:
            attributes["tether.approval_id"] = d.approval_id
        if d.ledger_index >= 0:  # with TETHER_DURABILITY=async it is not known yet
            attributes["tether.ledger_index"] = d.ledger_index
        if d.run_id is not None:
            attributes["tether.run_id"] = d.run_id
        agent = self._agent(d)
        if agent is None:
            return f"tether.decide {d.action}", attributes
        attributes["gen_ai.operation.name"] = "execute_tool"
        attributes["gen_ai.tool.name"] = d.action
        attributes.update(agent)
        return f"execute_tool {d.action}", attributes

    def _agent(self, d: Decision) -> dict[str, str] | None:
        """The ``gen_ai.agent.*`` attributes when ``d`` is an agent's tool call."""
        actor = self._t.actors.cached(d.actor)  # the pipeline just read it: cached
        if actor is None:
            return None
        if actor.kind == "agent":
            name = _text(actor.attributes, "name") or actor.id
            return {"gen_ai.agent.id": actor.id, "gen_ai.agent.name": name}
        if not actor.active:
            return None  # the pipeline stopped before it read the system: no extra read
        system = self._t.systems.cached(d.system)
        if system is not None and system.kind == "agent":
            return {"gen_ai.agent.name": system.name}
        return None


def _failure(d: Decision) -> str | None:
    """``error.type`` of a decision that failed; None for every normal outcome."""
    if d.outcome == "failed":
        error = d.error or ""
        if error.startswith("timed out"):  # the pipeline's own timeout
            return "timeout"
        head, colon, _ = error.partition(":")
        return head if colon and head.isidentifier() else "_OTHER"
    if INTERNAL_ERROR in d.rules:
        return INTERNAL_ERROR
    return None


def _text(values: Mapping[str, Any], key: str) -> str | None:
    value = values.get(key)
    return value if isinstance(value, str) and value else None
