"""The governed-decisions part of ``tether demo``: a loan model and a support agent."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from tether.adapters.sklearn import GovernedModel
from tether.core import Tether
from tether.errors import ActionDenied, ApprovalRequired, CircuitOpen, GateFailed, RunStopped
from tether.monitoring import AnomalyDetector, Baseline, Signal
from tether.pipeline.guardrails import Email, PaymentCard
from tether.policy import Policy, Published, replay

__all__ = ["POLICY", "governed_decisions"]

POLICY = Path(__file__).with_name("demo") / "policy.yaml"


def _setup(t: Tether) -> Published:
    register = t.actors.register
    register("svc:loan-api", kind="service", roles=["loan-api"], attributes={"team": "credit"},
             actor="user:admin")  # fmt: skip
    register("agent:care-bot", kind="agent", roles=["support"], attributes={"team": "care"},
             actor="user:admin")  # fmt: skip
    register("agent:intern-bot", kind="agent", roles=["intern"], attributes={"team": "care"},
             actor="user:admin")  # fmt: skip
    # approve_tiers: the risk tiers she may approve through the server and console
    register("user:olga", kind="human", roles=["credit_officer"],
             attributes={"team": "credit", "approve_tiers": ["limited", "high"]},
             actor="user:admin")  # fmt: skip
    register("user:pia", kind="human", roles=["privacy_officer"], attributes={"team": "legal"},
             actor="user:admin")  # fmt: skip
    register("user:ops", kind="human", roles=["operator"], attributes={"team": "ops"},
             actor="user:admin")  # fmt: skip
    register("user:mei", kind="human", roles=["model_owner"], attributes={"team": "credit"},
             actor="user:admin")  # fmt: skip
    register("svc:responder", kind="service", roles=["responder"], actor="user:admin")
    return t.policies.publish(Policy.from_file(POLICY), actor="user:admin")


FEATURES = ["income", "debt", "amount"]
GATES = {"metrics": [{"metric": "auc", "min": 0.75}, {"metric": "auc", "max_drop": 0.02}],
         "signoff": {"required": "never"}}  # the policy asks a credit officer already  # fmt: skip
AMOUNTS = [8_000.0, 15_000.0, 30_000.0, 75_000.0]


def _applications(gen: np.random.Generator, n: int, low: float, high: float) -> dict[str, Any]:
    return {
        "income": gen.uniform(low, high, n),
        "debt": gen.uniform(0, 60_000, n),
        "amount": gen.choice(AMOUNTS, n),
    }


def _loan_model(t: Tether) -> tuple[Callable[..., float], Callable[..., str], GovernedModel]:
    model = GovernedModel(t, "loan-model", actor="svc:loan-api")

    def predict(income: float, debt: float, amount: float) -> float:
        """The champion's probability of repayment, as a governed decision."""
        proba = model.predict_proba(np.array([[income, debt, amount]]),
                                    context={"channel": "web"})  # fmt: skip
        return round(float(proba[0, 1]), 3)

    @t.governed("loan-model", "approve_loan", actor="svc:loan-api", context={"channel": "web"})
    def approve_loan(amount: float, score: float) -> str:
        return f"loan of {amount:,.0f} approved"

    return predict, approve_loan, model


