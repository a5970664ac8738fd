"""A governed tether behind the HTTP API, and one token per role (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.pipeline.conftest import check_ledger, setup_governance

from tether import Tether
from tether.server import Tokens, create_app

# The actor each role's token speaks for.
ACTORS = {
    "admin": "user:root",
    "owner": "user:own",
    "approver": "user:lea",
    "auditor": "user:aud",
    "operator": "user:ops",
    "service": "svc:scoring",
    "agent": "agent:support",
}


@dataclass
class Api:
    """The app in-process, its tether and a bearer token per role."""

    t: Tether
    client: TestClient
    tokens: dict[str, str]

    def auth(self, role_or_secret: str | None) -> dict[str, str]:
        if role_or_secret is None:
            return {}
        secret = self.tokens.get(role_or_secret, role_or_secret)
        return {"Authorization": f"Bearer {secret}"}

    def call(self, method: str, path: str, who: str | None, **kwargs: Any) -> Any:
        headers = {**self.auth(who), **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def token(self, actor: str, role: str, **kwargs: Any) -> str:
        return Tokens(self.t).create(actor, role, by="user:root", **kwargs)[1]


def governed(t: Tether) -> Tether:
    setup_governance(t)
    # user:own owns both systems through its teams (their registered owners are teams);
    # user:lea may approve every tier but "prohibited" (per-system authorisation).
    t.actors.register("user:own", kind="human", roles=["finance_lead", "credit", "support"],
                      actor="admin")  # fmt: skip
    every_tier = {"approve_tiers": ["minimal", "limited", "high"]}
    for person, roles in (("user:lea", ["finance_lead"]), ("user:max", ["finance_lead"]),
                          ("user:cfo", ["cfo"])):  # fmt: skip
        t.actors.register(person, kind="human", roles=roles, actor="admin", attributes=every_tier)
    t.actors.register("user:aud", kind="human", roles=["auditor"], actor="admin")
    t.actors.register("user:ops", kind="human", roles=["operator"], actor="admin")
    return t


@pytest.fixture
def gov(make_tether: Callable[..., Tether]) -> Iterator[Tether]:
    """A governed tether; after the test its whole ledger must still verify."""
    t = governed(make_tether())
    yield t
    check_ledger(t)


@pytest.fixture
def api(gov: Tether) -> Iterator[Api]:
    """The app over ``gov`` with one token per role (unscoped, no expiry)."""
    tokens = Tokens(gov)
    secrets = {
        role: tokens.create(actor, role, by="user:root")[1] for role, actor in ACTORS.items()
    }
    with TestClient(create_app(gov, max_body_bytes=4096), raise_server_exceptions=False) as c:
        yield Api(gov, c, secrets)


LIFETIME = timedelta(days=30)
