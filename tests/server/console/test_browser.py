"""The console in a real browser: Debian's Chromium driven by Playwright against a real
``tether serve`` process over a home prepared here (the issue's acceptance scenarios).

(a) an approver logs in, approves a refund with a justification in the inbox, a second
    approver completes it; the agent re-submits with the approval id over the HTTP API;
    the decision appears live in the feed and its receipt verifies in the browser;
(b) an operator trips a system's kill switch on the breakers page and the next decision
    of that system is refused (circuit_open).

A screenshot of every console page is saved to ``$TETHER_ARTIFACTS`` (default
``tests/artifacts/screenshots/``, git-ignored). Chromium is never downloaded: the tests
use ``/usr/bin/chromium`` (``apt-get install chromium``) and are skipped without it,
except under CI (``CI`` set), where a missing browser fails them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from tests.server.conftest import governed

from tether import Settings, Tether
from tether.server import Tokens
from tether.server._users import Users

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct horse battery staple"
WHY = "Checked the invoice and the customer's history: the refund matches the order."
USERS = {  # username: (actor, role)
    "lea": ("user:lea", "approver"),
    "max": ("user:max", "approver"),
    "ops": ("user:ops", "operator"),
    "root": ("user:root", "admin"),
}
REFUND = {"system": "support-bot", "action": "refund", "inputs": {"amount": 5000},
          "context": {"amount": 5000, "limit": 10_000}}  # fmt: skip

if not CHROMIUM.exists():
    reason = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)

pytestmark = pytest.mark.slow
playwright = pytest.importorskip("playwright.sync_api")


def artifacts() -> Path:
    """Where screenshots go."""
    env = os.environ.get("TETHER_ARTIFACTS")
    folder = Path(env) if env else Path(__file__).parents[2] / "artifacts" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    """A running ``tether serve`` and API tokens for the agent and the scoring service."""

    url: str
    tokens: dict[str, str]

    def decide(self, who: str, body: dict[str, Any]) -> dict[str, Any]:
        """Ask for a decision over the HTTP API, as a service or agent would."""
        r = httpx.post(f"{self.url}/v1/decisions", json=body, timeout=10,
                       headers={"Authorization": f"Bearer {self.tokens[who]}"})  # fmt: skip
        assert r.status_code == 200, r.text
        found: dict[str, Any] = r.json()
        return found


def prepare(home: Path) -> dict[str, str]:
    """A governed home with console users, API tokens and a few decisions."""
    t = governed(Tether.init(Settings(home=home)))
    try:
        users = Users(t)
        for name, (actor, role) in USERS.items():
            users.create(name, actor, role, PASSWORD, by="user:root")
        tokens = Tokens(t)
        secrets = {
            "agent": tokens.create("agent:support", "agent", by="user:root")[1],
            "service": tokens.create("svc:scoring", "service", by="user:root")[1],
        }
        for i in range(3):
            t.decide("support-bot", "read_customer", actor="agent:support",
                     inputs={"customer": f"c{i}"})  # fmt: skip
        t.decide("support-bot", "read_customer", actor="agent:rogue", inputs={"customer": "x"})
        t.decide("loan-model", "predict", actor="svc:scoring", inputs={"income": 52_000})
    finally:
        t.close()
    return secrets


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``tether serve`` on a free loopback port over a prepared home."""
    root = tmp_path_factory.mktemp("browser")
    home = root / "home"
    tokens = prepare(home)
    port = free_port()
    tether_cli = Path(sys.executable).parent / "tether"
    log = (root / "serve.log").open("wb")
    proc = subprocess.Popen(
        [str(tether_cli), "--home", str(home), "serve", "--host", "127.0.0.1", "--port",
         str(port)], stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:  # wait for the process to listen (not a timing assumption)
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, (root / "serve.log").read_text()
            assert time.monotonic() < deadline, "tether serve did not start within 30 s"
            time.sleep(0.1)
        yield Server(url, tokens)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield b
        b.close()


def login(browser: Any, server: Server, username: str) -> Any:
    """A new browser context logged in as ``username``; returns its page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{server.url}/console/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_selector('[data-test="user-actor"]')
    return page


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(artifacts() / f"{name}.png"), full_page=True)


def test_approve_in_the_inbox_then_the_action_runs_and_is_recorded(
    server: Server, browser: Any
) -> None:
    asked = server.decide("agent", REFUND)
    assert asked["outcome"] == "pending_approval"
    approval = asked["approval_id"]

    lea = login(browser, server, "lea")
    lea.click('[data-test="nav-approvals"]')
    lea.wait_for_selector(f'[data-approval="{approval}"]')
    lea.click(f'[data-test="open-{approval}"]')
    assert "do not approve just because the AI proposed it" in lea.inner_text("#reminder")
    lea.fill("#approve-justification", WHY)
    lea.click("#approve")
    assert "more approvers are still needed" in lea.inner_text('[data-test="flash"]')

    max_ = login(browser, server, "max")
    max_.goto(f"{server.url}/console/approvals/{approval}")
    max_.fill("#approve-justification", WHY)
    max_.click("#approve")
    assert "Approved." in max_.inner_text('[data-test="flash"]')
    assert max_.inner_text("#approval-state") == "approved"

    # The feed is open when the agent re-submits: the new row appears without a reload.
    lea.goto(f"{server.url}/console/decisions")
    lea.wait_for_selector("#live-status")
    ran = server.decide("agent", {**REFUND, "approval_id": approval})
    assert ran["outcome"] == "allowed"
    row = lea.wait_for_selector(f'tr[data-index="{ran["ledger_index"]}"]')
    assert "allowed" in row.inner_text()
    row.query_selector("a").click()
    lea.wait_for_selector('#receipt-browser[data-result="verified"]')
    assert lea.inner_text("#decision-outcome") == "allowed"
    assert lea.get_attribute("#receipt-server", "data-result") == "verified"
    assert "consumed" in lea.inner_text("#approval")
    details = lea.inner_text("#receipt-browser-details")
    assert "Merkle inclusion proof" in details
    assert "✗" not in details
    lea.context.close()
    max_.context.close()


def test_the_kill_switch_stops_the_next_decision(server: Server, browser: Any) -> None:
    before = server.decide("service", {"system": "loan-model", "action": "predict",
                                       "inputs": {"income": 40_000}})  # fmt: skip
    assert before["outcome"] == "allowed"

    ops = login(browser, server, "ops")
    ops.click('[data-test="nav-breakers"]')
    ops.click('[data-test="trip-open-loan-model"]')
    form = ops.locator('form[data-test="trip-loan-model"]')
    form.locator("textarea[name=reason]").fill("Drift alarm: stop the loan model now.")
    form.locator('[data-test="confirm"]').check()
    form.locator("button[type=submit]").click()
    ops.wait_for_selector('[data-test="flash"]')
    assert ops.get_attribute('[data-test="breaker-loan-model"]', "data-state") == "open"

    after = server.decide("service", {"system": "loan-model", "action": "predict",
                                      "inputs": {"income": 40_000}})  # fmt: skip
    assert (after["outcome"], after["allowed"]) == ("circuit_open", False)
    ops.goto(f"{server.url}/console/decisions?system=loan-model")
    top = ops.locator('tr[data-test="decision-row"]').first
    assert top.get_attribute("data-index") == str(after["ledger_index"])
    assert "circuit_open" in top.inner_text()
    ops.context.close()


def test_screenshots_of_every_page(server: Server, browser: Any) -> None:
    asked = server.decide("agent", {**REFUND, "inputs": {"amount": 2500},
                                    "context": {"amount": 2500, "limit": 10_000}})  # fmt: skip
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{server.url}/console/login")
    shot(page, "login")
    page.close()
    context.close()

    root = login(browser, server, "root")
    pages = {
        "overview": "/console/",
        "decisions": "/console/decisions",
        "decision": f"/console/decisions/{asked['id']}",
        "approvals": "/console/approvals",
        "approval": f"/console/approvals/{asked['approval_id']}",
        "monitoring": "/console/monitoring",
        "breakers": "/console/breakers",
    }
    for name, path in pages.items():
        response = root.goto(f"{server.url}{path}")
        assert response is not None
        assert response.status == 200, name
        if name == "decision":
            root.wait_for_selector('#receipt-browser:not([data-result="pending"])')
        shot(root, name)
    assert {p.stem for p in artifacts().glob("*.png")} >= {"login", *pages}
    root.context.close()
