"""``tether demo``: tether's main job end to end, on a fresh SQLite home."""

from __future__ import annotations

import random
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from tether.core import Tether
from tether.ledger import verify_ledger, verify_receipt
from tether.ledger._note import load_verifier
from tether.settings import Settings

_SYSTEMS = ("credit-scoring", "fraud-detector", "support-agent", "ops-agent")
_ACTIONS = {
    "credit-scoring": ("predict",),
    "fraud-detector": ("predict", "block_card"),
    "support-agent": ("search_kb", "read_ticket", "update_ticket", "send_email"),
    "ops-agent": ("read_logs", "restart_service", "scale_service"),
}


def _decision(rng: random.Random, n: int) -> tuple[str, str, dict[str, object]]:
    system = rng.choice(_SYSTEMS)
    action = rng.choice(_ACTIONS[system])
    verdict = rng.choices(["allow", "deny", "require_approval"], [0.6, 0.3, 0.1])[0]
    payload: dict[str, object] = {
        "decision_id": f"d-{n:06d}",
        "system": system,
        "action": action,
        "verdict": verdict,
        "risk_score": round(rng.random(), 2),
        "matched_rules": rng.sample(["P1", "P2", "D3", "A1", "A3", "A5"], 2),
        "latency_us": rng.randint(40, 900),
        "context": {"env": rng.choice(["prod", "staging"]), "region": rng.choice("NSEW")},
    }
    actor = f"agent:{system}" if "agent" in system else f"svc:{system}"
    return actor, f"{system}/{action}", payload


