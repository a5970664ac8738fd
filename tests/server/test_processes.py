"""Real ``tether serve`` processes on loopback (issue 6 acceptance).

- Crash durability: concurrent clients submit decisions, the server is killed with
  SIGKILL partway, a second ``tether serve`` opens the same home: every decision whose
  response was received is there at the ledger index it was given, and the ledger verifies.
- Two server processes on one PostgreSQL database serve the same approvals and breakers.

Each server is a process of the test's own Python; its output goes to a log file in
tmp_path, printed (shown by pytest on failure) when the test ends. Every process is
killed with its process group at teardown, whatever happened.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tether import Durability, Settings, Tether
from tether.ledger import verify_ledger
from tether.server import Tokens

from .conftest import ACTORS, governed

# ``tether`` as the console script runs it, on the interpreter running the tests.
TETHER = [sys.executable, "-c", "from tether.cli import main; main()"]
READY_WITHIN = 90.0  # seconds; a server imports numpy, scipy, scikit-learn, ... on start
PREDICT = {"system": "loan-model", "action": "predict"}
REFUND = {"system": "support-bot", "action": "refund", "inputs": {"amount": 5000.0},
          "context": {"limit": 10**6}}  # fmt: skip


def free_port() -> int:
    """A loopback port free right now (the OS picks it for a socket bound to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    """One ``tether serve`` process."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def connect(self, timeout: float = 30.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def call(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> tuple[int, Any]:
        """One request on its own connection: (status, parsed JSON body)."""
        conn = self.connect()
        try:
            return request(conn, method, path, token, body)
        finally:
            conn.close()

    def wait_ready(self) -> None:
        """Poll ``/readyz`` until 200, the process dies, or the deadline passes."""
        deadline = time.monotonic() + READY_WITHIN
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"tether serve exited with {self.proc.returncode}:\n{self.output()}")
            try:
                status, body = self.call("GET", "/readyz")
            except (OSError, http.client.HTTPException) as exc:
                last = repr(exc)
            else:
                if status == 200:
                    return
                last = f"{status} {body}"
            time.sleep(0.05)  # poll interval; the deadline bounds the wait
        pytest.fail(f"tether serve not ready in {READY_WITHIN}s ({last}):\n{self.output()}")

    def stop(self) -> None:
        """SIGTERM (uvicorn shuts down and the app closes the tether), SIGKILL if stuck."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """SIGKILL the server and anything it started (its own process group)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def request(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    token: str | None = None,
    body: Any = None,
) -> tuple[int, Any]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    raw = response.read()
    return response.status, json.loads(raw) if raw else None


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start ``tether serve`` on a home and database; every server is killed at the end."""
    started: list[Server] = []

    def start(home: Path, url: str, **env: str) -> Server:
        port = free_port()
        log = tmp_path / f"server-{len(started)}-{port}.log"
        # Only what the test sets: no TETHER_DURABILITY etc. leaks in from outside,
        # so the server runs with the defaults (durable records).
        environ = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
        environ.update({f"TETHER_{k.upper()}": v for k, v in env.items()})
        argv = [*TETHER, "--home", str(home), "--database-url", url,
                "serve", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=environ, start_new_session=True,
            )  # fmt: skip
        server = Server(proc, port, log)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.kill()
        for server in started:  # pytest shows this only when the test failed
            print(f"----- {server.log.name} (exit {server.proc.returncode}) -----")
            print(server.output())


def prepare(home: Path, url: str) -> tuple[Settings, dict[str, str]]:
    """A governed home (policy, actors) and one token per role (plus a second approver)."""
    settings = Settings(home=home, database_url=url)
    with Tether.init(settings) as t:
        governed(t)
        tokens = Tokens(t)
        secrets = {
            role: tokens.create(actor, role, by="user:root")[1] for role, actor in ACTORS.items()
        }
        secrets["approver2"] = tokens.create("user:max", "approver", by="user:root")[1]
    return settings, secrets


def check_ledger(settings: Settings) -> Tether:
    """Open the tether read-only and verify its whole ledger; the caller closes it."""
    t = Tether.open(settings, read_only=True)
    report = verify_ledger(t.store, t.ledger.verifier)
    assert report.ok, report.summary()
    return t


CLIENTS = 8
PER_CLIENT = 40
KILL_AFTER = 100  # responses received before the SIGKILL


def test_sigkill_under_load_loses_no_answered_decision(
    serve: Callable[..., Server], tmp_path: Path, database_url: str
) -> None:
    settings, tokens = prepare(tmp_path / "home", database_url)
    # The server gets no TETHER_* but ours, so it runs with the default: durable records.
    assert Settings.model_fields["durability"].default == Durability.DURABLE
    server = serve(settings.home, database_url)
    server.wait_ready()

    answered: list[tuple[int, Any]] = []  # (status, body) of every response received
    failures: list[BaseException] = []
    lock = threading.Lock()
    kill_now = threading.Event()

    def client(n: int) -> None:
        conn = server.connect()
        try:
            for i in range(PER_CLIENT):
                body = {**PREDICT, "inputs": {"income": float(n * 1000 + i)}}
                try:
                    result = request(conn, "POST", "/v1/decisions", tokens["service"], body)
                except (OSError, http.client.HTTPException) as exc:
                    with lock:
                        failures.append(exc)
                    return  # the server is gone
                with lock:
                    answered.append(result)
                    if len(answered) >= KILL_AFTER:
                        kill_now.set()
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    assert kill_now.wait(timeout=120), f"only {len(answered)} answers:\n{server.output()}"
    server.kill()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)

    with lock:
        received = list(answered)
    assert len(received) < CLIENTS * PER_CLIENT, "the kill came after the load ended"
    assert failures, "no client saw the server die"
    assert all(status == 200 for status, _ in received), received
    assert {body["outcome"] for _, body in received} == {"allowed"}
    given = {body["id"]: body["ledger_index"] for _, body in received}
    # Durable records: the answer comes after the commit, with the entry's index.
    assert min(given.values()) >= 0
    assert len(given) == len(received)  # one id per decision

    again = serve(settings.home, database_url)  # the restart, on the same home
    again.wait_ready()
    conn = again.connect()
    try:
        for decision_id, index in given.items():
            status, found = request(conn, "GET", f"/v1/decisions/{decision_id}", tokens["auditor"])
            assert status == 200, (decision_id, found)
            assert (found["ledger_index"], found["outcome"], found["record"]["actor"]) == (
                index, "allowed", "svc:scoring"
            )  # fmt: skip
        status, after = request(conn, "POST", "/v1/decisions", tokens["service"],
                                {**PREDICT, "inputs": {"income": 1.0}})  # fmt: skip
        assert (status, after["outcome"]) == (200, "allowed")
    finally:
        conn.close()
    again.stop()

    t = check_ledger(settings)
    try:
        for decision_id, index in given.items():
            entry = t.ledger.get(index)
            assert (entry.kind, entry.payload["id"]) == ("decision", decision_id)
    finally:
        t.close()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_processes_on_one_postgresql_database(
    serve: Callable[..., Server], tmp_path: Path, database_url: str
) -> None:
    settings, tokens = prepare(tmp_path / "home", database_url)
    # Breakers are read on every decision anyway; no cache makes the rest immediate too.
    a = serve(settings.home, database_url, cache_seconds="0")
    b = serve(settings.home, database_url, cache_seconds="0")
    a.wait_ready()
    b.wait_ready()

    # An approval asked through A is in B's inbox, approved through B by two people...
    status, asked = a.call("POST", "/v1/decisions", tokens["agent"], REFUND)
    assert (status, asked["outcome"]) == (200, "pending_approval"), asked
    aid = asked["approval_id"]
    status, inbox = b.call("GET", "/v1/approvals", tokens["approver"])
    assert (status, [x["id"] for x in inbox["items"]]) == (200, [aid])
    status, voted = b.call("POST", f"/v1/approvals/{aid}/approve", tokens["approver"],
                           {"comment": "invoice checked"})  # fmt: skip
    assert (status, voted["state"]) == (200, "pending"), voted
    status, inbox = a.call("GET", "/v1/approvals", tokens["approver2"])
    assert (status, [x["id"] for x in inbox["items"]]) == (200, [aid])
    status, voted = b.call("POST", f"/v1/approvals/{aid}/approve", tokens["approver2"],
                           {"comment": "ok"})  # fmt: skip
    assert (status, voted["state"]) == (200, "approved"), voted
    status, seen = a.call("GET", f"/v1/approvals/{aid}", tokens["auditor"])
    assert (status, seen["state"], len(seen["votes"])) == (200, "approved", 2)

    # ...runs through A once; a second use, through B, is refused.
    status, ran = a.call("POST", "/v1/decisions", tokens["agent"], {**REFUND, "approval_id": aid})
    assert (status, ran["outcome"], ran["approval_id"]) == (200, "allowed", aid), ran
    status, twice = b.call("POST", "/v1/decisions", tokens["agent"],
                           {**REFUND, "approval_id": aid})  # fmt: skip
    assert (status, twice["outcome"]) == (200, "denied"), twice
    assert twice["rules"] == ["tether:approval-not-usable"]

    # A breaker tripped through B stops the next decision through A; reset through A
    # lets the next decision through B.
    predict = {**PREDICT, "inputs": {"income": 52_000.0}}
    status, tripped = b.call("POST", "/v1/breakers/system:loan-model/trip", tokens["operator"],
                             {"reason": "drift alarm"})  # fmt: skip
    assert (status, tripped["state"]) == (200, "open"), tripped
    status, stopped = a.call("POST", "/v1/decisions", tokens["service"], predict)
    assert (status, stopped["outcome"], stopped["allowed"]) == (200, "circuit_open", False)
    status, listed = a.call("GET", "/v1/breakers", tokens["operator"])
    assert [(x["key"], x["state"]) for x in listed["items"]] == [("system:loan-model", "open")]
    status, reset = a.call("POST", "/v1/breakers/system:loan-model/reset", tokens["operator"],
                           {"reason": "retrained"})  # fmt: skip
    assert (status, reset["state"]) == (200, "closed"), reset
    status, resumed = b.call("POST", "/v1/decisions", tokens["service"], predict)
    assert (status, resumed["outcome"]) == (200, "allowed"), resumed

    a.stop()
    b.stop()
    t = check_ledger(settings)
    try:
        entries = [e for e in t.ledger.iter_entries() if e.subject == f"approval/{aid}"]
        assert [(e.kind, e.actor) for e in entries] == [
            ("approval.requested", "agent:support"),
            ("approval.vote", "user:lea"),
            ("approval.approved", "user:max"),
            ("approval.consumed", "agent:support"),
        ]
    finally:
        t.close()
