"""Explanations of recorded model decisions, kept with them in the ledger.

``tether.explanations.explain(decision_id)`` reads a model decision's ledger entry (its
inputs, and ``context.model``: the version and the artifact's SHA-256), loads that
version with :meth:`~tether.registry.Models.load` (the digest is verified before the
model is deserialised), lays the recorded inputs out in the version's feature order and
explains them with :func:`~tether.explain.explainer_for` (cached by digest). The result
is recorded as a ``decision.explained`` ledger entry (subject ``decision/<id>``) whose
payload holds the explanation's canonical JSON, and indexed so that a decision has
exactly one: asking again returns the stored bytes; :meth:`Explanations.recompute`
computes them again (the same bytes, with the same libraries).

By default explanations are made on request. :meth:`Explanations.eager` explains model
decisions as they are recorded, on a background thread fed by the pipeline's monitor
hook: the decision path only puts the decision's id on a queue.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from tether.errors import Conflict, InvalidInput, NotFound, VerificationError
from tether.explain._explanation import Explanation
from tether.store import decision_repo, explanation_repo

if TYPE_CHECKING:
    from tether.core import Tether
    from tether.explain._attributions import Explainer
    from tether.pipeline import Decision
    from tether.registry import ModelVersion

__all__ = ["EXPLAINED", "KEPT", "MODEL_ACTIONS", "Explanations", "StoredExplanation"]

log = logging.getLogger("tether.explain")

EXPLAINED = "decision.explained"  # the ledger kind of a decision's explanation
MODEL_ACTIONS = ("predict", "predict_proba")  # what eager() explains
KEPT = 8  # versions whose explainer a service keeps (as Models.load keeps models)
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_REDACTED = "[REDACTED]"


@dataclass(frozen=True, slots=True)
class StoredExplanation:
    """A decision's explanation as recorded: which model version it explains and the
    ledger entry that holds it."""

    decision: str
    system: str
    version: int
    digest: str  # SHA-256 of the model artifact explained
    ledger_index: int
    explanation: Explanation


class _NoModel(InvalidInput):
    """A decision without a model context (not a governed model's decision)."""


@dataclass(frozen=True, slots=True)
class _Recorded:
    """What a decision's ledger entry says about the model and the row."""

    id: str
    system: str
    action: str
    index: int
    inputs: Mapping[str, Any]
    version: int
    digest: str
    output: Any = None  # what the decision recorded as the model's output


class Explanations:
    """Explain recorded model decisions and keep the explanations (``tether.explanations``).

    Example:
        >>> import joblib
        >>> from sklearn.tree import DecisionTreeRegressor
        >>> from tether.policy import Policy
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> text = '''
        ... policy: p
        ... systems: {scorer: {kind: model, owner: risk, risk_tier: high}}
        ... actions: [predict]
        ... rules: [{id: ok, effect: allow}]
        ... '''
        >>> _ = t.policies.publish(Policy.from_text(text), actor="user:ana")
        >>> _ = t.actors.register("svc:api", kind="service", actor="user:ana")
        >>> path = t.settings.home / "model.joblib"
        >>> _ = joblib.dump(DecisionTreeRegressor(max_depth=1).fit([[0.0], [1.0]], [0, 2]), path)
        >>> v = t.models.register("scorer", path, actor="user:ana", code=None,
        ...                       environment=None, features=["x"])
        >>> model = {"alias": "champion", "version": v.version, "digest": v.digest}
        >>> d = t.pipeline.execute(lambda: 2.0, (), {}, system="scorer", action="predict",
        ...                        actor="svc:api", inputs={"x": 1.0}, context={"model": model})
        >>> t.explanations.explain(d.id).sentence
        'The prediction was 2, above the average of 1, mostly because of x = 1 (+1.00).'
        >>> stored = t.explanations.stored(d.id)
        >>> stored.version, t.ledger.get(stored.ledger_index).kind
        (1, 'decision.explained')
        >>> t.explanations.explain("dec_unknown")
        Traceback (most recent call last):
        ...
        tether.errors.NotFound: no decision 'dec_unknown': pass the id of a recorded decision
        >>> t.close()
    """

    def __init__(self, tether: Tether) -> None:
        self._t = tether
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, bool] | None] | None = None
        self._worker: threading.Thread | None = None
        self._systems: frozenset[str] | None = None
        self._top = 5
        self._actor = "tether:explain"
        self._explainers: OrderedDict[tuple[str, int], tuple[ModelVersion, Explainer]] = (
            OrderedDict()
        )
        self.dropped = 0  # eager: decisions not queued because the backlog was full
        self.failed = 0  # eager: decisions whose explanation failed (logged)

    # -- on request -----------------------------------------------------------------

    def explain(
        self, decision_id: str, *, actor: str = "tether:explain", top: int = 5
    ) -> Explanation:
        """The explanation of a recorded model decision: the stored one, or computed
        and stored now (a ``decision.explained`` ledger entry by ``actor``).

        ``top`` ranks the features the sentence names when the explanation is made;
        a stored explanation asked with another ``top`` is re-ranked for this answer
        (the stored bytes do not change).

        Raises:
            NotFound: no such decision, its model version, or its artifact.
            InvalidInput: the decision is not an executed model decision with a model
                context, or its recorded inputs lack a feature of the version.
            VerificationError: the decision's recorded digest is not its version's, or
                the artifact's bytes are not the registered ones.
        """
        _check_top(top)
        found = self._stored(decision_id)
        if found is not None:
            return _ranked(found.explanation, top)
        return self._make(self._recorded(decision_id), actor, top)

    def get(self, decision_id: str) -> Explanation | None:
        """The stored explanation of a decision; None when it was not explained (or the
        explanation's payload was erased)."""
        try:
            found = self._stored(decision_id)
        except NotFound:
            return None
        return None if found is None else found.explanation

    def stored(self, decision_id: str) -> StoredExplanation | None:
        """The stored explanation with the model version it explains and its entry.

        Raises:
            NotFound: the explanation's payload was erased.
        """
        return self._stored(decision_id)

    def recompute(self, decision_id: str, *, top: int | None = None) -> Explanation:
        """Compute a decision's explanation again without storing it (an audit: with
        the same libraries it has the stored explanation's bytes). ``top`` defaults to
        the stored explanation's, else 5.

        Raises:
            NotFound, InvalidInput, VerificationError: as :meth:`explain`.
        """
        if top is None:
            found = self._stored(decision_id)
            top = 5 if found is None else self._stored_top(found)
        _check_top(top)
        return self._compute(self._recorded(decision_id), top)

    # -- eager ----------------------------------------------------------------------

    def eager(
        self,
        systems: Iterable[str] | None = None,
        *,
        top: int = 5,
        actor: str = "tether:explain",
        backlog: int = 10_000,
    ) -> None:
        """Explain executed ``predict`` / ``predict_proba`` decisions (of ``systems``,
        default all) on a background thread as soon as they are recorded.

        The decision path only queues the decision's id (a few microseconds); when
        ``backlog`` ids wait, further ones are counted in :attr:`dropped` and can be
        explained on request later. Decisions without a model context are skipped;
        failures are logged (``tether.explain``) and counted in :attr:`failed`.
        Calling it again changes the settings; :meth:`close` stops it.
        """
        _check_top(top)
        if backlog < 1:
            raise InvalidInput(f"backlog={backlog!r} must be at least 1")
        with self._lock:
            self._systems = _names(systems)
            self._top, self._actor = top, actor
            if self._worker is not None:
                return
            self._queue = queue.Queue(maxsize=backlog)
            self._worker = threading.Thread(
                target=self._work, args=(self._queue,), name="tether-explain", daemon=True
            )
            self._worker.start()
            self._t.pipeline.monitors.append(self._on_decision)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued decision is explained; False on timeout."""
        q = self._queue
        if q is None:
            return True
        end = time.monotonic() + timeout
        with q.all_tasks_done:
            while q.unfinished_tasks:
                left = end - time.monotonic()
                if left <= 0 or not q.all_tasks_done.wait(left):
                    return not q.unfinished_tasks
        return True

    def close(self) -> None:
        """Stop explaining eagerly, after the queued decisions are explained."""
        with self._lock:
            worker, q = self._worker, self._queue
            if worker is None or q is None:
                return
            if self._on_decision in self._t.pipeline.monitors:
                self._t.pipeline.monitors.remove(self._on_decision)
            self._worker = self._queue = None
        q.put(None)
        worker.join(timeout=60)

    def _on_decision(self, d: Decision) -> None:
        """The pipeline's monitor hook: on the decision path, so it only queues."""
        if d.outcome != "executed" or d.action not in MODEL_ACTIONS:
            return
        systems, q = self._systems, self._queue
        if q is None or (systems is not None and d.system not in systems):
            return
        try:
            q.put_nowait((d.id, d.ledger_index < 0))
        except queue.Full:
            with self._lock:
                self.dropped += 1

    def _work(self, q: queue.Queue[tuple[str, bool] | None]) -> None:
        while True:
            item = q.get()
            try:
                if item is None:
                    return
                decision_id, pending = item
                if pending:  # TETHER_DURABILITY=async: wait until it is written
                    self._t.ledger.flush()
                self._eagerly(decision_id)
            except Exception:  # an explanation never stops the worker
                self.failed += 1
                log.exception("explaining decision %s failed", item[0] if item else "?")
            finally:
                q.task_done()

    def _eagerly(self, decision_id: str) -> None:
        if self._stored(decision_id) is not None:
            return
        try:
            recorded = self._recorded(decision_id)
        except _NoModel:
            return  # not a governed model's decision: nothing to explain
        self._make(recorded, self._actor, self._top)

    # -- internals ------------------------------------------------------------------

    def _make(self, recorded: _Recorded, actor: str, top: int) -> Explanation:
        """Compute and store a decision's explanation (the first one stored stands)."""
        explanation = self._compute(recorded, top)
        blob = explanation.to_json()
        payload = {
            "decision": recorded.id, "system": recorded.system, "action": recorded.action,
            "decision_entry": recorded.index, "top": top,
            "model": {"version": recorded.version, "digest": recorded.digest},
            "explanation": blob.decode(), "sha256": hashlib.sha256(blob).hexdigest(),
        }  # fmt: skip
        now = self._t.clock.now().timestamp()
        try:
            self._t.ledger.append(
                EXPLAINED, actor, payload, subject=f"decision/{recorded.id}",
                mutation=explanation_repo.record(recorded.id, recorded.system, recorded.digest,
                                                 now),
            )  # fmt: skip
        except Conflict:
            # explained meanwhile (another thread or process): the first one stands
            again = self._stored(recorded.id)
            if again is None:
                raise
            return _ranked(again.explanation, top)
        return explanation

    def _stored(self, decision_id: str) -> StoredExplanation | None:
        with self._t.store.read() as conn:
            row = explanation_repo.stored(conn, decision_id)
        if row is None:
            return None
        index, payload = row
        if payload is None:
            raise NotFound(
                f"the explanation of decision {decision_id} (ledger entry {index}) was "
                "erased; it is not made again"
            )
        p = orjson.loads(payload)
        e = Explanation.from_json(p["explanation"])
        m = p["model"]
        return StoredExplanation(decision_id, str(p["system"]), int(m["version"]),
                                 str(m["digest"]), index, e)  # fmt: skip

    @staticmethod
    def _stored_top(found: StoredExplanation) -> int:
        return max(1, len(found.explanation.top))

    def _recorded(self, decision_id: str) -> _Recorded:
        if not isinstance(decision_id, str) or not decision_id:
            raise InvalidInput(f"decision id {decision_id!r} must be a non-empty string")
        with self._t.store.read() as conn:
            row = decision_repo.entry(conn, decision_id)
        if row is None:
            raise NotFound(f"no decision {decision_id!r}: pass the id of a recorded decision")
        system, outcome, index, payload = row
        if payload is None:
            raise NotFound(
                f"decision {decision_id} (ledger entry {index}) was erased: its inputs are "
                "gone, so it cannot be explained"
            )
        if outcome != "executed":
            raise InvalidInput(
                f"decision {decision_id} of {system} is {outcome}: the model never ran, so "
                "there is no output to explain"
            )
        p = orjson.loads(payload)
        version, digest = _model_context(decision_id, system, p.get("context"))
        inputs = p.get("inputs")
        if not isinstance(inputs, Mapping):
            raise InvalidInput(
                f"decision {decision_id} recorded its inputs as {type(inputs).__name__}, not a "
                "mapping of feature name to value; only such a row can be explained"
            )
        return _Recorded(decision_id, system, str(p.get("action", "")), index, inputs,
                         version, digest, p.get("output"))  # fmt: skip

    def _compute(self, recorded: _Recorded, top: int) -> Explanation:
        version, explainer = self._explainer(recorded)
        explanation = explainer.explain(_row(recorded, version, explainer.feature_names), top=top)
        _check_output(recorded, version, explanation)
        return explanation

    def _explainer(self, recorded: _Recorded) -> tuple[ModelVersion, Explainer]:
        """The version a decision names and its explainer, kept for the last
        :data:`KEPT` versions (a version is immutable and its model was verified)."""
        key = (recorded.system, recorded.version)
        with self._lock:
            hit = self._explainers.get(key)
            if hit is not None:
                self._explainers.move_to_end(key)
        if hit is not None:
            _check_digest(recorded, hit[0])
            return hit
        version = self._t.models.get(recorded.system, recorded.version)
        _check_digest(recorded, version)
        hit = version, _build(version, self._t.models.load(recorded.system, version.version))
        with self._lock:
            self._explainers[key] = hit
            while len(self._explainers) > KEPT:
                self._explainers.popitem(last=False)
        return hit


