"""``tether systems`` and ``tether actors``: the inventory."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from tether.cli._common import open_tether, out_console
from tether.errors import InvalidInput

systems = typer.Typer(help="The AI systems tether governs.", no_args_is_help=True)
actors = typer.Typer(help="The people, services and agents that act.", no_args_is_help=True)

ActorOpt = Annotated[str, typer.Option("--actor", help="Who makes the change (recorded).")]


@systems.command("register")
def register_system(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(show_default=False)],
    kind: Annotated[str, typer.Option(help="model, agent, workflow or service")],
    owner: Annotated[str, typer.Option(help="The accountable team or person.")],
    risk_tier: Annotated[str, typer.Option(help="minimal, limited, high or prohibited")],
    actor: ActorOpt,
    purpose: Annotated[str, typer.Option(help="Intended purpose.")] = "",
    env: Annotated[list[str] | None, typer.Option(help="Environments (repeat).")] = None,
) -> None:
    """Register or update a system (recorded in the ledger)."""
    with open_tether(ctx) as t:
        s = t.systems.register(name, kind=kind, owner=owner, risk_tier=risk_tier,  # type: ignore[arg-type]
                               purpose=purpose, environments=env or (), actor=actor)  # fmt: skip
    typer.echo(
        f"system {s.name}: {s.kind}, {s.risk_tier} risk, owner {s.owner} (ledger {s.ledger_index})"
    )


@systems.command("list")
def list_systems(ctx: typer.Context) -> None:
    """Every registered system."""
    with open_tether(ctx) as t:
        rows = t.systems.list()
    table = Table("system", "kind", "risk tier", "owner", "purpose")
    for s in rows:
        table.add_row(s.name, s.kind, s.risk_tier, s.owner, s.purpose)
    out_console().print(table)


@actors.command("register")
def register_actor(
    ctx: typer.Context,
    actor_id: Annotated[str, typer.Argument(show_default=False)],
    kind: Annotated[str, typer.Option(help="human, service or agent")],
    actor: ActorOpt,
    role: Annotated[list[str] | None, typer.Option(help="Roles (repeat).")] = None,
    attributes: Annotated[str, typer.Option(help="JSON object of attributes.")] = "{}",
) -> None:
    """Register or update an actor (recorded in the ledger)."""
    try:
        attrs = json.loads(attributes)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"--attributes is not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(attrs, dict):
        raise InvalidInput("--attributes must be a JSON object, e.g. '{\"suspended\": false}'")
    with open_tether(ctx) as t:
        a = t.actors.register(actor_id, kind=kind, roles=role or (), attributes=attrs, actor=actor)  # type: ignore[arg-type]
    typer.echo(f"actor {a.id}: {a.kind}, roles {list(a.roles)} (ledger {a.ledger_index})")


@actors.command("list")
def list_actors(ctx: typer.Context) -> None:
    """Every registered actor."""
    with open_tether(ctx) as t:
        rows = t.actors.list()
    table = Table("actor", "kind", "roles", "active", "attributes")
    for a in rows:
        table.add_row(a.id, a.kind, ", ".join(a.roles), "yes" if a.active else "no",
                      json.dumps(dict(a.attributes)))  # fmt: skip
    out_console().print(table)


@actors.command("deactivate")
def deactivate(
    ctx: typer.Context,
    actor_id: Annotated[str, typer.Argument(show_default=False)],
    actor: ActorOpt,
    reason: Annotated[str, typer.Option(help="Why (required, recorded).")],
) -> None:
    """Stop an actor from acting."""
    with open_tether(ctx) as t:
        t.actors.deactivate(actor_id, actor=actor, reason=reason)
    typer.echo(f"actor {actor_id}: deactivated")
