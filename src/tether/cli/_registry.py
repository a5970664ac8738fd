"""``tether registry`` (model versions and aliases) and ``tether gates`` (what a version
must pass before an alias points at it)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from tether.cli._common import open_tether, out_console
from tether.core import Tether
from tether.errors import ApprovalRequired, InvalidInput
from tether.monitoring._io import read_table
from tether.registry import GateReport, ModelVersion
from tether.registry._gate_spec import load_spec

registry = typer.Typer(help="Model versions and aliases: register, promote, roll back.",
                       no_args_is_help=True)  # fmt: skip
gates = typer.Typer(help="Model gates: thresholds a version must pass to be promoted.",
                    no_args_is_help=True)  # fmt: skip

SystemArg = Annotated[str, typer.Argument(help="The system (e.g. loan-model).", show_default=False)]
ActorOpt = Annotated[str, typer.Option("--actor", help="Who does this (recorded).")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (recorded).")]
AliasOpt = Annotated[str, typer.Option("--alias", help="The alias.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
MetricOpt = Annotated[
    list[str] | None, typer.Option("--metric", help="NAME=NUMBER (repeat).", show_default=False)
]


def _echo_json(value: Any) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def _metrics(pairs: list[str] | None) -> dict[str, float]:
    out = {}
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise InvalidInput(f"--metric {pair!r}: use NAME=NUMBER, e.g. auc=0.81") from None
    return out


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [n.strip() for n in text.split(",") if n.strip()]


def _version(t: Tether, system: str, which: str) -> ModelVersion:
    return t.models.get(system, int(which)) if which.isdigit() else t.models.resolve(system, which)


def _aliases(t: Tether, system: str) -> dict[int, list[str]]:
    """Version -> the aliases pointing at it now."""
    from tether.store import model_repo

    # Models has no listing of alias names (yet): read the alias projection directly.
    with t.store.read() as conn:
        pointing = model_repo.aliases_of(conn, system)
    out: dict[int, list[str]] = {}
    for name, number in pointing.items():
        out.setdefault(number, []).append(name)
    return out


def _record(v: ModelVersion, aliases: list[str]) -> dict[str, Any]:
    return {**v.record(), "registered_at": v.registered_at.isoformat(),
            "ledger_index": v.ledger_index, "aliases": aliases}  # fmt: skip


# -- tether registry ---------------------------------------------------------------------


@registry.command()
def register(
    ctx: typer.Context,
    system: SystemArg,
    artifact: Annotated[Path, typer.Argument(help="Model file or folder.", show_default=False)],
    actor: ActorOpt,
    metric: MetricOpt = None,
    parent: Annotated[int | None, typer.Option(help="The version it was trained from.")] = None,
    data: Annotated[
        Path | None, typer.Option(help="Training data (CSV/Parquet) to fingerprint.")
    ] = None,
    features: Annotated[
        str | None, typer.Option(help="The model's input columns, in order (a,b,c).")
    ] = None,
    description: Annotated[str, typer.Option(help="What this version is.")] = "",
) -> None:
    """Register a new, immutable version (artifact SHA-256, data fingerprint, git
    commit, environment, metrics, lineage); recorded in the ledger."""
    batch = None if data is None else read_table(data)
    with open_tether(ctx) as t:
        v = t.models.register(system, artifact, actor=actor, metrics=_metrics(metric),
                              parent=parent, data=batch, features=_names(features),
                              description=description)  # fmt: skip
    typer.echo(f"registered {system} version {v.version}: sha256 {v.digest[:16]}… "
               f"(ledger index {v.ledger_index})")  # fmt: skip


@registry.command("list")
def list_versions(ctx: typer.Context, system: SystemArg, json_: JsonOpt = False) -> None:
    """Every version of a system, with the aliases pointing at it."""
    with open_tether(ctx, read_only=True) as t:
        versions = t.models.list(system)
        aliases = _aliases(t, system)
    if json_:
        _echo_json([_record(v, aliases.get(v.version, [])) for v in versions])
        return
    if not versions:
        typer.echo(f"{system} has no versions yet: tether registry register {system} ARTIFACT")
        return
    table = Table("version", "sha256", "metrics", "aliases", "registered", "by", "parent")
    for v in versions:
        shown = ", ".join(f"{k}={x:.4g}" for k, x in sorted(v.metrics.items())) or "-"
        table.add_row(str(v.version), v.digest[:12], shown,
                      ", ".join(aliases.get(v.version, [])) or "-",
                      v.registered_at.strftime("%Y-%m-%d %H:%M"), v.actor,
                      "-" if v.parent is None else str(v.parent))  # fmt: skip
    out_console().print(table)


@registry.command()
def show(
    ctx: typer.Context,
    system: SystemArg,
    version: Annotated[str, typer.Argument(help="A version number or an alias.")],
    json_: JsonOpt = False,
) -> None:
    """One version: its record, aliases and stored gate results."""
    with open_tether(ctx, read_only=True) as t:
        v = _version(t, system, version)
        aliases = _aliases(t, system).get(v.version, [])
        reports = t.gates.reports(system, v.version)
    if json_:
        _echo_json({**_record(v, aliases), "gates": [r.to_dict() for r in reports]})
        return
    console = out_console()
    console.print(f"{system} version {v.version}" + (f" ({', '.join(aliases)})" if aliases else ""))
    rows = [("sha256", v.digest), ("uri", v.uri), ("registered", v.registered_at.isoformat()),
            ("by", v.actor), ("parent", str(v.parent or "-")),
            ("metrics", ", ".join(f"{k}={x:.4g}" for k, x in sorted(v.metrics.items())) or "-"),
            ("features", ", ".join(v.features or ()) or "-"),
            ("code", "-" if not v.code else f"{v.code.get('commit')}"
             + (" (dirty)" if v.code.get("dirty") else "")),
            ("data", "-" if not v.data else f"{v.data['rows']} rows, "
             f"content sha256 {str(v.data.get('content_sha256'))[:16]}…"),
            ("description", v.description or "-"),
            ("ledger index", str(v.ledger_index))]  # fmt: skip
    for key, value in rows:
        console.print(f"  {key:12} {value}", markup=False, highlight=False)
    for r in reports:
        _print_report(r)
    if not reports:
        console.print("  no gate results")


@registry.command()
def promote(
    ctx: typer.Context,
    system: SystemArg,
    version: Annotated[int, typer.Argument(help="The version to promote.")],
    actor: ActorOpt,
    reason: ReasonOpt,
    alias: AliasOpt = "champion",
    approval: Annotated[
        str | None, typer.Option(help="An approved approval id (the move's, or a sign-off).")
    ] = None,
    override_approver: Annotated[
        str | None,
        typer.Option(
            help="A second person who overrides failed gates: they approve the "
            "override approval this asks for, then run again with --approval."
        ),
    ] = None,
    justification: Annotated[str | None, typer.Option(help="Why the override (recorded).")] = None,
) -> None:
    """Point an alias at a version: governed by policy, and by the system's gates.

    Overriding failed gates takes two steps: ``--override-approver P --justification J``
    asks P for an override approval; once P ran ``tether approvals approve ID --actor
    P``, run the same command again with ``--approval ID``.
    """
    with open_tether(ctx) as t:
        try:
            move = t.models.promote(system, version, actor=actor, reason=reason, alias=alias,
                                    approval_id=approval, override_by=override_approver,
                                    justification=justification)  # fmt: skip
        except ApprovalRequired as exc:
            if exc.approval_id and "--approval" not in str(exc):
                same = (
                    " (same --override-approver and --justification)" if override_approver else ""
                )
                raise ApprovalRequired(
                    f"{str(exc).rstrip('.')}. Approval {exc.approval_id}: once approved "
                    f"(tether approvals approve {exc.approval_id} --actor ...), run again with "
                    f"--approval {exc.approval_id}{same}", exc.decision, exc.approval_id,
                ) from None  # fmt: skip
            raise
    gated = (move.evidence or {}).get("gates")
    note = ""
    if gated:
        note = " (gates overridden)" if "override" in gated else " (gates passed)"
    typer.echo(f"{system} {alias}: {move.previous or '-'} → {move.version}{note} "
               f"(ledger index {move.ledger_index})")  # fmt: skip


@registry.command()
def rollback(
    ctx: typer.Context, system: SystemArg, actor: ActorOpt, reason: ReasonOpt,
    alias: AliasOpt = "champion",
) -> None:  # fmt: skip
    """Move an alias back to the last healthy version (never gated)."""
    with open_tether(ctx) as t:
        move = t.models.rollback(system, actor=actor, reason=reason, alias=alias)
    typer.echo(f"{system} {alias}: rolled back {move.previous} → {move.version} "
               f"(ledger index {move.ledger_index})")  # fmt: skip


@registry.command()
def history(
    ctx: typer.Context,
    system: SystemArg,
    alias: AliasOpt = "champion",
    at: Annotated[
        datetime | None, typer.Option(help="Only say which version was live then (ISO 8601, UTC).")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Every move of an alias (or the version it pointed at, at a time)."""
    with open_tether(ctx, read_only=True) as t:
        if at is not None:
            when = at.replace(tzinfo=UTC) if at.tzinfo is None else at
            live = t.models.live_at(system, when, alias)
            if json_:
                _echo_json({"system": system, "alias": alias, "at": when.isoformat(),
                            "version": live})  # fmt: skip
            else:
                typer.echo(f"{system} {alias} at {when.isoformat()}: "
                           + ("nothing" if live is None else f"version {live}"))  # fmt: skip
            return
        moves = t.models.history(system, alias)
    if json_:
        _echo_json([{"from": m.previous, "to": m.version, "kind": m.kind, "at": m.at.isoformat(),
                     "actor": m.actor, "reason": m.reason, "ledger_index": m.ledger_index,
                     "decision": m.decision, "evidence": m.evidence} for m in moves])  # fmt: skip
        return
    if not moves:
        typer.echo(f"{system} {alias} never moved")
        return
    table = Table("when", "from", "to", "kind", "actor", "reason", "gates")
    for m in moves:
        g = (m.evidence or {}).get("gates")
        gate = "-" if not g else ("overridden" if "override" in g else "passed")
        table.add_row(m.at.strftime("%Y-%m-%d %H:%M:%S"), str(m.previous or "-"), str(m.version),
                      m.kind, m.actor, m.reason, gate)  # fmt: skip
    out_console().print(table)


