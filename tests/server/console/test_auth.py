"""Console login, logout, sessions, CSRF, lockout, cookies and security headers."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from tests.server.console.conftest import FAST, PASSWORD, Console, ConsoleClient, csrf_of

from tether.errors import InvalidInput
from tether.server._users import MAX_FAILURES, AccountLocked, LoginFailed, Users
from tether.store.tables import console_sessions, users
from tether.testing import FrozenClock

GENERIC = "Unknown username or wrong password."


def post_login(client: ConsoleClient, username: str, password: str, **extra: str) -> object:
    token = csrf_of(client.get("/console/login").text)
    data = {"username": username, "password": password, "csrf_token": token, **extra}
    return client.post("/console/login", data=data, follow_redirects=False)


def test_login_starts_a_session_in_a_secure_cookie(console: Console) -> None:
    name = console.user("auditor")
    client = console.anonymous()
    first = client.get("/console/", follow_redirects=False)
    assert (first.status_code, first.headers["location"]) == (303, "/console/login?next=/console/")
    form = client.get("/console/login")
    assert 'id="username"' in form.text
    assert 'id="password"' in form.text
    assert 'id="login"' in form.text
    assert 'for="username"' in form.text

    done = post_login(client, name, PASSWORD)

    assert (done.status_code, done.headers["location"]) == (303, "/console/")
    cookie = next(c for c in done.headers.get_list("set-cookie") if "tether_session=" in c)
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=strict", "path=/console"} <= flags
    secret = cookie.split(";")[0].split("=", 1)[1]
    with console.t.store.read() as conn:
        digests = list(conn.execute(select(console_sessions.c.digest)).scalars())
    assert digests == [hashlib.sha256(secret.encode()).hexdigest()]  # never the secret
    page = client.get("/console/")
    assert page.status_code == 200
    assert "user:aud" in page.text
    assert 'id="logout"' in page.text


def test_login_goes_on_to_next_but_only_inside_the_console(console: Console) -> None:
    name = console.user("operator")
    client = console.anonymous()
    done = post_login(client, name, PASSWORD, next="/console/breakers")
    assert done.headers["location"] == "/console/breakers"
    for evil in ("//evil.example/console/", "https://evil.example/", "/v1/ledger/verify"):
        again = console.anonymous()
        assert post_login(again, name, PASSWORD, next=evil).headers["location"] == "/console/"


def test_a_failed_login_says_the_same_whatever_was_wrong(console: Console) -> None:
    name = console.user("auditor")
    console.users.disable(console.user("owner"), by="user:root")
    for username, password in ((name, "wrong password!"), ("nobody", PASSWORD),
                               ("owner", PASSWORD), ("", "")):  # fmt: skip
        client = console.anonymous()
        failed = post_login(client, username, password)
        assert failed.status_code == 401
        assert GENERIC in failed.text
        assert "tether_session" not in failed.headers.get("set-cookie", "")
        assert client.get("/console/", follow_redirects=False).status_code == 303


def test_five_failures_lock_the_account_for_15_minutes(console: Console, clock: FrozenClock
                                                       ) -> None:  # fmt: skip
    name = console.user("approver")
    client = console.anonymous()
    for _ in range(5):
        assert post_login(client, name, "not the password").status_code == 401

    locked = post_login(client, name, PASSWORD)

    assert locked.status_code == 423
    assert "is locked until 2026-01-01 00:15:00 UTC" in locked.text
    assert "tether user unlock approver" in locked.text
    entry = console.t.ledger.tail(1)[0]
    assert (entry.kind, entry.subject) == ("user.locked", "user/approver")
    assert entry.payload["failures"] == 5
    clock.advance(minutes=14, seconds=59)
    assert post_login(client, name, PASSWORD).status_code == 423
    clock.advance(seconds=1)
    assert post_login(client, name, PASSWORD).status_code == 303
    with console.t.store.read() as conn:
        row = conn.execute(select(users.c.failed_logins, users.c.locked_until)).one()
    assert tuple(row) == (0, None)


def test_only_consecutive_failures_count(console: Console) -> None:
    name = console.user("approver")
    for _ in range(4):
        assert post_login(console.anonymous(), name, "nope, not it").status_code == 401
    assert post_login(console.anonymous(), name, PASSWORD).status_code == 303
    for _ in range(4):
        assert post_login(console.anonymous(), name, "nope, not it").status_code == 401
    assert post_login(console.anonymous(), name, PASSWORD).status_code == 303


def test_an_admin_unlocks_an_account(console: Console) -> None:
    name = console.user("approver")
    for _ in range(5):
        post_login(console.anonymous(), name, "not the password")
    console.users.unlock(name, by="user:root", reason="called the helpdesk")
    assert post_login(console.anonymous(), name, PASSWORD).status_code == 303
    assert [e.kind for e in console.t.ledger.tail(2)] == ["user.locked", "user.unlocked"]


def test_logout_ends_the_session_on_the_server(console: Console) -> None:
    client = console("auditor")
    cookie = client.cookies["tether_session"]

    out = client.form("/console/logout")

    assert (out.status_code, out.headers["location"]) == (303, "/console/login")
    assert "You are logged out." in client.get("/console/login").text
    replay = console.anonymous()
    gone = replay.get(
        "/console/", headers={"Cookie": f"tether_session={cookie}"}, follow_redirects=False
    )
    assert (gone.status_code, gone.headers["location"]) == (303, "/console/login?next=/console/")


def test_a_session_ends_after_30_idle_minutes_and_after_12_hours(
    console: Console, clock: FrozenClock
) -> None:
    client = console("auditor")
    clock.advance(minutes=29)
    assert client.get("/console/", follow_redirects=False).status_code == 200
    clock.advance(minutes=29)  # 58 minutes after login, 29 after the last request
    assert client.get("/console/", follow_redirects=False).status_code == 200
    clock.advance(minutes=30)
    assert client.get("/console/", follow_redirects=False).status_code == 303

    busy = console("auditor")
    for _ in range(11 * 3 + 2):  # a request every 20 minutes for 11 h 40 min
        clock.advance(minutes=20)
        assert busy.get("/console/", follow_redirects=False).status_code == 200
    clock.advance(minutes=20)  # 12 h after login
    assert busy.get("/console/", follow_redirects=False).status_code == 303


def test_a_disabled_user_s_session_ends_at_once(console: Console) -> None:
    client = console("operator")
    console.users.disable("operator", by="user:root", reason="left the company")
    assert client.get("/console/", follow_redirects=False).status_code == 303
    assert post_login(console.anonymous(), "operator", PASSWORD).status_code == 401


def test_a_deactivated_actor_s_session_ends(console: Console) -> None:
    client = console("auditor")
    console.t.actors.deactivate("user:aud", actor="user:root", reason="left")
    assert client.get("/console/", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("token", [None, "", "forged-token-of-the-right-length-0000000000"])
def test_a_post_without_the_session_s_csrf_token_is_refused(
    console: Console, token: str | None
) -> None:
    client = console("operator")
    size = console.t.ledger.size
    data = {"key": "system:loan-model", "reason": "test", "confirm": "yes"}
    if token is not None:
        data["csrf_token"] = token

    refused = client.post("/console/breakers/trip", data=data, follow_redirects=False)

    assert refused.status_code == 403
    assert "security token is missing or out of date" in refused.text
    assert refused.headers["content-type"].startswith("text/html")
    assert console.t.breakers.state("system:loan-model").state == "closed"
    assert console.t.ledger.size == size
    out = client.post("/console/logout", data=data, follow_redirects=False)
    assert out.status_code == 403
    assert client.get("/console/", follow_redirects=False).status_code == 200  # still in


def test_the_login_form_needs_its_own_csrf_token(console: Console) -> None:
    name = console.user("auditor")
    client = console.anonymous()
    client.get("/console/login")
    data = {"username": name, "password": PASSWORD, "csrf_token": "x" * 43}
    refused = client.post("/console/login", data=data, follow_redirects=False)
    assert refused.status_code == 403
    assert "tether_session" not in refused.headers.get("set-cookie", "")


def test_console_pages_carry_security_headers(console: Console) -> None:
    client = console("auditor")
    for path in ("/console/", "/console/login", "/console/no-such-page"):
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "'unsafe-inline'" not in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["cache-control"] == "no-store"
    css = client.get("/console/static/console.css")
    assert css.status_code == 200
    assert "cache-control" not in css.headers
    api = console.api.call("GET", "/healthz", None)
    assert "content-security-policy" not in api.headers


def test_console_errors_are_pages_and_api_errors_stay_json(console: Console) -> None:
    client = console("auditor")
    missing = client.get("/console/no-such-page")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert 'data-test="error"' in missing.text
    assert "user:aud" in missing.text
    refused = client.form("/console/breakers/trip", key="system:loan-model", reason="x",
                          confirm="yes")  # fmt: skip
    assert refused.status_code == 403
    assert "your role &#39;auditor&#39; may not do this" in refused.text
    api = console.api.call("GET", "/v1/no-such-thing", "admin")
    assert api.status_code == 404
    assert api.json()["error"]["type"] == "NotFound"
    assert console.api.call("GET", "/v1/breakers", None).status_code == 401


def test_a_login_rehashes_a_password_hashed_with_old_parameters(console: Console) -> None:
    name = console.user("auditor")  # hashed with the cheap test parameters
    current = Users(console.t)  # argon2-cffi's default parameters
    current.authenticate(name, PASSWORD)
    with console.t.store.read() as conn:
        stored = conn.execute(select(users.c.password_hash)).scalar_one()
    assert not PasswordHasher().check_needs_rehash(stored)
    assert stored.startswith("$argon2id$")
    assert current.authenticate(name, PASSWORD).actor == "user:aud"


def test_users_are_ledgered_without_their_passwords(console: Console) -> None:
    console.user("admin")
    console.users.disable("admin", by="user:root", reason="rotated")
    entries = [e for e in console.t.ledger.iter_entries() if e.kind.startswith("user.")]
    assert [e.kind for e in entries] == ["user.created", "user.disabled"]
    assert entries[0].payload == {"username": "admin", "actor": "user:root", "role": "admin",
                                  "systems": None}  # fmt: skip
    assert PASSWORD not in str([e.payload for e in entries])


@pytest.mark.parametrize(
    ("username", "actor", "role", "password", "message"),
    [
        ("ann", "user:aud", "auditor", "short", "use at least 12"),
        ("ann", "user:nobody", "auditor", PASSWORD, "not a registered, active person"),
        ("ann", "agent:support", "auditor", PASSWORD, "not a registered, active person"),
        ("ann", "user:aud", "service", PASSWORD, "must be one of admin, owner"),
        ("Ann Smith", "user:aud", "auditor", PASSWORD, "lowercase letters"),
    ],
)
def test_creating_a_user_refuses_bad_input(
    console: Console, username: str, actor: str, role: str, password: str, message: str
) -> None:
    size = console.t.ledger.size
    with pytest.raises(InvalidInput, match=message):
        Users(console.t, hasher=FAST).create(username, actor, role, password, by="user:root")
    assert console.t.ledger.size == size


@pytest.mark.parametrize(
    ("base_url", "warned"),
    [("http://console.example", True), ("https://console.example", False),
     ("http://127.0.0.1:8765", False), ("http://localhost:8765", False)],
)  # fmt: skip
def test_the_login_page_warns_when_the_cookie_cannot_work(
    console: Console, base_url: str, warned: bool
) -> None:
    client = ConsoleClient(console.app, base_url=base_url)
    page = client.get("/console/login")
    assert ('data-test="insecure"' in page.text) is warned


def test_a_logged_in_user_skips_the_login_form(console: Console) -> None:
    client = console("auditor")
    again = client.get("/console/login?next=/console/breakers", follow_redirects=False)
    assert (again.status_code, again.headers["location"]) == (303, "/console/breakers")


class _Counting(PasswordHasher):
    """argon2 with cheap parameters that counts the passwords it checks and holds each
    check until ``together`` of them run at once (or 2 s pass: then fewer ever did)."""

    def __init__(self, together: int) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.checked = 0
        self._lock = threading.Lock()
        self._barrier = threading.Barrier(together, timeout=2)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        with self._lock:
            self.checked += 1
        with contextlib.suppress(threading.BrokenBarrierError):
            self._barrier.wait()
        return super().verify(hash, password)


def test_parallel_guesses_cannot_outrun_the_lockout(console: Console) -> None:
    """Each attempt is counted before its password is checked: twelve guesses at once
    get MAX_FAILURES checks, the rest are refused as locked, and then even the right
    password is refused until the lock ends."""
    console.user("auditor", username="ann")
    hasher = _Counting(together=MAX_FAILURES)
    service = Users(console.t, hasher=hasher)

    def guess(n: int) -> str:
        try:
            service.authenticate("ann", f"wrong guess number {n}")
        except AccountLocked:
            return "locked"
        except LoginFailed:
            return "failed"
        return "in"

    with ThreadPoolExecutor(12) as pool:
        results = sorted(pool.map(guess, range(12)))
    assert hasher.checked == MAX_FAILURES
    assert results == ["failed"] * MAX_FAILURES + ["locked"] * (12 - MAX_FAILURES)
    with pytest.raises(AccountLocked):
        service.authenticate("ann", PASSWORD)


def test_an_unexpected_error_page_carries_the_security_headers(console: Console) -> None:
    """A 500 is answered by the outermost error handler, outside the headers' middleware."""
    client = console("auditor")

    def boom() -> None:
        raise RuntimeError("a bug")

    client.app.add_api_route("/console/boom", boom)  # type: ignore[attr-defined]
    r = client.get("/console/boom")
    assert r.status_code == 500
    assert "a bug" not in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers.get_list("x-frame-options") == ["DENY"]
