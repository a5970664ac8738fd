"""``tether.client.Client`` against the app in-process (no network), SQLite and PostgreSQL:
the same results and the same exception classes as the SDK."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from tether import errors
from tether.client import Client
from tether.server._errors import Forbidden, Unauthenticated, error_response, status_for

from .conftest import Api

REFUND = {"amount": 5000.0}
LIMIT = {"limit": 10**6}


class InProcess(httpx2.BaseTransport):
    """A sync transport calling an ASGI app on a portal's event loop (no sockets)."""

    def __init__(self, app: Any, portal: BlockingPortal) -> None:
        self._asgi = httpx2.ASGITransport(app, raise_app_exceptions=False)
        self._portal = portal

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        async def send() -> httpx2.Response:
            response = await self._asgi.handle_async_request(request)
            content = await response.aread()
            return httpx2.Response(response.status_code, headers=response.headers,
                                   content=content)  # fmt: skip

        return self._portal.call(send)


@pytest.fixture
def connect(api: Api) -> Iterator[Callable[[str], Client]]:
    """A client per role (or token secret), over the ``api`` fixture's app."""
    opened: list[Client] = []
    with start_blocking_portal() as portal:
        transport = InProcess(api.client.app, portal)

        def make(who: str) -> Client:
            c = Client("http://tether", api.tokens.get(who, who), transport=transport)
            opened.append(c)
            return c

        yield make
        for c in opened:
            c.close()


def test_a_decision_through_the_client_is_in_the_ledger_as_the_token_s_actor(
    api: Api, connect: Callable[[str], Client]
) -> None:
    with connect("service") as c:
        d = c.decide("loan-model", "predict", inputs={"income": 52_000.0})
    assert (d["outcome"], d["allowed"], d["actor"]) == ("allowed", True, "svc:scoring")
    entry = api.t.ledger.get(d["ledger_index"])
    assert ("decision", "svc:scoring", d["id"], {"income": 52_000.0}) == (
        entry.kind, entry.actor, entry.payload["id"], entry.payload["inputs"]
    )  # fmt: skip
    read = connect("auditor").decision(d["id"])
    assert (d["id"], "svc:scoring") == (read["id"], read["record"]["actor"])


def test_approve_over_the_client_then_run(connect: Callable[[str], Client]) -> None:
    agent = connect("agent")
    d = agent.decide("support-bot", "refund", inputs=REFUND, context=LIMIT)
    aid = d["approval_id"]
    assert (d["outcome"], d["allowed"]) == ("pending_approval", False)
    assert [aid] == [a["id"] for a in connect("approver").approvals()["items"]]
    assert connect("approver").approve(aid, "invoice checked")["state"] == "pending"
    assert connect("owner").approve(aid, "ok")["state"] == "approved"
    assert connect("auditor").approval(aid)["state"] == "approved"
    ran = agent.decide("support-bot", "refund", inputs=REFUND, context=LIMIT, approval_id=aid)
    assert ("allowed", aid) == (ran["outcome"], ran["approval_id"])


def test_reject_and_the_empty_inbox(connect: Callable[[str], Client]) -> None:
    d = connect("agent").decide("support-bot", "refund", inputs=REFUND, context=LIMIT)
    assert connect("approver").reject(d["approval_id"], "no invoice")["state"] == "rejected"
    assert connect("admin").approvals(limit=10) == {"items": [], "next": None}


def test_the_kill_switch_over_the_client(connect: Callable[[str], Client]) -> None:
    ops = connect("operator")
    assert ops.trip("action:loan-model/predict", "bad outputs")["state"] == "open"
    assert [b["key"] for b in ops.breakers()["items"]] == ["action:loan-model/predict"]
    d = connect("service").decide("loan-model", "predict", inputs={"income": 1.0})
    assert (d["outcome"], d["allowed"]) == ("circuit_open", False)
    assert ops.reset("action:loan-model/predict", "fixed")["state"] == "closed"
    assert ops.health() == {"status": "ok"}