def _check_digest(recorded: _Recorded, version: ModelVersion) -> None:
    if version.digest != recorded.digest:
        raise VerificationError(
            f"decision {recorded.id} records model digest {recorded.digest[:16]}... but "
            f"version {version.version} of {recorded.system} is {version.digest[:16]}...: "
            "the decision was not made by the registered version; it cannot be explained"
        )


_REL_TOL = 1e-6  # the model's output again, up to the explainer's float rounding
_ABS_TOL = 1e-9  # near zero a relative tolerance alone would demand exact equality


def _check_output(recorded: _Recorded, version: ModelVersion, e: Explanation) -> None:
    """Refuse an explanation whose model output is not the decision's recorded output.

    ``context.model`` is written by the caller; the digest check proves the version
    exists, not that it made the decision. So the explained output must reproduce the
    recorded one (within 1e-6 relative) where the two are comparable:

    - ``prediction`` (a regressor) with a recorded number: compared as they are;
    - ``probability`` with a recorded ``predict_proba`` number (the positive class's
      probability, the explanation's default target): compared as they are;
    - ``margin`` with a recorded ``predict_proba`` number (a binary classifier):
      the logistic function of the margin is compared with it.

    Skipped, as not comparable: a recorded output that is not one number (a row of
    class probabilities, a redacted or missing output), and a classifier's ``predict``
    (a class label, or a ``decision_function`` margin recorded under the same action:
    neither is a probability nor can be told apart).

    Raises:
        InvalidInput: comparable, and not the same.
    """
    import math

    out = recorded.output
    if isinstance(out, bool) or not isinstance(out, int | float) or not math.isfinite(out):
        return
    recorded_value = float(out)
    if e.output == "prediction":
        explained, what = e.output_value, "prediction"
    elif recorded.action != "predict_proba":
        return
    elif e.output == "probability":
        explained, what = e.output_value, "probability"
    elif e.output == "margin":
        explained = 1.0 / (1.0 + math.exp(-e.output_value)) if e.output_value > -700 else 0.0
        what = f"probability (logistic of the margin {e.output_value:.6g})"
    else:
        return
    if not math.isclose(explained, recorded_value, rel_tol=_REL_TOL, abs_tol=_ABS_TOL):
        raise InvalidInput(
            f"decision {recorded.id} of {recorded.system} recorded output {recorded_value:.6g}, "
            f"but version {version.version} (named by its context.model) gives {what} "
            f"{explained:.6g} for its recorded inputs: that version did not make this decision, "
            "so its explanation is not stored; check the decision's context.model"
        )


