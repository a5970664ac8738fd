"""``tether approvals``: the approval inbox from the command line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from tether.cli._common import open_tether, out_console

app = typer.Typer(
    help="Human approvals: list, show, approve, reject, override.", no_args_is_help=True
)

IdArg = Annotated[str, typer.Argument(help="Approval id (apr_…).", show_default=False)]
ActorOpt = Annotated[str, typer.Option("--actor", help="Who you are (a registered person).")]


def _when(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@app.command("list")
def list_(
    ctx: typer.Context,
    state: Annotated[
        list[str] | None, typer.Option(help="Only these states (default: pending, escalated).")
    ] = None,
    for_: Annotated[
        str | None, typer.Option("--for", help="Only what this person may vote on.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Page size.")] = 50,
    offset: Annotated[int, typer.Option(help="Skip this many.")] = 0,
) -> None:
    """List approvals, newest first."""
    with open_tether(ctx) as t:
        items = (
            t.approvals.inbox(for_)
            if for_
            else t.approvals.list(state or ("pending", "escalated"), limit=limit, offset=offset)
        )
    table = Table("id", "state", "level", "system", "action", "requester", "deadline", "reason")
    for a in items:
        table.add_row(a.id, a.state, str(a.level), a.system, a.action, a.requester,
                      _when(a.deadline), a.reason)  # fmt: skip
    out_console().print(table)
    typer.echo(f"{len(items)} approval(s)")


@app.command()
def show(ctx: typer.Context, approval_id: IdArg) -> None:
    """Show one approval: what is asked, by whom, why, who voted, what is missing."""
    with open_tether(ctx) as t:
        a = t.approvals.get(approval_id)
    out = {
        "id": a.id, "state": a.state, "level": a.level, "system": a.system, "action": a.action,
        "requester": a.requester, "reason": a.reason, "deadline": _when(a.deadline),
        "request": a.request, "votes": list(a.votes), "missing": a.needed() if a.open else [],
        "decision": a.decision_id, "ledger_index": a.ledger_index,
    }  # fmt: skip
    typer.echo(json.dumps(out, indent=2, default=str))


@app.command()
def approve(
    ctx: typer.Context, approval_id: IdArg, actor: ActorOpt,
    comment: Annotated[str, typer.Option(help="Why (recorded).")] = "",
) -> None:  # fmt: skip
    """Approve (one vote; it resolves when every requirement has its approvers)."""
    with open_tether(ctx) as t:
        a = t.approvals.approve(approval_id, approver=actor, comment=comment)
    typer.echo(f"{a.id}: {a.state}" + ("" if not a.open else f" (still missing {a.needed()})"))


@app.command()
def reject(
    ctx: typer.Context, approval_id: IdArg, actor: ActorOpt,
    comment: Annotated[str, typer.Option(help="Why (required, recorded).")],
) -> None:  # fmt: skip
    """Reject: the action will not run."""
    with open_tether(ctx) as t:
        a = t.approvals.reject(approval_id, approver=actor, comment=comment)
    typer.echo(f"{a.id}: {a.state}")


@app.command()
def override(
    ctx: typer.Context, approval_id: IdArg, actor: ActorOpt,
    justification: Annotated[str, typer.Option(help="Why you override (required, recorded).")],
    reject_: Annotated[bool, typer.Option("--reject", help="Override to reject instead.")] = False,
) -> None:  # fmt: skip
    """Override the approval process (admin or overrider role; justified, recorded)."""
    with open_tether(ctx) as t:
        a = t.approvals.override(
            approval_id, actor=actor, justification=justification, approve=not reject_
        )
    typer.echo(f"{a.id}: {a.state}")


@app.command()
def tick(ctx: typer.Context) -> None:
    """Escalate or expire approvals whose deadline passed (never approves)."""
    with open_tether(ctx) as t:
        changed = t.approvals.tick()
    for a in changed:
        typer.echo(f"{a.id}: {a.state}")
    typer.echo(f"{len(changed)} approval(s) changed")
