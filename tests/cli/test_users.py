"""``tether user create|list|disable|unlock``: console users from the command line."""

from __future__ import annotations

import pytest

from tether import Settings, Tether
from tether.server._users import LoginFailed, Users

from .harness import Cli

PASSWORD = "correct horse battery staple"


@pytest.fixture
def people(cli: Cli, settings: Settings) -> Cli:
    with Tether.init(settings) as t:
        t.actors.register("user:ann", kind="human", actor="admin")
        t.actors.register("svc:scoring", kind="service", actor="admin")
    return cli


def login(settings: Settings, username: str, password: str = PASSWORD) -> str:
    with Tether.open(settings) as t:
        return Users(t).authenticate(username, password).actor


def test_create_reads_the_password_from_stdin(people: Cli) -> None:
    out = people.ok("user", "create", "--username", "ann", "--actor", "user:ann",
                    "--role", "admin", "--system", "loan-model", "--by", "user:root",
                    "--password-stdin", stdin=f"{PASSWORD}\n".encode())  # fmt: skip
    assert out == "user ann created: acts as user:ann, role admin, loan-model\n"
    assert login(people.settings, "ann") == "user:ann"
    listed = people.ok("user", "list")
    assert "ann" in listed
    assert "user:ann" in listed
    assert "loan-model" in listed
    assert PASSWORD not in listed
    with Tether.open(people.settings) as t:
        created = t.ledger.tail(1)[0]
    assert (created.kind, created.actor) == ("user.created", "user:root")
    assert PASSWORD not in str(created.payload)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("--actor", "user:ann"), b"short\n", "the password has 5 characters; use at least 12"),
        (("--actor", "user:bob"), PASSWORD.encode(), "actor 'user:bob' is not a registered"),
        (("--actor", "svc:scoring"), PASSWORD.encode(), "is not a registered, active person"),
        (("--actor", "user:ann"), b"", "no password on standard input"),
    ],
)
def test_create_refuses(people: Cli, args: tuple[str, ...], stdin: bytes, message: str) -> None:
    result = people("user", "create", "--username", "ann", "--role", "auditor", *args,
                    "--password-stdin", stdin=stdin)  # fmt: skip
    assert result.code == 1
    assert message in result.err
    assert "ann" not in people.ok("user", "list")


def test_create_without_a_terminal_asks_for_password_stdin(people: Cli) -> None:
    result = people("user", "create", "--username", "ann", "--actor", "user:ann",
                    "--role", "auditor")  # fmt: skip
    assert result.code == 1
    assert "--password-stdin" in result.err


def test_disable_and_unlock(people: Cli) -> None:
    people.ok("user", "create", "--username", "ann", "--actor", "user:ann", "--role", "auditor",
              "--password-stdin", stdin=PASSWORD.encode())  # fmt: skip
    result = people("user", "unlock", "ann")
    assert (result.code, result.err.strip()) == (1, "error: user 'ann' is not locked")
    with Tether.open(people.settings) as t:
        for _ in range(5):
            with pytest.raises(LoginFailed):
                Users(t).authenticate("ann", "wrong password!")
    assert people.ok("user", "unlock", "ann", "--reason", "helpdesk") == "user ann: unlocked\n"
    assert login(people.settings, "ann") == "user:ann"
    assert people.ok("user", "disable", "ann") == "user ann: disabled\n"
    with pytest.raises(LoginFailed):
        login(people.settings, "ann")
    assert "error: user 'nobody' does not exist" in people("user", "disable", "nobody").err
