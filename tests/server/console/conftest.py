"""The console in-process: a logged-in browser-like client per role (SQLite and PostgreSQL).

``console(role)`` gives a :class:`ConsoleClient` (a TestClient on ``https://testserver``,
so the ``Secure`` session cookie is sent back) logged in as a console user of that role,
acting as the role's actor of ``tests/server/conftest.py`` (admin: ``user:root``, owner:
``user:own``, approver: ``user:lea``, auditor: ``user:aud``, operator: ``user:ops``).
``client.csrf`` is the session's CSRF token; ``client.form(path, **fields)`` posts a form
with it. ``console(role, systems=["loan-model"])`` logs in a user scoped to systems;
``console.anonymous()`` is a client without a session.

Users are hashed with cheap argon2 parameters here (the app's ``Users`` is given a fast
hasher) so that logging in per test costs milliseconds; tests of the default parameters
and of rehashing live in ``test_auth.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from typing import Any

import httpx2 as httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tests.server.conftest import ACTORS, Api

from tether import Tether
from tether.server._users import Users

PASSWORD = "correct horse battery staple"
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
BASE_URL = "https://testserver"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class ConsoleClient(TestClient):
    """A TestClient with a console session: ``csrf`` is its CSRF token."""

    csrf: str = ""
    username: str = ""

    def form(self, path: str, **fields: Any) -> httpx.Response:
        """POST a form with the session's CSRF token (redirects are not followed)."""
        data = {"csrf_token": self.csrf, **fields}
        return self.post(path, data=data, follow_redirects=False)


def csrf_of(html: str) -> str:
    """The first CSRF token in a page."""
    found = _CSRF.search(html)
    assert found is not None, "no csrf_token field in the page"
    return found.group(1)


class Console:
    """Console users and logged-in clients over one app."""

    def __init__(self, api: Api, stack: ExitStack) -> None:
        self.api = api
        self.t: Tether = api.t
        self.app: FastAPI = api.client.app  # type: ignore[assignment]
        self.users = Users(self.t, hasher=FAST)
        self.app.state.users = self.users
        self._stack = stack
        self._made: set[str] = set()

    def anonymous(self) -> ConsoleClient:
        """A client without a session."""
        client = ConsoleClient(self.app, base_url=BASE_URL, raise_server_exceptions=False)
        return self._stack.enter_context(client)

    def user(
        self, role: str, systems: Sequence[str] | None = None, *, username: str | None = None,
        actor: str | None = None,
    ) -> str:  # fmt: skip
        """Create (once) a console user of ``role``; return the username."""
        name = username or "-".join([role, *(systems or ())])
        if name not in self._made:
            self.users.create(name, actor or ACTORS[role], role, PASSWORD, by="user:root",
                              systems=systems)  # fmt: skip
            self._made.add(name)
        return name

    def login(
        self, username: str, password: str = PASSWORD, client: ConsoleClient | None = None
    ) -> ConsoleClient:
        """Log ``username`` in through the login form; the client keeps the session."""
        client = client or self.anonymous()
        page = client.get("/console/login")
        token = csrf_of(page.text)
        done = client.post(
            "/console/login",
            data={"username": username, "password": password, "csrf_token": token},
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text
        client.username = username
        client.csrf = csrf_of(client.get("/console/").text)
        return client

    def __call__(
        self, role: str, systems: Sequence[str] | None = None, **kwargs: Any
    ) -> ConsoleClient:
        """A client logged in as a (new or existing) user of ``role``."""
        return self.login(self.user(role, systems, **kwargs))


@pytest.fixture
def console(api: Api) -> Iterator[Console]:
    """Logged-in console clients per role over the ``api`` app (same tether)."""
    with ExitStack() as stack:
        yield Console(api, stack)