def test_403_404_422_401_raise_the_sdk_s_classes(
    api: Api, connect: Callable[[str], Client]
) -> None:
    size = api.t.ledger.size
    with pytest.raises(Forbidden, match="role 'service' may not"):
        connect("service").trip("system:loan-model", "not mine")
    with pytest.raises(PermissionError):  # Forbidden is a PermissionError, as in the SDK
        connect("agent").approvals()
    with pytest.raises(errors.NotFound, match="dec_nope"):
        connect("auditor").decision("dec_nope")
    with pytest.raises(LookupError):
        connect("auditor").approval("apr_nope")
    with pytest.raises(errors.InvalidInput, match="system"):
        connect("service").decide("bad name!", "predict")
    with pytest.raises(Unauthenticated):
        connect("not-a-token").decision("dec_nope")
    assert size == api.t.ledger.size  # nothing refused was written


def test_self_approval_is_invalid_input(api: Api, connect: Callable[[str], Client]) -> None:
    api.t.actors.register("user:req", kind="human", roles=["support", "finance_lead"],
                          attributes={"approve_tiers": ["limited"]}, actor="admin")  # fmt: skip
    d = connect(api.token("user:req", "admin")).decide(
        "support-bot", "refund", inputs=REFUND, context=LIMIT
    )
    with pytest.raises(errors.InvalidInput, match="no self-approval"):
        connect(api.token("user:req", "approver")).approve(d["approval_id"], "mine")


# -- the error mapping, one class at a time (no store needed) ------------------------------


def _replying(exc: BaseException) -> Client:
    """A client whose server answers every request with the server's response to ``exc``."""
    reply = error_response(exc)

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(reply.status_code, headers=dict(reply.headers), content=reply.body)

    return Client("http://tether", "t", transport=httpx2.MockTransport(handler))


def _instance(cls: type[errors.TetherError]) -> errors.TetherError:
    if issubclass(cls, errors.PolicyError):
        return cls(["policy.yaml:1:1: bad"])
    return cls("the message")


@pytest.mark.parametrize("name", errors.__all__)
def test_every_sdk_error_comes_back_as_its_class(name: str) -> None:
    cls = getattr(errors, name)
    with _replying(_instance(cls)) as c, pytest.raises(errors.TetherError) as caught:
        c.decision("dec_1")
    if status_for(_instance(cls))[0] == 500:  # the server hides the details of a 500
        assert (errors.TetherError, "internal error") == (type(caught.value), str(caught.value))
    else:
        assert type(caught.value) is cls
        assert str(_instance(cls)) == str(caught.value)


def test_rate_limited_keeps_retry_after() -> None:
    c = _replying(errors.RateLimited("slow down", None, 2.5))
    with c, pytest.raises(errors.RateLimited) as caught:
        c.decide("s", "a")
    assert caught.value.retry_after == 3.0  # Retry-After is whole seconds, rounded up


def test_unknown_types_and_non_json_errors_are_tether_errors() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/healthz":
            return httpx2.Response(502, text="<html>bad gateway</html>")
        return httpx2.Response(418, json={"error": {"type": "Teapot", "message": "short"}})

    with Client("http://x", "t", transport=httpx2.MockTransport(handler)) as c:
        with pytest.raises(errors.TetherError, match="HTTP 502"):
            c.health()
        with pytest.raises(errors.TetherError, match="short") as caught:
            c.decision("dec_1")
    assert type(caught.value) is errors.TetherError
    assert caught.value.__notes__ == ["GET /v1/decisions/dec_1: HTTP 418"]


def test_ids_and_keys_are_escaped_in_paths() -> None:
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.url.raw_path.decode())
        return httpx2.Response(200, json={})

    with Client("http://x", "t", transport=httpx2.MockTransport(handler)) as c:
        c.decision("../x")
        c.trip("action:pay/refund", "r")
        c.approvals(limit=5, cursor="abc")
    assert seen == ["/v1/decisions/..%2Fx", "/v1/breakers/action:pay/refund/trip",
            "/v1/approvals?limit=5&cursor=abc"]  # fmt: skip


