"""The closed loop: what policy says to do when monitoring finds something.

A policy's ``responses:`` section maps signals (drift, performance, anomaly, quality,
behaviour, fairness) and automatic breaker trips to actions:

- ``alert``: log it (the signal itself already went to the signal sinks);
- ``trip_breaker``: open the system's breaker (or the agent's, for a behaviour signal
  about an agent) until a person resets it;
- ``rollback``: move the alias (``champion``) back to the last healthy version, a
  governed ``set_alias`` like any other (policy must allow the responder's actor);
- ``review``: put the system in human-review mode (every decision waits for a person);
- ``retrain``: run a command or a Python callable in the background; its model is
  registered as a candidate version (alias ``challenger``) and checked by the gates.

Each firing is a ``response.fired`` ledger entry, written before the action (whose
own entries follow: signal → response → alias move) with a compare-and-set on the
response's last firing for the system, so a response fires at most once per
cool-down per system across every process, and never twice for one signal. A
``response.result`` entry records what came of it (done, or failed and why).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from signal import SIGKILL
from typing import TYPE_CHECKING, Any, Literal

from tether.errors import ConfigurationError, Conflict, TetherError
from tether.registry._inventory import _check_name
from tether.registry._models import artifact_digest
from tether.store import response_repo as repo

if TYPE_CHECKING:
    from tether.core import Tether
    from tether.monitoring import Signal
    from tether.policy._model import ResponseSpec, RetrainSpec

__all__ = ["ResponseResult", "Responses"]

log = logging.getLogger("tether.responses")

_RANK = {"none": 0, "low": 1, "medium": 2, "high": 3}
Status = Literal["done", "failed", "started", "cooling_down"]


@dataclass(frozen=True, slots=True)
class ResponseResult:
    """What one response did about one trigger."""

    response: str
    system: str
    action: str
    status: Status
    detail: str = ""
    ledger_index: int | None = None  # the response.fired entry (None when cooling down)


class Responses:
    """Run the enforced policy's responses (``tether.responses``).

    Signals call :meth:`on_signal` as they are recorded and automatic breaker trips
    call :meth:`on_breaker`; both are safe to call again for the same trigger.

    Example:
        >>> from tether.testing import temporary_tether
        >>> from tether.policy import Policy
        >>> from tether.monitoring import Signal
        >>> t = temporary_tether()
        >>> _ = t.actors.register("svc:tether-responder", kind="service", roles=[],
        ...                       actor="admin")
        >>> _ = t.policies.publish(Policy.from_text('''
        ... policy: loop
        ... systems: {scorer: {kind: model}}
        ... actions: [predict]
        ... rules: [{id: serve, actions: [predict], effect: allow}]
        ... responses:
        ...   - {id: stop-on-drift, signal: drift, min_severity: high, do: trip_breaker}
        ... '''), actor="admin")
        >>> _ = t.signals.emit(Signal("drift", "scorer", "high", "psi", 0.4, 0.1, "income"))
        >>> [(r.response, r.status) for r in t.responses.fired("scorer")]
        [('stop-on-drift', 'done')]
        >>> t.breakers.state("system:scorer").state
        'open'
        >>> t.close()
    """

    def __init__(self, tether: Tether) -> None:
        self._t = tether
        self._seen: set[tuple[str, int]] = set()  # (response, trigger index) handled here
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._log: list[ResponseResult] = []

    # -- triggers ------------------------------------------------------------------------

    def on_signal(self, signal: Signal, index: int) -> list[ResponseResult]:
        """Fire every response of the enforced policy that answers ``signal`` (recorded
        at ledger ``index``)."""
        trigger = {"kind": signal.kind, "index": index, "severity": signal.severity,
                   "feature": signal.feature, "statistic": signal.statistic,
                   "value": signal.value, "threshold": signal.threshold}  # fmt: skip
        return [
            self._fire(spec, signal.system, trigger, signal)
            for spec in self._specs(signal.kind, signal.system)
            if _RANK[signal.severity] >= _RANK[spec.min_severity]
            and (spec.features is None or signal.feature in spec.features)
        ]

    def on_breaker(self, key: str, reason: str, index: int) -> None:
        """Answer an automatic breaker trip (``system:NAME`` or ``action:NAME/ACTION``)
        on a background thread: it happens while a decision is being recorded."""
        kind, _, rest = key.partition(":")
        if kind not in ("system", "action"):
            return
        system = rest.split("/", 1)[0]
        specs = self._specs("breaker", system)
        if not specs:
            return
        trigger = {"kind": "breaker", "index": index, "severity": "high", "feature": key,
                   "statistic": "trip", "value": 1.0, "threshold": None,
                   "reason": reason}  # fmt: skip
        self._background(lambda: [self._fire(s, system, trigger, None) for s in specs])

    # -- reading -------------------------------------------------------------------------

    def fired(self, system: str | None = None) -> list[ResponseResult]:
        """What this process's responses did, oldest first (the ledger has them all)."""
        with self._lock:
            return [r for r in self._log if system is None or r.system == system]

    def wait(self, timeout: float = 60.0) -> None:
        """Wait for background work (retraining, breaker responses) to finish."""
        with self._lock:
            threads = list(self._threads)
        for th in threads:
            th.join(timeout)

    # -- firing --------------------------------------------------------------------------

    def _specs(self, kind: str, system: str) -> list[ResponseSpec]:
        published = self._t.policies.enforced()
        if published is None:
            return []
        return [
            r for r in published.policy.document.responses
            if kind in r.signal and (r.systems is None or system in r.systems)
        ]  # fmt: skip

    def _fire(
        self, spec: ResponseSpec, system: str, trigger: dict[str, Any], signal: Signal | None
    ) -> ResponseResult:
        key = (spec.id, int(trigger["index"]))
        with self._lock:
            if key in self._seen:
                return ResponseResult(spec.id, system, spec.do, "cooling_down", "already handled")
            self._seen.add(key)
        now = self._t.clock.now().timestamp()
        reason = spec.reason or f"{trigger['kind']} signal ({trigger['severity']}) on {system}"
        try:
            fired = self._t.ledger.append(
                "response.fired", spec.actor,
                {"response": spec.id, "system": system, "do": spec.do, "reason": reason,
                 "trigger": trigger},
                subject=f"system/{system}/response/{spec.id}",
                mutation=repo.fire(spec.id, system, now, spec.cooldown),
            )  # fmt: skip
        except Conflict:
            why = f"fired within the last {spec.cooldown:g} s"
            return self._note(ResponseResult(spec.id, system, spec.do, "cooling_down", why))
        evidence = {"response": spec.id, "response_entry": fired.index, "trigger": trigger}
        try:
            status, detail = self._act(spec, system, reason, evidence, signal)
        except TetherError as exc:
            status, detail = "failed", f"{type(exc).__name__}: {exc}"
        if status != "started":
            self._result(spec, system, fired.index, status, detail)
        if status == "failed":
            log.error("response %s on %s failed: %s", spec.id, system, detail)
        return self._note(ResponseResult(spec.id, system, spec.do, status, detail, fired.index))

    def _act(
        self, spec: ResponseSpec, system: str, reason: str, evidence: dict[str, Any],
        signal: Signal | None,
    ) -> tuple[Status, str]:  # fmt: skip
        t = self._t
        if spec.do == "alert":
            log.warning("response %s: %s", spec.id, reason)
            return "done", "alerted"
        if spec.do == "trip_breaker":
            key = f"system:{system}"
            if spec.breaker == "agent" and signal is not None and signal.feature:
                key = f"agent:{signal.feature.removeprefix('agent:')}"
            t.breakers.trip(key, actor=spec.actor, reason=reason)
            return "done", f"tripped {key}"
        if spec.do == "rollback":
            move = t.models.rollback(system, actor=spec.actor, reason=reason, alias=spec.alias,
                                     evidence=evidence)  # fmt: skip
            return "done", f"{spec.alias}: version {move.previous} -> {move.version}"
        if spec.do == "review":
            assert spec.approvers is not None
            try:
                t.review.enter(system, approvers=spec.approvers.roles, actor=spec.actor,
                               reason=reason, count=spec.approvers.count,
                               clear_roles=spec.clear_roles, evidence=evidence)  # fmt: skip
            except Conflict:
                return "done", "already in human-review mode"
            return "done", f"human-review mode (approvers: {', '.join(spec.approvers.roles)})"
        assert spec.retrain is not None
        retrain = spec.retrain
        index = int(evidence["response_entry"])
        self._background(lambda: self._retrain(spec, retrain, system, reason, evidence, index))
        return "started", "retraining in the background"

    def _retrain(
        self, spec: ResponseSpec, retrain: RetrainSpec, system: str, reason: str,
        evidence: dict[str, Any], index: int,
    ) -> None:  # fmt: skip
        t = self._t
        registered: int | None = None
        try:
            _check_name(system, "system")  # it names a folder under the home
            with tempfile.TemporaryDirectory(prefix="tether-retrain-") as tmp:
                made, metrics = _run_retrain(t, retrain, system, evidence, Path(tmp))
                path = _keep(t, system, made)
            try:
                parent: int | None = t.models.resolve(system, spec.alias).version
            except TetherError:
                parent = None
            about = f"retrained by response {spec.id}: {reason}"
            v = t.models.register(system, path, actor=spec.actor, parent=parent,
                                  description=about, metrics=metrics)  # fmt: skip
            registered = v.version
            t.models.set_alias(system, retrain.alias, v.version, actor=spec.actor,
                               reason=f"candidate retrained by response {spec.id}",
                               evidence=evidence)  # fmt: skip
            detail = f"registered version {v.version} as {retrain.alias}"
            if t.gates.current(system) is not None:
                try:
                    report = t.gates.run(system, v.version, actor=spec.actor)
                    detail += "; gates " + ("passed" if report.passed else "failed")
                except TetherError as exc:  # e.g. no metrics to judge: it stays a candidate
                    detail += f"; gates not run: {exc}"
            self._result(spec, system, index, "done", detail)
        except Exception as exc:  # whatever the trainer raised: the result is recorded
            detail = f"{type(exc).__name__}: {exc}"
            if registered is not None:
                detail = f"registered version {registered}, then {detail}"
            log.error("retraining for %s failed: %s", system, detail)
            self._result(spec, system, index, "failed", detail)

    def _result(
        self, spec: ResponseSpec, system: str, fired: int, status: str, detail: str
    ) -> None:
        self._t.ledger.append(
            "response.result", spec.actor,
            {"response": spec.id, "system": system, "do": spec.do, "fired": fired,
             "status": status, "detail": detail},
            subject=f"system/{system}/response/{spec.id}",
        )  # fmt: skip

    def _note(self, result: ResponseResult) -> ResponseResult:
        with self._lock:
            self._log.append(result)
        return result

    def _background(self, work: Any) -> None:
        def run() -> None:
            try:
                work()
            except Exception:  # a response never takes the process down
                log.exception("response failed")

        th = threading.Thread(target=run, name="tether-response", daemon=True)
        with self._lock:
            self._threads = [x for x in self._threads if x.is_alive()] + [th]
        th.start()