def _build(version: ModelVersion, model: Any) -> Explainer:
    import numpy as np

    from tether.explain._attributions import _tree_family, explainer_for

    names = _features(version, model)
    background = None
    if not _tree_family(model):  # Tree SHAP needs none; the others compare to one
        if version.background is None:
            raise InvalidInput(
                f"{type(model).__name__} (version {version.version} of {version.system}) "
                "is explained against a background and the version has none: register it "
                "with background= (~100 training rows of its features)"
            )
        background = np.asarray(version.background, dtype=np.float64)
    return explainer_for(model, key=version.digest, feature_names=names, background=background)


def _model_context(decision_id: str, system: str, context: Any) -> tuple[int, str]:
    model = context.get("model") if isinstance(context, Mapping) else None
    version = model.get("version") if isinstance(model, Mapping) else None
    digest = model.get("digest") if isinstance(model, Mapping) else None
    if (
        type(version) is not int
        or version < 1
        or not isinstance(digest, str)
        or not _DIGEST.fullmatch(digest)
    ):
        shown = "none" if model is None else repr(model)
        raise _NoModel(
            f"decision {decision_id} of {system} has no model context (context.model with "
            f"the version and the artifact's sha256; it has {shown}): only decisions of a "
            "governed model can be explained from the ledger; explain a model directly with "
            "tether.explain.explain(model, row)"
        )
    return version, digest


