"""``GET /v1/monitoring/{system}/checks``: the recorded checks, newest first, paged."""

from __future__ import annotations

from tests.server.console.test_monitoring import monitored  # noqa: F401 (a fixture)

from .conftest import Api


def test_checks_are_listed_newest_first_with_their_reports(monitored: Api) -> None:  # noqa: F811
    t = monitored.t
    entries = [e for e in t.ledger.iter_entries() if e.kind == "monitor.check"]
    first = monitored.call("GET", "/v1/monitoring/loan-model/checks", "auditor",
                           params={"limit": 2}).json()  # fmt: skip
    assert [c["ledger_index"] for c in first["items"]] == [e.index for e in entries][::-1][:2]
    assert first["items"][0]["report"] == entries[-1].payload
    assert first["items"][0]["checked_at"].endswith("+00:00")
    rest = monitored.call("GET", "/v1/monitoring/loan-model/checks", "auditor",
                          params={"limit": 2, "cursor": first["next"]}).json()  # fmt: skip
    assert [c["ledger_index"] for c in rest["items"]] == [entries[0].index]
    assert rest["next"] is None


def test_a_system_never_checked_has_no_checks_and_scope_applies(monitored: Api) -> None:  # noqa: F811
    empty = monitored.call("GET", "/v1/monitoring/fraud-model/checks", "service")
    assert empty.json() == {"items": [], "next": None}
    scoped = monitored.token("user:aud", "auditor", systems=["fraud-model"])
    refused = monitored.call("GET", "/v1/monitoring/loan-model/checks", scoped)
    assert refused.status_code == 403
