"""``POST /v1/decisions?wait=S``: the server waits for people to resolve an approval.

The waiting request runs in a thread of the test while other requests (the votes) go
through the same app: the wait holds no worker thread and does not block the event
loop. A pipeline monitor says when the pending decision is recorded; only then do the
votes start, so nothing depends on timing but the wait bound itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from tether import Tether
from tether.pipeline import Decision

from .conftest import Api

REFUND = {"system": "support-bot", "action": "refund", "inputs": {"amount": 5000.0},
          "context": {"limit": 10**6}}  # fmt: skip
LONG = 30  # seconds: far longer than any test needs; a resolution ends the wait


class Pending:
    """The approval id of the next pending decision the tether records."""

    def __init__(self, t: Tether) -> None:
        self._seen = threading.Event()
        self.approval_id = ""
        t.pipeline.monitors.append(self._monitor)

    def _monitor(self, d: Decision) -> None:
        if d.outcome == "pending_approval" and d.approval_id and not self._seen.is_set():
            self.approval_id = d.approval_id
            self._seen.set()

    def wait(self) -> str:
        assert self._seen.wait(LONG), "no pending decision was recorded"
        return self.approval_id


@pytest.fixture
def background() -> Iterator[Callable[..., Future[Any]]]:
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool.submit


def decisions(t: Tether) -> list[tuple[str, Any]]:
    """(outcome, approval) of every recorded decision, in ledger order."""
    return [(e.payload["outcome"], e.payload["approval"]) for e in t.ledger.iter_entries()
            if e.kind == "decision"]  # fmt: skip


def test_approved_while_waiting_answers_the_final_decision(
    api: Api, background: Callable[..., Future[Any]]
) -> None:
    pending = Pending(api.t)
    waiting = background(api.call, "POST", f"/v1/decisions?wait={LONG}", "agent", json=REFUND)
    aid = pending.wait()
    for who in ("approver", "owner"):  # two finance leads; each vote is its own request
        vote = api.call("POST", f"/v1/approvals/{aid}/approve", who, json={"comment": "ok"})
        assert vote.status_code == 200, vote.json()
    answer = waiting.result(LONG)
    assert answer.status_code == 200, answer.json()
    d = answer.json()
    assert (d["outcome"], d["allowed"], d["approval_id"]) == ("allowed", True, aid)
    assert decisions(api.t) == [("pending_approval", aid), ("allowed", aid)]
    assert api.t.ledger.get(d["ledger_index"]).payload["id"] == d["id"]
    assert api.t.approvals.get(aid).state == "consumed"


def test_rejected_while_waiting_answers_the_denial_with_the_approval_id(
    api: Api, background: Callable[..., Future[Any]]
) -> None:
    pending = Pending(api.t)
    waiting = background(api.call, "POST", f"/v1/decisions?wait={LONG}", "agent", json=REFUND)
    aid = pending.wait()
    no = api.call("POST", f"/v1/approvals/{aid}/reject", "approver", json={"comment": "no invoice"})
    assert no.status_code == 200, no.json()
    d = waiting.result(LONG).json()
    assert (d["outcome"], d["allowed"], d["approval_id"]) == ("denied", False, aid)
    assert d["rules"] == ["tether:approval-not-usable"]
    assert f"approval {aid} is rejected" in d["reasons"][0]
    assert decisions(api.t) == [("pending_approval", aid), ("denied", aid)]


def test_a_vote_in_another_process_ends_the_wait(
    api: Api, make_tether: Callable[..., Tether], background: Callable[..., Future[Any]]
) -> None:
    # Another Tether on the same database stands for another process: its votes do not
    # call this process's callbacks, so the server sees them by looking again.
    elsewhere = make_tether()
    pending = Pending(api.t)
    waiting = background(api.call, "POST", f"/v1/decisions?wait={LONG}", "agent", json=REFUND)
    aid = pending.wait()
    elsewhere.approvals.approve(aid, approver="user:lea", comment="ok")
    elsewhere.approvals.approve(aid, approver="user:max", comment="ok")
    d = waiting.result(LONG).json()
    assert (d["outcome"], d["approval_id"]) == ("allowed", aid)


def test_still_open_when_the_wait_ends_answers_pending(api: Api) -> None:
    response = api.call("POST", "/v1/decisions?wait=0.2", "agent", json=REFUND)
    d = response.json()
    assert (response.status_code, d["outcome"], d["allowed"]) == (200, "pending_approval", False)
    assert api.t.approvals.get(d["approval_id"]).state == "pending"
    assert decisions(api.t) == [("pending_approval", d["approval_id"])]


def test_wait_is_ignored_when_no_approval_is_needed(api: Api) -> None:
    body = {"system": "loan-model", "action": "predict", "inputs": {"income": 1.0}}
    d = api.call("POST", f"/v1/decisions?wait={LONG}", "service", json=body).json()
    assert (d["outcome"], d["approval_id"]) == ("allowed", None)


@pytest.mark.parametrize("wait", ["-1", "60.5", "soon"])
def test_a_bad_wait_is_422_and_nothing_is_recorded(api: Api, wait: str) -> None:
    size = api.t.ledger.size
    response = api.call("POST", f"/v1/decisions?wait={wait}", "agent", json=REFUND)
    assert (response.status_code, response.json()["error"]["type"]) == (422, "InvalidInput")
    assert "wait" in response.json()["error"]["message"]
    assert api.t.ledger.size == size


def test_wait_is_documented(api: Api) -> None:
    post = api.client.get("/openapi.json").json()["paths"]["/v1/decisions"]["post"]
    (param,) = [p for p in post["parameters"] if p["name"] == "wait"]
    assert (param["in"], param["schema"]["minimum"], param["schema"]["maximum"]) == (
        "query", 0, 60,
    )  # fmt: skip