def _versions(t: Tether, console: Console) -> None:
    """Train and register two versions of the loan model; each becomes champion with a
    credit officer's sign-off."""
    gen = np.random.default_rng(5)
    folder = t.settings.home / "models"
    folder.mkdir(parents=True, exist_ok=True)
    gates = t.gates.set("loan-model", GATES, actor="user:mei",
                        reason="launch criteria agreed with model risk")  # fmt: skip
    console.print(
        f"gates for loan-model registered before any result: version {gates.version}, "
        f"sha256 {gates.digest[:12]} (auc ≥ 0.75, at most 0.02 below the champion's)"
    )
    for n, trees in ((1, 40), (2, 60), (3, 5)):
        data = _applications(gen, 4_000, 20_000, 150_000)
        X = np.column_stack([data[f] for f in FEATURES])
        odds = 2.5 * (X[:, 0] - X[:, 1]) / X[:, 2] - 0.8 + gen.normal(0, 0.8, len(X))
        y = (odds > 0).astype(int)
        if n == 3:  # a candidate trained on a broken label join
            y = gen.permutation(y)
        gbm = GradientBoostingClassifier(n_estimators=trees, max_depth=3, random_state=n)
        gbm.fit(X[:3_000], y[:3_000])
        auc = round(float(roc_auc_score(y[3_000:], gbm.predict_proba(X[3_000:])[:, 1])), 3)
        path = folder / f"loan-gbm-v{n}.joblib"
        joblib.dump(gbm, path)
        v = t.models.register("loan-model", path, actor="user:mei", metrics={"auc": auc},
                              parent=n - 1 or None, code=None, features=FEATURES,
                              background=X[:100], data=data)  # fmt: skip
        reason = f"v{n}: holdout AUC {auc}"
        try:
            t.models.promote("loan-model", v.version, actor="user:mei", reason=reason)
        except GateFailed as exc:
            failed = "; ".join(r.detail for r in exc.failing)
            console.print(f"[red]gates refused[/] loan-model v{n} as champion: {failed}")
        except ApprovalRequired as exc:
            t.approvals.approve(exc.approval_id, approver="user:olga", comment="report read")
            t.models.promote("loan-model", v.version, actor="user:mei", reason=reason,
                             approval_id=exc.approval_id)  # fmt: skip
    champion = t.models.resolve("loan-model")
    console.print(
        f"model registry: loan-model v1-v3 trained (gradient boosting) and registered "
        f"(artifact SHA-256, training-data fingerprint, metrics, lineage); v1 and v2 passed "
        f"the gates and became champion after a credit officer's sign-off; champion = "
        f"v{champion.version} "
        f"({champion.digest[:12]}), served by GovernedModel (digest checked at load)"
    )


def _read_customer(customer: str) -> dict[str, str]:
    return {"customer": customer, "email": "ana@mail.example", "tier": "gold"}


def _send_email(to: str, subject: str) -> str:
    return f"sent to {to}"


_SEVERITY = ("none", "low", "medium", "high")


def _drift(
    t: Tether, console: Console, rng: random.Random, predict: Callable[..., float]
) -> Signal:
    """Baseline the model's inputs, then watch its recorded decisions drift."""
    gen = np.random.default_rng(rng.randrange(2**32))
    training = _applications(gen, 20_000, 20_000, 150_000)  # what the model was trained on
    baseline = Baseline.build(training, window_size=200, categorical=["amount"])
    detector = AnomalyDetector.fit(training, profile=baseline.profile)
    t.monitor.set_baseline("loan-model", baseline, anomalies=detector, action="predict_proba",
                           actor="user:admin", reason="model training data")  # fmt: skip
    # production: four ordinary windows, each checked (the monitoring page charts them)
    worst: list[str] = []
    for _ in range(4):
        normal = _applications(gen, 200, 20_000, 150_000)
        for income, debt, amount in zip(*normal.values(), strict=True):
            predict(income=float(income), debt=float(debt), amount=float(amount))
        t.ledger.flush()
        drifted = t.monitor.check("loan-model").drift.drifted()
        worst.append(max((f.severity for f in drifted), key=_SEVERITY.index, default="none"))
    console.print(
        f"monitoring: 4 ordinary windows of 200 predictions checked, worst drift per window: "
        f"{', '.join(worst)} (low is within the calibrated false-alarm rate; the policy acts "
        "on high)"
    )
    # then a downturn moves applicants' incomes; every prediction is recorded
    downturn = _applications(gen, 200, 5_000, 110_000)
    for income, debt, amount in zip(*downturn.values(), strict=True):
        predict(income=float(income), debt=float(debt), amount=float(amount))
    t.ledger.flush()
    report = t.monitor.check("loan-model")  # the last 200 recorded predictions
    shifted = report.drift.drifted()[0]
    quality = ", ".join(sorted({f"{q.column} {q.kind}" for q in report.drift.quality}))
    anomalies = report.anomalies
    console.print(
        f"[yellow]drift[/] in {report.window.label} of loan-model/predict_proba: "
        f"{', '.join(f'{f.feature} ({f.severity})' for f in report.drift.drifted())} "
        f"of {len(report.drift.features)} features ({shifted.feature}: {shifted.worst.statistic} "
        f"{shifted.worst.value:.3f} > threshold {shifted.worst.threshold:.3f}); "
        f"quality: {quality or 'none'}; anomalous inputs: "
        f"{'-' if anomalies is None else f'{anomalies.rate:.1%} ({anomalies.severity})'}; "
        f"{len(report.raised)} signals raised, policy now sees signals.drift = "
        f"{t.signals.for_policy('loan-model')['drift']!r}"
    )
    return next(s for s in report.signals if s.kind == "drift" and s.feature == shifted.feature)


