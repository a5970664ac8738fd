"""``GET /v1/decisions``: the decision feed, newest first, filtered, keyset-paged, scoped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tether.testing import FrozenClock

from .conftest import Api

# (system, action, actor, inputs, context): allowed, denied, pending_approval.
ASKS = [
    ("support-bot", "read_customer", "agent:support", {"customer": "c1"}, {}),
    ("loan-model", "predict", "svc:scoring", {"income": 1.0}, {}),
    ("support-bot", "refund", "svc:scoring", {"amount": 1.0}, {}),
    ("support-bot", "refund", "agent:support", {"amount": 5000.0}, {"limit": 10**6}),
    ("loan-model", "predict", "agent:rogue", {"income": 2.0}, {}),
]
START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def _record(api: Api, clock: FrozenClock, rounds: int = 3) -> list[dict[str, Any]]:
    """Decisions one minute apart, newest first, as the feed should show them."""
    made = []
    for _ in range(rounds):
        for system, action, actor, inputs, context in ASKS:
            d = api.t.decide(system, action, actor=actor, inputs=inputs, context=context)
            made.append({"id": d.id, "ledger_index": d.ledger_index, "system": system,
                         "action": action, "actor": actor, "outcome": d.outcome,
                         "at": clock.now().isoformat()})  # fmt: skip
            clock.advance(minutes=1)
    return made[::-1]


def _get(api: Api, who: str, **params: Any) -> Any:
    response = api.call("GET", "/v1/decisions", who, params=params)
    assert response.status_code == 200, response.json()
    return response.json()


def _all_pages(api: Api, who: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    pages = 0
    cursor = None
    while True:
        body = _get(api, who, **params, **({} if cursor is None else {"cursor": cursor}))
        pages += 1
        items += body["items"]
        cursor = body["next"]
        if cursor is None:
            return items, pages


def _iso(minute: int) -> str:
    return datetime.fromtimestamp(START + 60 * minute, UTC).isoformat().replace("+00:00", "Z")


def test_newest_first_with_what_each_decision_was(api: Api, clock: FrozenClock) -> None:
    made = _record(api, clock, rounds=1)
    body = _get(api, "auditor")
    assert (body["items"], body["next"]) == (made, None)
    assert {d["outcome"] for d in made} == {"allowed", "denied", "pending_approval"}


def test_pages_are_complete_and_disjoint(api: Api, clock: FrozenClock) -> None:
    made = _record(api, clock)
    items, pages = _all_pages(api, "admin", limit=4)
    assert (items, pages) == (made, 4)  # 15 decisions: 4 + 4 + 4 + 3, no empty last page


def test_an_exact_multiple_of_the_page_size_has_no_empty_last_page(
    api: Api, clock: FrozenClock
) -> None:
    made = _record(api, clock)
    assert _all_pages(api, "admin", limit=5) == (made, 3)


FILTERS = {
    "system": st.sampled_from(["support-bot", "loan-model", "nowhere"]),
    "actor": st.sampled_from(["agent:support", "svc:scoring", "agent:rogue", "user:nobody"]),
    "outcome": st.sampled_from(["allowed", "denied", "pending_approval", "executed"]),
    "since": st.integers(0, 15).map(_iso),
    "until": st.integers(0, 15).map(_iso),
}


def _expected(made: list[dict[str, Any]], filters: dict[str, str]) -> list[dict[str, Any]]:
    def keep(d: dict[str, Any]) -> bool:
        at = datetime.fromisoformat(d["at"])
        return (
            all(d[k] == filters[k] for k in ("system", "actor", "outcome") if k in filters)
            and ("since" not in filters or at >= datetime.fromisoformat(filters["since"]))
            and ("until" not in filters or at < datetime.fromisoformat(filters["until"]))
        )

    return [d for d in made if keep(d)]


@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    filters=st.fixed_dictionaries({}, optional=FILTERS),
    limit=st.integers(1, 7),
)
def test_any_filters_and_page_size_give_every_match_once(
    api: Api, clock: FrozenClock, filters: dict[str, str], limit: int
) -> None:
    made = getattr(api, "_feed_made", None)
    if made is None:  # record once; examples only read
        made = api._feed_made = _record(api, clock)  # type: ignore[attr-defined]
    if "since" in filters and "until" in filters and filters["since"] >= filters["until"]:
        response = api.call("GET", "/v1/decisions", "admin", params=filters)
        assert response.status_code == 422
        assert "must be before until" in response.json()["error"]["message"]
        return
    items, _ = _all_pages(api, "admin", limit=limit, **filters)
    assert items == _expected(made, filters)


def test_a_scoped_token_sees_only_its_systems(api: Api, clock: FrozenClock) -> None:
    made = _record(api, clock)
    scoped = api.token("user:aud", "auditor", systems=["loan-model"])
    items, _ = _all_pages(api, scoped, limit=2)
    assert items == [d for d in made if d["system"] == "loan-model"]
    assert _get(api, scoped, system="loan-model")["items"] == items
    response = api.call("GET", "/v1/decisions", scoped, params={"system": "support-bot"})
    assert (response.status_code, response.json()["error"]["type"]) == (403, "Forbidden")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "yesterday"}, "since 'yesterday' is not an ISO-8601 date-time"),
        ({"until": "2026-01-01T00:00:00"}, "has no UTC offset: add one (Z or +HH:MM)"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
         "must be before until"),
        ({"cursor": "not-a-cursor"}, "cursor 'not-a-cursor' is not valid"),
        ({"cursor": "eyJvIjo1MH0"}, "is not valid: pass the 'next' of a previous page"),
        ({"cursor": "eyJrIjo5MjIzMzcyMDM2ODU0Nzc1ODA4fQ"}, "is not valid"),  # {"k": 2**63}
        ({"outcome": "maybe"}, "query.outcome: Input should be 'allowed'"),
        ({"limit": 501}, "query.limit: Input should be less than or equal to 500"),
        ({"limit": 0}, "query.limit: Input should be greater than or equal to 1"),
        ({"system": "x'; DROP TABLE decisions;--"}, "query.system: String should match"),
        ({"actor": "../../etc/passwd"}, "query.actor: String should match"),
    ],
)  # fmt: skip
def test_bad_parameters_are_422_naming_the_problem(
    api: Api, params: dict[str, Any], message: str
) -> None:
    response = api.call("GET", "/v1/decisions", "admin", params=params)
    assert response.status_code == 422, response.json()
    assert message in response.json()["error"]["message"]


def test_a_timezone_offset_is_honoured(api: Api, clock: FrozenClock) -> None:
    made = _record(api, clock, rounds=1)
    # 01:02+01:00 is 00:02Z: the three decisions at minutes 2, 3 and 4.
    body = _get(api, "admin", since="2026-01-01T01:02:00+01:00")
    assert body["items"] == made[:3]