class Recording(httpx2.BaseTransport):
    """Passes requests on and remembers (method, path) of each."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self.inner = inner
        self.seen: list[tuple[str, str]] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        self.seen.append((request.method, request.url.path))
        return self.inner.handle_request(request)


def test_the_client_has_a_method_for_every_operation(api: Api) -> None:
    """Each operation of /openapi.json is reachable through a method (and answers as
    the SDK would: data, or the error class it names)."""
    t = api.t
    ran = t.decide("support-bot", "read_customer", actor="agent:support", inputs={"customer": "c"})
    with start_blocking_portal() as portal:
        recording = Recording(InProcess(api.client.app, portal))

        def client(role: str) -> Client:
            return Client("http://tether", api.tokens[role], transport=recording)

        admin, agent = client("admin"), client("agent")
        pending = agent.decide("support-bot", "refund", inputs=REFUND, context=LIMIT)
        aid = pending["approval_id"]
        feed = admin.feed(system="support-bot", limit=1)
        assert [d["id"] for d in feed["items"]] == [pending["id"]]
        assert agent.record_outcome(ran.id, output="done")["status"] == "executed"
        assert client("service").add_feedback({ran.id: 1})["joined"] == [ran.id]
        assert [a["id"] for a in client("approver").approvals(mine=True)["items"]] == [aid]
        overridden = admin.override(aid, "the customer withdrew the request", approve=False)
        assert overridden["state"] == "rejected"
        second = agent.decide("support-bot", "refund", inputs=REFUND, context=LIMIT)
        assert client("approver").reject(second["approval_id"], "no invoice")["state"] == (
            "rejected"
        )
        assert [s["name"] for s in admin.systems()["items"]]
        assert admin.versions("loan-model") == {"items": [], "next": None}
        with pytest.raises(errors.NotFound):
            admin.version("loan-model", 1)
        assert admin.alias_history("loan-model")["items"] == []
        assert admin.gates("loan-model")["current"] is None
        assert admin.gate_versions("loan-model")["items"] == []
        third = agent.decide("support-bot", "refund", inputs=REFUND, context=LIMIT)
        assert client("approver").approve(third["approval_id"], "checked")["state"] == "pending"
        with pytest.raises(errors.TetherError):
            admin.promote("loan-model", 1, "no such version")
        with pytest.raises(errors.TetherError):
            admin.rollback("loan-model", "nothing to roll back")
        assert admin.signals()["items"] == []
        assert admin.checks("loan-model") == {"items": [], "next": None}
        assert admin.receipt(ran.ledger_index)["leaf_index"] == ran.ledger_index
        assert admin.checkpoint()["ledger_size"] >= 1  # the receipt signed one
        assert admin.verify()["ok"] is True
        text = admin.policy()["text"]
        case = {"request": {"system": "loan-model", "action": "predict",
                            "actor": {"id": "svc:scoring", "kind": "service",
                                      "roles": ["scoring"]}},
                "expect": "allow"}  # fmt: skip
        assert admin.test_policy(text, [case]) is not None
        assert admin.replay_policy(text)["summary"]
        assert admin.publish_policy(text, shadow=True) is not None
        ops = client("operator")
        ops.trip("system:loan-model", "drill")
        ops.reset("system:loan-model", "drill over")
        assert ops.breakers()["items"]
        admin.approval(aid)
        admin.decision(ran.id)
    spec = api.client.get("/openapi.json").json()["paths"]
    operations = {(m.upper(), p) for p, item in spec.items() for m in item}
    reached = {
        (m, p) for m, p in operations for method, path in recording.seen
        if m == method and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", p), path)
    }  # fmt: skip
    assert operations - reached - {("GET", "/healthz"), ("GET", "/readyz")} == set()