def demo(
    home: Annotated[Path, typer.Option(help="Home folder for the demo.")] = Path(".tether-demo"),
    fresh: Annotated[bool, typer.Option(help="Delete the home first.")] = False,
    entries: Annotated[
        int, typer.Option(min=100, help="Decision records to append (at least 100).")
    ] = 3000,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve/--no-serve", help="Then serve the console over the demo home (Ctrl-C stops)."
        ),
    ] = False,
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Console port (with --serve).")
    ] = 8765,
) -> None:
    """Govern a loan model and an agent, then prove the record: receipts, tamper check;
    with --serve, open the oversight console on the result."""
    console = Console()
    if fresh and home.exists():
        shutil.rmtree(home)
    settings = Settings(home=home, database_url="", checkpoint_every=500, durability="async")
    rng = random.Random(7)
    with Tether.init(settings) as t:
        console.rule("[bold]tether demo 1/2: every action through one pipeline")
        console.print(f"home [cyan]{home}[/], log [cyan]{t.ledger.origin}[/]")
        # imported here: it trains models (scikit-learn), which other commands never need
        from tether.cli._demo_governance import governed_decisions

        governed_decisions(t, console, applications=40)
        console.rule("[bold]tether demo 2/2: the tamper-evident decision ledger")
        start = time.perf_counter()
        for _ in range(entries):
            income, debt = rng.uniform(20_000, 150_000), rng.uniform(0, 60_000)
            amount = rng.choice([8_000.0, 15_000.0, 30_000.0])
            t.decide("loan-model", "predict", actor="svc:loan-api",
                         inputs={"income": income, "debt": debt, "amount": amount},
                         context={"channel": rng.choice(["web", "branch", "phone"])})  # fmt: skip
        t.ledger.flush()
        elapsed = time.perf_counter() - start
        console.print(
            f"[bold]{entries}[/] more loan-model decisions through the pipeline in "
            f"{elapsed:.2f} s ({entries / elapsed:,.0f}/s: policy, breakers, durable-async "
            f"record with group commit); the ledger holds {t.ledger.size} entries"
        )
        auditor_copy = t.ledger.checkpoint()  # what an auditor kept yesterday
        start = time.perf_counter()
        for n in range(20):
            actor, subject, payload = _decision(rng, n)
            t.ledger.append("decision", actor, payload, subject=subject)
        per_append = (time.perf_counter() - start) / 20
        console.print(f"20 durable ledger appends, one caller: {per_append * 1e6:,.0f} µs each")
        t.ledger.erase(5, "GDPR erasure request #4711", "human:dpo")
        console.print(
            f"erased the payload of entry 5 (the erasure is itself entry {t.ledger.size - 1})"
        )
        cp, proof = t.ledger.prove_extends(auditor_copy)
        console.print(Panel(cp.note.rstrip(), title=f"signed checkpoint, size {cp.size}"))
        console.print(
            f"consistency proof: {len(proof)} hashes show the log of {cp.size} entries "
            f"extends the auditor's checkpoint of {auditor_copy.size}: only appended to"
        )
        receipt = t.ledger.receipt(42)
        receipt_path = home / "receipt-42.json"
        receipt_path.write_text(receipt.to_json(), encoding="utf-8")
        report = verify_ledger(t.store, t.ledger.verifier)
        console.print(f"[green]verify:[/] {report.summary()}")
    verifier = load_verifier(settings.public_key_path)
    entry = verify_receipt(receipt, verifier)
    console.print(
        f"[green]offline receipt check[/] with only {settings.public_key_path.name}: entry "
        f"{entry.index} ({entry.subject}) is in the log of {receipt.tree_size} entries"
    )
    _tamper(console, settings, home / "tether.db", entries * 2 // 5 + 3)
    if serve:
        _serve_console(console, settings, port)


def _tamper(console: Console, settings: Settings, db: Path, start: int) -> None:
    con = sqlite3.connect(db)
    with con:  # the first decision entry from ``start`` on
        rows = con.execute(
            "SELECT idx, entry FROM ledger_entries WHERE idx >= ? ORDER BY idx", (start,)
        )
        index, found = next((i, r) for i, r in rows if b'"kind":"decision"' in bytes(r))
        raw = bytes(found)
        forged = raw.replace(b'"kind":"decision"', b'"kind":"decisioN"', 1)
        con.execute("UPDATE ledger_entries SET entry = ? WHERE idx = ?", (forged, index))
    con.close()
    console.print(
        f"[yellow]tampered:[/] an insider flips one byte of entry {index} directly in SQLite"
    )
    with Tether.open(settings, read_only=True) as t:
        report = verify_ledger(t.store, t.ledger.verifier)
    table = Table("check", "result")
    table.add_row("ledger verify", "[red]" + report.summary())
    table.add_row("first bad index", str(report.first_bad_index))
    console.print(table)
    if report.first_bad_index != index:
        raise typer.Exit(1)
    con = sqlite3.connect(db)
    with con:  # put the original bytes back: the console then opens on an intact ledger
        con.execute("UPDATE ledger_entries SET entry = ? WHERE idx = ?", (raw, index))
    con.close()
    with Tether.open(settings, read_only=True) as t:
        report = verify_ledger(t.store, t.ledger.verifier)
    console.print(f"[green]restored[/] the original bytes of entry {index}: {report.summary()}")
    if not report.ok:
        raise typer.Exit(1)
    console.rule("[bold green]demo complete")


def _serve_console(console: Console, settings: Settings, port: int) -> None:
    """Serve the console over the demo home with two people who can log in."""
    import secrets
    import socket

    import uvicorn

    from tether.server import create_app
    from tether.server._users import Users

    logins = {"admin": ("user:ada", "admin"), "olga": ("user:olga", "approver")}
    passwords = {name: secrets.token_urlsafe(12) for name in logins}
    with Tether.open(settings) as t:
        t.actors.register("user:ada", kind="human", roles=["admin"],
                          attributes={"team": "governance"}, actor="user:admin")  # fmt: skip
        users = Users(t)
        for name, (actor, role) in logins.items():
            users.create(name, actor, role, passwords[name], by="user:admin")
    with socket.socket() as probe:  # the port, or a free one when it is taken
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            probe.bind(("127.0.0.1", 0))
            console.print(f"[yellow]port {port} is taken[/]: using {probe.getsockname()[1]}")
        port = int(probe.getsockname()[1])
    console.print(
        Panel(
            f"console  [bold cyan]http://127.0.0.1:{port}/console[/]\n"
            f"admin     [bold]admin[/] / [bold]{passwords['admin']}[/]\n"
            f"approver  [bold]olga[/]  / [bold]{passwords['olga']}[/]  "
            "(loans wait in her inbox)\n"
            f"API docs  http://127.0.0.1:{port}/docs   ·   Ctrl-C stops the server",
            title="tether serve: the oversight console on the demo data",
        )
    )
    app = create_app(Tether.open(settings), close_tether=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
