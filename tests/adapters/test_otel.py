"""OpenTelemetry spans for decisions: one span per decision, GenAI conventions for an
agent's tool calls, tether.* attributes, the caller's trace continued, and tether
working without OpenTelemetry installed."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

from tether import ConfigurationError, Tether
from tether.adapters.otel import INSTALL, Instrumentation, instrument
from tether.policy import Policy

POLICY = """\
policy: otel-test
systems:
  support-bot: {kind: agent, owner: support, risk_tier: limited}
  loan-model: {kind: model, owner: credit, risk_tier: high}
actions:
  lookup: {args: {customer: string}}
  refund: {args: {amount: number}}
  predict: {args: {income: number}}
rules:
  - id: support-may-act
    systems: [support-bot]
    actions: [lookup, refund]
    effect: allow
  - id: model-predicts
    systems: [loan-model]
    actions: [predict]
    effect: allow
  - id: big-refund
    actions: [refund]
    when: action.args.amount > 1000
    effect: require_approval
    approvers: {roles: [finance_lead]}
    reason: refunds above 1,000 need a finance lead
"""


class Traced:
    """A governed tether instrumented with a private provider and an in-memory exporter."""

    def __init__(self, t: Tether) -> None:
        self.t = t
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracing = instrument(t, tracer_provider=self.provider)

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def only(self) -> ReadableSpan:
        (span,) = self.spans()
        return span


def governed(t: Tether) -> Tether:
    a = t.actors.register
    a("agent:support", kind="agent", roles=["support"], attributes={"name": "Support Bot"},
      actor="admin")  # fmt: skip
    a("agent:plain", kind="agent", roles=["support"], actor="admin")
    a("svc:scoring", kind="service", roles=["scoring"], actor="admin")
    a("svc:runner", kind="service", roles=["runner"], actor="admin")
    t.policies.publish(Policy.from_text(POLICY, "otel.yaml"), actor="user:root")
    return t


@pytest.fixture
def traced(make_tether: Callable[..., Tether]) -> Iterator[Traced]:
    traced = Traced(governed(make_tether()))
    yield traced
    traced.tracing.uninstrument()
    traced.provider.shutdown()


def test_an_agents_tool_call_is_an_execute_tool_span(traced: Traced) -> None:
    d = traced.t.decide("support-bot", "lookup", actor="agent:support",
                        inputs={"customer": "c-secret"})  # fmt: skip
    span = traced.only()
    assert (span.name, span.kind, span.status.status_code) == (
        "execute_tool lookup", SpanKind.INTERNAL, StatusCode.UNSET,
    )  # fmt: skip
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "lookup",
        "gen_ai.agent.id": "agent:support",
        "gen_ai.agent.name": "Support Bot",
        "tether.decision_id": d.id,
        "tether.system": "support-bot",
        "tether.action": "lookup",
        "tether.actor": "agent:support",
        "tether.verdict": "allow",
        "tether.outcome": "allowed",
        "tether.rule_ids": ("support-may-act",),
        "tether.policy_version": 1,
        "tether.ledger_index": d.ledger_index,
    }
    # the span covers the decision, from the pipeline's start to the recorded entry
    assert span.end_time is not None
    assert span.start_time is not None
    assert span.end_time - span.start_time == 1000 * d.latency_us["total"]
    assert d.latency_us["total"] > 0


def test_an_agent_without_a_name_is_named_by_its_id(traced: Traced) -> None:
    traced.t.decide("support-bot", "lookup", actor="agent:plain", inputs={"customer": "c1"})
    attributes = traced.only().attributes or {}
    assert (attributes["gen_ai.agent.id"], attributes["gen_ai.agent.name"]) == (
        "agent:plain", "agent:plain",
    )  # fmt: skip


def test_a_service_acting_on_an_agent_system_is_that_agents_tool_call(traced: Traced) -> None:
    traced.t.decide("support-bot", "lookup", actor="svc:runner", inputs={"customer": "c1"})
    span = traced.only()
    attributes = dict(span.attributes or {})
    assert span.name == "execute_tool lookup"
    assert attributes["gen_ai.agent.name"] == "support-bot"
    assert "gen_ai.agent.id" not in attributes
    assert attributes["tether.actor"] == "svc:runner"


def test_other_decisions_are_tether_decide_spans_without_gen_ai_attributes(
    traced: Traced,
) -> None:
    d = traced.t.decide("loan-model", "predict", actor="svc:scoring", inputs={"income": 1.0})
    span = traced.only()
    attributes = dict(span.attributes or {})
    assert span.name == "tether.decide predict"
    assert [k for k in attributes if k.startswith("gen_ai.")] == []
    assert (attributes["tether.decision_id"], attributes["tether.rule_ids"]) == (
        d.id, ("model-predicts",),
    )  # fmt: skip


def test_a_denial_is_a_normal_outcome_not_an_error(traced: Traced) -> None:
    d = traced.t.decide("loan-model", "refund", actor="svc:scoring", inputs={"amount": 5})
    span = traced.only()
    attributes = span.attributes or {}
    assert d.outcome == "denied"
    assert span.status.status_code == StatusCode.UNSET
    assert "error.type" not in attributes
    assert (attributes["tether.verdict"], attributes["tether.outcome"]) == ("deny", "denied")
    assert attributes["tether.rule_ids"] == d.rules


def test_an_unknown_actor_is_denied_and_traced_without_agent_attributes(traced: Traced) -> None:
    traced.t.decide("loan-model", "predict", actor="svc:nobody", inputs={"income": 1.0})
    span = traced.only()
    attributes = span.attributes or {}
    assert (span.name, attributes["tether.outcome"]) == ("tether.decide predict", "denied")
    assert attributes["tether.rule_ids"] == ("tether:unknown-actor",)


def test_a_deactivated_agent_is_still_traced_as_that_agent(traced: Traced) -> None:
    traced.t.actors.deactivate("agent:support", actor="user:root", reason="incident 7")
    traced.t.actors.deactivate("svc:runner", actor="user:root", reason="incident 7")
    traced.t.decide("support-bot", "lookup", actor="agent:support", inputs={"customer": "c"})
    traced.t.decide("support-bot", "lookup", actor="svc:runner", inputs={"customer": "c"})
    agent, service = traced.spans()
    assert (agent.name, (agent.attributes or {})["gen_ai.agent.id"]) == (
        "execute_tool lookup", "agent:support",
    )  # fmt: skip
    assert (agent.attributes or {})["tether.rule_ids"] == ("tether:inactive-actor",)
    # the pipeline stopped before it read the system, so the span does not read it either
    assert service.name == "tether.decide lookup"


def test_a_pending_approval_carries_its_approval_id(traced: Traced) -> None:
    d = traced.t.decide("support-bot", "refund", actor="agent:support", inputs={"amount": 5000})
    attributes = traced.only().attributes or {}
    assert d.approval_id
    assert (attributes["tether.verdict"], attributes["tether.outcome"]) == (
        "require_approval", "pending_approval",
    )  # fmt: skip
    assert attributes["tether.approval_id"] == d.approval_id
    assert attributes["tether.rule_ids"] == ("big-refund",)
    assert traced.only().status.status_code == StatusCode.UNSET


def test_a_failing_governed_function_is_an_error_span(traced: Traced) -> None:
    @traced.t.governed("support-bot", "lookup", actor="agent:support")
    def lookup(customer: str) -> str:
        raise ValueError(f"no customer {customer}")

    with pytest.raises(ValueError, match="no customer c-secret"):
        lookup(customer="c-secret")
    span = traced.only()
    attributes = span.attributes or {}
    assert (attributes["tether.outcome"], attributes["error.type"]) == ("failed", "ValueError")
    assert span.status.status_code == StatusCode.ERROR
    # the exception's message may quote the inputs: the span names the type and the decision
    assert "c-secret" not in (span.status.description or "")
    assert attributes["tether.decision_id"] in (span.status.description or "")


def test_a_timed_out_governed_function_is_a_timeout_error(traced: Traced) -> None:
    release = threading.Event()

    @traced.t.governed("support-bot", "lookup", actor="agent:support", timeout=0.01)
    def lookup(customer: str) -> str:
        release.wait(10)  # held until the pipeline gave up on it
        return customer

    try:
        with pytest.raises(TimeoutError):
            lookup(customer="c1")
    finally:
        release.set()
    attributes = traced.only().attributes or {}
    assert (attributes["tether.outcome"], attributes["error.type"]) == ("failed", "timeout")


def test_an_executed_step_of_a_run_carries_the_run_id(traced: Traced) -> None:
    with traced.t.run("ticket", system="support-bot", actor="agent:support") as run:
        assert run.step("lookup", lambda customer: "found", customer="c1") == "found"
    attributes = traced.only().attributes or {}
    assert (attributes["tether.outcome"], attributes["tether.run_id"]) == ("executed", run.id)
    assert traced.only().status.status_code == StatusCode.UNSET


def test_a_pipeline_failure_is_an_error_span(
    traced: Traced, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable() -> None:
        raise RuntimeError("policy store unreachable")

    monkeypatch.setattr(traced.t.policies, "enforced", unreachable)
    d = traced.t.decide("support-bot", "lookup", actor="agent:support", inputs={"customer": "c"})
    span = traced.only()
    attributes = span.attributes or {}
    assert (d.outcome, d.rules) == ("denied", ("tether:internal-error",))
    assert span.status.status_code == StatusCode.ERROR
    assert attributes["error.type"] == "tether:internal-error"


def test_the_span_is_a_child_of_the_callers_span(traced: Traced) -> None:
    tracer = traced.provider.get_tracer("caller")
    with tracer.start_as_current_span("handle request") as parent:
        traced.t.decide("support-bot", "lookup", actor="agent:support", inputs={"customer": "c"})
    decision = next(s for s in traced.spans() if s.name == "execute_tool lookup")
    assert decision.parent is not None
    assert decision.parent.span_id == parent.get_span_context().span_id
    assert decision.context is not None
    assert decision.context.trace_id == parent.get_span_context().trace_id


def test_without_a_current_span_the_decision_starts_a_trace(traced: Traced) -> None:
    traced.t.decide("support-bot", "lookup", actor="agent:support", inputs={"customer": "c"})
    assert traced.only().parent is None


def test_async_decisions_continue_the_callers_trace(traced: Traced) -> None:
    tracer = traced.provider.get_tracer("caller")

    async def handle(customer: str) -> tuple[int, str]:
        with tracer.start_as_current_span(f"task {customer}") as parent:
            d = await traced.t.pipeline.decide_async(
                "support-bot", "lookup", actor="agent:support", inputs={"customer": customer}
            )
            return parent.get_span_context().span_id, d.id

    async def main() -> list[tuple[int, str]]:
        return list(await asyncio.gather(handle("c1"), handle("c2")))

    expected = asyncio.run(main())
    spans = {
        (s.attributes or {}).get("tether.decision_id"): s
        for s in traced.spans()
        if s.name == "execute_tool lookup"
    }
    for parent_id, decision_id in expected:
        parent = spans[decision_id].parent
        assert parent is not None
        assert parent.span_id == parent_id


def test_a_decision_made_over_http_belongs_to_the_requests_trace(traced: Traced) -> None:
    from fastapi.testclient import TestClient

    from tether.server import Tokens, create_app

    tracer = traced.provider.get_tracer("asgi")
    app = create_app(traced.t)

    async def traced_app(scope: Any, receive: Any, send: Any) -> None:
        # what an ASGI instrumentation does: the request's span is current in the app
        with tracer.start_as_current_span(f"{scope['type']} request"):
            await app(scope, receive, send)

    secret = Tokens(traced.t).create("agent:support", "agent", by="user:root")[1]
    body = {"system": "support-bot", "action": "lookup", "inputs": {"customer": "c1"}}
    with TestClient(traced_app) as client:  # type: ignore[arg-type]
        response = client.post(
            "/v1/decisions", json=body, headers={"Authorization": f"Bearer {secret}"}
        )
    assert response.status_code == 200, response.text
    spans = {s.name: s for s in traced.spans()}
    decision, request = spans["execute_tool lookup"], spans["http request"]
    assert decision.parent is not None
    assert decision.parent.span_id == request.get_span_context().span_id
    assert (decision.attributes or {})["tether.decision_id"] == response.json()["id"]


def test_with_async_durability_the_ledger_index_is_left_out(
    make_tether: Callable[..., Tether],
) -> None:
    traced = Traced(governed(make_tether(durability="async")))
    try:
        d = traced.t.decide("support-bot", "lookup", actor="agent:support",
                            inputs={"customer": "c"})  # fmt: skip
        assert d.ledger_index == -1
        assert d.record is not None
        attributes = traced.only().attributes or {}
        assert attributes["tether.decision_id"] == d.id
        assert "tether.ledger_index" not in attributes
        d.record.result(timeout=30)
    finally:
        traced.tracing.uninstrument()


def test_uninstrument_stops_the_spans_and_costs_nothing_after(traced: Traced) -> None:
    t, tracing = traced.t, traced.tracing
    t.decide("support-bot", "lookup", actor="agent:support", inputs={"customer": "c"})
    assert tracing.active
    monitors_before = len(t.pipeline.monitors)
    tracing.uninstrument()
    tracing.uninstrument()  # a second call changes nothing
    assert not tracing.active
    assert len(t.pipeline.monitors) == monitors_before - 1
    t.decide("support-bot", "lookup", actor="agent:support", inputs={"customer": "c"})
    assert len(traced.spans()) == 1
    again = instrument(t, tracer_provider=traced.provider)  # may be instrumented anew
    t.decide("support-bot", "lookup", actor="agent:support", inputs={"customer": "c"})
    assert len(traced.spans()) == 2
    again.uninstrument()


def test_instrumenting_twice_is_refused(traced: Traced) -> None:
    with pytest.raises(ConfigurationError, match="already instrumented"):
        instrument(traced.t, tracer_provider=traced.provider)
    assert isinstance(traced.tracing, Instrumentation)
    assert traced.tracing.active


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_tether_works_without_opentelemetry_and_says_how_to_install_it() -> None:
    done = _run_python(
        """
        import importlib.abc, sys

        class NoOpenTelemetry(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "opentelemetry" or name.startswith("opentelemetry."):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, NoOpenTelemetry())
        import tether
        from tether.adapters import otel
        from tether.errors import ConfigurationError
        from tether.testing import temporary_tether

        t = temporary_tether()
        t.actors.register("agent:a", kind="agent", actor="admin")
        print(t.decide("bot", "ping", actor="agent:a").outcome)
        try:
            otel.instrument(t)
        except ConfigurationError as exc:
            print("ConfigurationError:", exc)
        t.close()
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
        """
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "denied"
    assert lines[1].startswith("ConfigurationError: tracing decisions needs OpenTelemetry")
    assert lines[1].endswith(INSTALL)
    assert lines[2] == "[]"


def test_import_tether_does_not_import_opentelemetry() -> None:
    done = _run_python(
        """
        import sys
        import tether, tether.core, tether.pipeline, tether.adapters.otel
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
        """
    )
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr


def test_without_a_provider_the_global_one_is_used() -> None:
    done = _run_python(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter)
        from tether.adapters.otel import instrument
        from tether.testing import temporary_tether

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        t = temporary_tether()
        instrument(t)
        t.decide("bot", "ping", actor="agent:nobody")
        print([s.name for s in exporter.get_finished_spans()])
        t.close()
        """
    )
    assert (done.returncode, done.stdout.strip()) == (0, "['tether.decide ping']"), done.stderr