# -- tether gates ------------------------------------------------------------------------


@gates.command("set")
def set_gates(
    ctx: typer.Context,
    system: SystemArg,
    spec: Annotated[Path, typer.Argument(help="Gate spec (YAML or JSON).", show_default=False)],
    actor: ActorOpt,
    reason: ReasonOpt,
    approval: Annotated[
        str | None, typer.Option(help="An approved approval id, when policy asked for one.")
    ] = None,
) -> None:
    """Register a system's gates (validated, canonicalised, hashed; recorded in the
    ledger). An unchanged spec makes no new version. Governed: the policy must allow
    the action ``set_gates`` for the actor, a registered person."""
    parsed = load_spec(spec)
    with open_tether(ctx) as t:
        before = t.gates.current(system)
        gs = t.gates.set(system, parsed, actor=actor, reason=reason, approval_id=approval)
    if before is not None and before.version == gs.version:
        typer.echo(f"{system} gates unchanged: version {gs.version}, sha256 {gs.digest[:16]}…")
        return
    typer.echo(f"{system} gates version {gs.version}: sha256 {gs.digest[:16]}… "
               f"(ledger index {gs.ledger_index})")  # fmt: skip


@gates.command("show")
def show_gates(ctx: typer.Context, system: SystemArg, json_: JsonOpt = False) -> None:
    """A system's current gates and their versions."""
    with open_tether(ctx, read_only=True) as t:
        versions = t.gates.history(system)
        current = t.gates.get(system)
    if json_:
        _echo_json({**current.to_dict(), "versions": [g.to_dict() for g in versions]})
        return
    console = out_console()
    console.print(f"{system} gates version {current.version} (sha256 {current.digest[:16]}…), "
                  f"set by {current.actor}: {current.reason}", markup=False)  # fmt: skip
    typer.echo(orjson.dumps(current.spec.model_dump(mode="json", exclude_none=True),
                            option=orjson.OPT_INDENT_2).decode())  # fmt: skip
    table = Table("version", "sha256", "set", "by", "reason")
    for g in versions:
        table.add_row(str(g.version), g.digest[:12], g.set_at.strftime("%Y-%m-%d %H:%M"),
                      g.actor, g.reason)  # fmt: skip
    console.print(table)