def _run_retrain(
    t: Tether, retrain: RetrainSpec, system: str, evidence: Mapping[str, Any], tmp: Path
) -> tuple[Path, dict[str, float] | None]:
    """Run the configured retraining; return the new model file and its metrics.

    A callable returns the file's path, or ``(path, metrics)``; a command writes the
    model to ``$TETHER_OUTPUT`` and, optionally, a JSON object of metrics to
    ``$TETHER_METRICS``.
    """
    if retrain.callable is not None:
        module, _, name = retrain.callable.partition(":")
        try:
            fn = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(
                f"retrain callable {retrain.callable!r} cannot be imported: {exc}"
            ) from exc
        result = fn(t, system, dict(evidence))
        if isinstance(result, tuple):
            return Path(result[0]), dict(result[1])
        return Path(result), None
    assert retrain.command is not None
    output, metrics_path = tmp / "model.joblib", tmp / "metrics.json"
    env = {**os.environ, "TETHER_SYSTEM": system, "TETHER_OUTPUT": str(output),
           "TETHER_METRICS": str(metrics_path)}  # fmt: skip
    # its own session: on a timeout the whole process group goes, workers included
    proc = subprocess.Popen(shlex.split(retrain.command), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=retrain.timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, SIGKILL)
        proc.communicate()
        raise ConfigurationError(
            f"retrain command ran over its timeout of {retrain.timeout:g} s and was killed"
        ) from None
    if proc.returncode != 0 or not output.exists():
        tail = (err or out).strip().splitlines()[-3:]
        raise ConfigurationError(
            f"retrain command exited {proc.returncode} without writing $TETHER_OUTPUT: "
            + " | ".join(tail)
        )
    if not metrics_path.exists():
        return output, None
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigurationError(f"$TETHER_METRICS is not a JSON object: {exc}") from exc
    if not isinstance(metrics, dict):
        raise ConfigurationError("$TETHER_METRICS must hold a JSON object of metric: number")
    return output, metrics


def _keep(t: Tether, system: str, path: Path) -> Path:
    """Copy a retrained model into the home's ``models/SYSTEM`` folder, named by its
    digest (the temporary file it was written to goes away)."""
    folder = t.settings.home / "models" / system
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{artifact_digest(path)[:16]}{path.suffix or '.bin'}"
    shutil.copyfile(path, target)
    return target