def _why_declined(t: Tether, console: Console, decision_id: str) -> None:
    """An applicant asks why: the score decision explained from the ledger's record."""
    t.ledger.flush()
    why = t.explanations.explain(decision_id, actor="user:olga")

    def chance(log_odds: float) -> str:
        return f"{1 / (1 + math.exp(-log_odds)):.0%}"

    console.print(
        f'[bold]"why was I declined?"[/] decision {decision_id} ({why.explainer}): '
        f"{why.sentence} (the score is in log-odds: a {chance(why.output_value)} chance of "
        f"repaying against {chance(why.base_value)} for the average applicant). Stored as "
        f"decision.explained; `tether explain {decision_id}` prints it again, byte for byte."
    )


def _automatic_rollback(
    t: Tether, console: Console, predict: Callable[..., float], model: GovernedModel
) -> None:
    """Show what the policy's drift response did by itself, in ledger order."""
    fired = [r for r in t.responses.fired("loan-model") if r.action == "rollback"]
    back = t.models.history("loan-model")[-1]
    predict(income=60_000.0, debt=10_000.0, amount=15_000.0)
    t.ledger.flush()
    entries = [e for e in t.ledger.iter_entries(start=max(0, t.ledger.size - 400))
               if e.kind in ("signal.raised", "response.fired", "alias.moved",
                             "response.result")]  # fmt: skip
    trail = " → ".join(f"{e.kind} #{e.index}" for e in entries[-4:])
    console.print(
        f"[yellow]automatic rollback[/] by response [cyan]{fired[0].response}[/] "
        f"({fired[0].status}: {fired[0].detail}); champion v{back.previous} → "
        f"v{back.version}, live just before it: "
        f"v{t.models.live_at('loan-model', back.at - timedelta(microseconds=1))}; the next "
        f"prediction was served by v{model.served.version.version}; ledger: {trail}"
    )