def _features(version: ModelVersion, model: Any) -> tuple[str, ...]:
    if version.features is not None:
        return version.features
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is not None:
        return tuple(map(str, fitted))
    raise InvalidInput(
        f"version {version.version} of {version.system} has no features: register it with "
        "features=[...] (its input columns, in order) so decisions can be laid out as rows"
    )


def _row(recorded: _Recorded, version: ModelVersion, names: tuple[str, ...]) -> dict[str, Any]:
    inputs = recorded.inputs
    for name in names:
        if name not in inputs:
            keys = ", ".join(sorted(map(str, inputs))) or "none"
            raise InvalidInput(
                f"decision {recorded.id} lacks feature {name!r} of {recorded.system} version "
                f"{version.version} (features: {', '.join(names)}; recorded inputs: {keys})"
            )
        if inputs[name] == _REDACTED:
            raise InvalidInput(
                f"feature {name!r} of decision {recorded.id} was redacted when it was "
                "recorded; a redacted value cannot be explained"
            )
    return {name: inputs[name] for name in names}


def _ranked(e: Explanation, top: int) -> Explanation:
    """``e`` ranked to ``top`` features (itself when that changes nothing)."""
    if len(e.top) == min(top, len(e.attributions)):
        return e
    return Explanation.build(
        explainer=e.explainer, library=e.library, output=e.output, target=e.target,
        base_value=e.base_value, output_value=e.output_value, attributions=e.attributions,
        top=top, model=e.model, background=e.background,
    )  # fmt: skip


def _names(systems: Iterable[str] | None) -> frozenset[str] | None:
    if systems is None:
        return None
    if isinstance(systems, str):  # one name, not its letters
        return frozenset((systems,))
    return frozenset(systems)


def _check_top(top: int) -> None:
    if type(top) is not int or top < 1:
        raise InvalidInput(f"top={top!r} must be a whole number of features, at least 1")
