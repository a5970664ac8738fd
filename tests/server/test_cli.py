"""``tether token create|list|revoke`` and ``tether serve``'s app factory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.cli.harness import Cli, dispose_engines

from tether import Settings, Tether
from tether.cli._serve import app_factory
from tether.server import Tokens


@pytest.fixture
def cli(
    settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cli]:
    monkeypatch.setenv("COLUMNS", "200")  # rich tables wide enough to hold the ids
    with Tether.init(settings) as t:
        t.actors.register("svc:scoring", kind="service", actor="admin")
    yield Cli(settings, capsys, monkeypatch)
    dispose_engines()


def test_create_list_revoke(cli: Cli) -> None:
    out = cli.ok("token", "create", "--actor", "svc:scoring", "--role", "service",
                 "--system", "loan-model", "--expires", "30d", "--by", "user:root")  # fmt: skip
    header, secret = out.splitlines()
    token_id = header.split()[1]
    assert header == f"token {token_id} for svc:scoring (service)"
    with Tether.open(cli.settings) as t:
        found = Tokens(t).verify(secret)
        assert found is not None
        assert (found.actor, found.systems) == ("svc:scoring", ("loan-model",))
    listed = cli.ok("token", "list")
    assert token_id in listed
    assert secret not in listed
    assert f"token {token_id}: revoked\n" == cli.ok("token", "revoke", token_id, "--reason", "x")
    with Tether.open(cli.settings) as t:
        assert Tokens(t).verify(secret) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--role", "root"), "must be one of"),
        (("--role", "service", "--expires", "soon"), "--expires 'soon' is not a duration"),
    ],
)
def test_create_refuses(cli: Cli, args: tuple[str, ...], message: str) -> None:
    result = cli("token", "create", "--actor", "svc:scoring", *args)
    assert result.code == 1
    assert message in result.err


def test_serve_builds_each_worker_s_app_from_the_environment(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TETHER_HOME", str(cli.home))
    monkeypatch.setenv("TETHER_DATABASE_URL", cli.url)
    with TestClient(app_factory()) as client:  # its lifespan closes the tether
        assert client.get("/healthz").json() == {"status": "ok"}


def test_serve_with_otel_traces_each_worker_s_decisions(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TETHER_OTEL (what --otel sets for every worker) instruments the worker's tether."""
    monkeypatch.setenv("TETHER_HOME", str(cli.home))
    monkeypatch.setenv("TETHER_DATABASE_URL", cli.url)
    with TestClient(app_factory()) as plain:
        bare = len(plain.app.state.tether.pipeline.monitors)  # type: ignore[attr-defined]
    monkeypatch.setenv("TETHER_OTEL", "true")
    with TestClient(app_factory()) as traced:
        monitors = traced.app.state.tether.pipeline.monitors  # type: ignore[attr-defined]
        assert len(monitors) == bare + 1
        assert any("otel.Instrumentation" in repr(m) for m in monitors), monitors