@gates.command("run")
def run_gates(
    ctx: typer.Context,
    system: SystemArg,
    version: Annotated[str, typer.Argument(help="A version number or an alias.")],
    actor: Annotated[str, typer.Option("--actor", help="Who runs it (recorded).")] = "tether:cli",
    data: Annotated[
        Path | None, typer.Option(help="Evaluation data (CSV/Parquet), recorded after the gates.")
    ] = None,
    label: Annotated[str | None, typer.Option(help="The column of true labels.")] = None,
    pred: Annotated[str | None, typer.Option(help="The column of decisions.")] = None,
    score: Annotated[str | None, typer.Option(help="The column of scores.")] = None,
    sensitive: Annotated[
        str | None, typer.Option(help="Sensitive columns, comma-separated.")
    ] = None,
    threshold: Annotated[float, typer.Option(help="Scores at or above it are positive.")] = 0.5,
    metric: MetricOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Judge a version by the system's gates (recorded); exit 1 when a gate fails.
    With --data and no --pred/--score, the registered model predicts on its features."""
    kwargs: dict[str, Any] = {"metrics": _metrics(metric) or None, "threshold": threshold}
    with open_tether(ctx) as t:
        v = _version(t, system, version)
        if data is not None:
            kwargs |= _evaluation(read_table(data), data, v, label, pred, score,
                                  _names(sensitive))  # fmt: skip
        elif any(x is not None for x in (label, pred, score, sensitive)):
            raise InvalidInput("--label, --pred, --score and --sensitive need --data FILE")
        report = t.gates.run(system, v.version, actor=actor, **kwargs)
    if json_:
        _echo_json(report.to_dict())
    else:
        _print_report(report)
    if not report.passed:
        raise typer.Exit(1)


@gates.command("signoff")
def signoff(
    ctx: typer.Context,
    system: SystemArg,
    version: Annotated[int, typer.Argument(help="The version to sign off.")],
    actor: ActorOpt,
    reason: ReasonOpt = "",
    alias: AliasOpt = "champion",
) -> None:
    """Ask a person (the gates' sign-off roles) to sign off promoting a version."""
    with open_tether(ctx) as t:
        a = t.gates.request_signoff(system, version, requester=actor, reason=reason, alias=alias)
    typer.echo(a.id)


def _evaluation(
    table: dict[str, Any], path: Path, v: ModelVersion, label: str | None, pred: str | None,
    score: str | None, sensitive: list[str] | None,
) -> dict[str, Any]:  # fmt: skip
    def column(name: str, what: str) -> Any:
        if name not in table:
            raise InvalidInput(f"{path}: no {what} column {name!r}; columns: {sorted(table)}")
        return table[name]

    out: dict[str, Any] = {}
    if label is not None:
        out["y"] = column(label, "label")
    if pred is not None:
        out["predictions"] = column(pred, "--pred")
    if score is not None:
        out["scores"] = column(score, "--score")
    if sensitive:
        out["sensitive"] = {s: column(s, "sensitive") for s in sensitive}
    if pred is None and score is None:
        if not v.features:
            raise InvalidInput(
                f"{path}: give --pred or --score, or register the version with --features "
                "so its model can predict on them"
            )
        out["X"] = {f: column(f, "feature") for f in v.features}
    return out


def _print_report(r: GateReport) -> None:
    console = out_console()
    verdict = "[green]passed[/]" if r.passed else "[red]failed[/]"
    console.print(f"version {r.version} under gates version {r.gate_version}: {verdict} "
                  f"({r.evaluated_at:%Y-%m-%d %H:%M}, ledger index {r.ledger_index})")  # fmt: skip
    table = Table("gate", "result", "value", "threshold", "detail")
    for g in r.results:
        mark = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "at promotion"}[g.passed]
        value = f"{g.value:.4g}" if isinstance(g.value, float) else str(g.value or "-")
        limit = f"{g.threshold:.4g}" if isinstance(g.threshold, float) else str(g.threshold or "-")
        table.add_row(g.name, mark, value, limit, g.detail)
    console.print(table)