def governed_decisions(t: Tether, console: Console, applications: int) -> dict[str, Any]:
    """Run the scenario; return what the summary needs."""
    pub = _setup(t)
    console.print(
        f"published policy [cyan]{pub.name}[/] (version {pub.version}, "
        f"{len(pub.policy.rules)} rules); {len(t.actors.list())} actors, "
        f"{len(t.systems.list())} systems"
    )
    outcomes: Counter[str] = Counter()
    _versions(t, console)
    predict, approve_loan, model = _loan_model(t)
    rng = random.Random(11)
    pending: list[tuple[str, float, float]] = []
    declined: list[str] = []  # the score decisions of declined applicants
    for _ in range(applications):
        income = rng.uniform(20_000, 150_000)
        debt = rng.uniform(0, 60_000)
        amount = rng.choice([8_000.0, 15_000.0, 30_000.0, 75_000.0])
        score = predict(income=income, debt=debt, amount=amount)
        try:
            approve_loan(amount=amount, score=score)
            outcomes["loan approved"] += 1
        except ApprovalRequired as exc:
            outcomes["loan waits for a credit officer"] += 1
            pending.append((exc.approval_id, amount, score))
        except ActionDenied:
            outcomes["loan declined by policy (low score)"] += 1
            declined.append(model.last_decisions[0].id)
    # a credit officer approves the first waiting loan; then it runs exactly once
    approval_id, amount, score = pending[0]
    t.approvals.approve(approval_id, approver="user:olga", comment="income verified by phone")
    result = approve_loan(amount=amount, score=score, _approval_id=approval_id)
    outcomes["loan approved by user:olga"] += 1
    console.print(f"loan model: {applications} applications scored and decided; "
                  f"{approval_id} approved by a credit officer → {result}")  # fmt: skip
    _why_declined(t, console, declined[0])

    # the support agent works a ticket in one session (each step is governed)
    with t.run("ticket-4711", system="support-agent", actor="agent:care-bot") as run:
        run.step("read_customer", _read_customer, customer="cus_42")
        run.step("send_email", _send_email, to="team@demo-bank.example", subject="note")
        try:
            run.step("send_email", _send_email, to="ana@mail.example", subject="your refund")
        except ApprovalRequired as exc:
            mail_approval = exc.approval_id
        t.approvals.approve(mail_approval, approver="user:pia", comment="customer asked for it")
        run.step("send_email", _send_email, to="ana@mail.example", subject="your refund",
                 approval_id=mail_approval)  # fmt: skip
    console.print(
        "support agent: read a customer, mailed a colleague (allowed), then an external "
        f"address → {mail_approval} approved by the privacy officer, sent once"
    )
    outcomes["external e-mail after reading PII: approved by user:pia"] += 1

    # denials: a hard deny, a role without a permit, an undeclared tool, a cap
    attempts: list[tuple[str, str, str, dict[str, Any]]] = [
        ("delete_customer: hard deny", "delete_customer", "agent:care-bot",
         {"customer": "cus_42"}),
        ("refund by an intern: no permit (default deny)", "refund", "agent:intern-bot",
         {"amount": 20.0, "customer": "cus_42"}),
        ("transfer_all: undeclared tool", "transfer_all", "agent:care-bot", {}),
        ("refund of 9,000: above the agent's cap", "refund", "agent:care-bot",
         {"amount": 9000.0, "customer": "cus_42"}),
    ]  # fmt: skip
    for label, action, who, inputs in attempts:
        try:
            t.decide("support-agent", action, actor=who, inputs=inputs, raise_on_denial=True)
        except ActionDenied as exc:
            outcomes[label] += 1
            console.print(f"[red]denied[/] {label}: {exc.decision.reasons[0]}")
    guards = [PaymentCard(action="block"), Email()]

    @t.governed("support-agent", "read_customer", actor="agent:care-bot", output_guardrails=guards)
    def leak(customer: str) -> str:
        return f"card 4111 1111 1111 1111, mail ana@mail.example ({customer})"

    try:
        leak(customer="cus_7")
    except ActionDenied as exc:
        outcomes["output with a card number: blocked by a guardrail"] += 1
        console.print(f"[red]blocked[/] an output with a payment card: {exc.decision.reasons[0]}")

    # a failing tool trips its breaker; an operator stops the agent (kill switch)
    @t.governed("support-agent", "sync_crm", actor="agent:care-bot")
    def sync_crm(customer: str) -> None:
        raise ConnectionError("CRM answered 503")

    failures = 0
    for _ in range(t.settings.breaker_failures):
        try:
            sync_crm(customer="cus_42")
        except ConnectionError:
            failures += 1
    try:
        sync_crm(customer="cus_42")
    except CircuitOpen as exc:
        outcomes["sync_crm after 5 failures: circuit open"] += 1
        console.print(f"[yellow]tripped[/] {exc.decision.reasons[0]}")
    t.breakers.trip("agent:agent:care-bot", actor="user:ops", reason="suspected prompt injection")
    try:
        with t.run("ticket-4712", system="support-agent", actor="agent:care-bot") as run:
            run.step("read_customer", _read_customer, customer="cus_9")
    except (CircuitOpen, RunStopped) as exc:
        outcomes["kill switch: agent stopped"] += 1
        console.print(f"[yellow]kill switch[/] {exc}")
    t.breakers.reset("agent:agent:care-bot", actor="user:ops", reason="prompts sanitised")

    # monitoring closes the loop: production inputs drift, a signal is raised, and
    # policy sends every loan approval to a credit officer until it is cleared
    drift_signal = _drift(t, console, rng, predict)
    _automatic_rollback(t, console, predict, model)
    try:
        approve_loan(amount=9_000.0, score=0.9)
    except ApprovalRequired as exc:
        outcomes["loan after drift: sent to a credit officer"] += 1
        console.print(f"[yellow]closed loop[/] next approval → {exc.decision.rules[0]}")
    t.signals.clear(drift_signal, actor="user:olga", reason="retrained on recent data")

    # backtest a stricter candidate before enforcing it
    candidate = Policy.from_text(
        POLICY.read_text(encoding="utf-8").replace("amount > 50000", "amount > 20000"),
        "candidate.yaml",
    )
    report = replay(t, candidate)
    console.print(f"policy replay of a candidate (approval above 20,000): {report.summary()}")

    table = Table("what happened", "count", title="governed decisions")
    for label, count in outcomes.items():
        table.add_row(label, str(count))
    console.print(table)
    kinds = Counter(e.kind for e in t.ledger.iter_entries())
    ledger = Table("ledger entry kind", "count", title="every step is in the ledger")
    for kind, count in sorted(kinds.items()):
        ledger.add_row(kind, str(count))
    console.print(ledger)
    return {"failures": failures, "changes": len(report.changes)}
