"""decision_repo.feed: newest first, keyset paging, scope and filters (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import update
from tests.pipeline.conftest import check_ledger, setup_governance

from tether import Tether
from tether.pipeline import Decision
from tether.store import decision_repo
from tether.store.tables import decisions
from tether.testing import FrozenClock

# (system, action, actor, inputs, context): allowed, denied, pending_approval, unknown actor.
ASKS = [
    ("support-bot", "read_customer", "agent:support", {"customer": "c1"}, {}),
    ("loan-model", "predict", "svc:scoring", {"income": 1.0}, {}),
    ("support-bot", "refund", "svc:scoring", {"amount": 1.0}, {}),
    ("support-bot", "refund", "agent:support", {"amount": 5000.0}, {"limit": 10**6}),
    ("loan-model", "predict", "agent:rogue", {"income": 2.0}, {}),
    ("other-system", "predict", "svc:scoring", {}, {}),
]


@pytest.fixture
def recorded(
    make_tether: Callable[..., Tether], clock: FrozenClock
) -> Iterator[tuple[Tether, list[Decision]]]:
    """Twelve decisions one minute apart (two rounds of ASKS), oldest first."""
    t = setup_governance(make_tether())
    made = []
    for _ in range(2):
        for system, action, actor, inputs, context in ASKS:
            made.append(t.decide(system, action, actor=actor, inputs=inputs, context=context))
            clock.advance(minutes=1)
    yield t, made
    check_ledger(t)


def _feed(t: Tether, **filters: object) -> list[decision_repo.FeedRow]:
    with t.store.read() as conn:
        return decision_repo.feed(conn, **filters)  # type: ignore[arg-type]


def _ids(rows: list[decision_repo.FeedRow]) -> list[str]:
    return [r.id for r in rows]


def test_newest_first_with_every_column(recorded: tuple[Tether, list[Decision]]) -> None:
    t, made = recorded
    rows = _feed(t, limit=100)
    assert _ids(rows) == [d.id for d in reversed(made)]
    newest, last = rows[0], made[-1]
    assert (newest.ledger_index, newest.system, newest.action, newest.actor, newest.outcome) == (
        last.ledger_index, last.system, last.action, last.actor, last.outcome
    )  # fmt: skip
    assert [r.at for r in rows] == sorted((r.at for r in rows), reverse=True)
    assert {r.outcome for r in rows} == {"allowed", "denied", "pending_approval"}


def test_keyset_pages_cover_everything_once(recorded: tuple[Tether, list[Decision]]) -> None:
    t, made = recorded
    seen: list[str] = []
    before = None
    while True:
        rows = _feed(t, limit=5, before=before)
        if not rows:
            break
        seen += _ids(rows)
        before = rows[-1].ledger_index
    assert seen == [d.id for d in reversed(made)]


def test_filters_and_scope(recorded: tuple[Tether, list[Decision]]) -> None:
    t, made = recorded
    newest_first = list(reversed(made))
    cases = [
        ({"system": "loan-model"}, lambda d: d.system == "loan-model"),
        ({"systems": ["support-bot", "other-system"]}, lambda d: d.system != "loan-model"),
        ({"actor": "svc:scoring"}, lambda d: d.actor == "svc:scoring"),
        ({"outcome": "denied"}, lambda d: d.outcome == "denied"),
        ({"systems": ["loan-model"], "system": "support-bot"}, lambda d: False),
        ({"system": "support-bot", "outcome": "allowed"},
         lambda d: d.system == "support-bot" and d.outcome == "allowed"),
    ]  # fmt: skip
    for filters, keep in cases:
        assert _ids(_feed(t, limit=100, **filters)) == [d.id for d in newest_first if keep(d)]


def test_time_range_is_since_inclusive_until_exclusive(
    recorded: tuple[Tether, list[Decision]],
) -> None:
    t, _ = recorded
    times = sorted({r.at for r in _feed(t, limit=100)})
    since, until = times[2], times[5]
    rows = _feed(t, limit=100, since=since, until=until)
    assert [r.at for r in rows] == [times[4], times[3], times[2]]
    assert _feed(t, limit=100, since=times[-1] + 1) == []


def test_an_old_decision_without_actor_reads_as_none(
    recorded: tuple[Tether, list[Decision]],
) -> None:
    t, made = recorded
    with t.store.write() as conn:  # as rows recorded before migration 0012 are
        conn.execute(update(decisions).where(decisions.c.id == made[0].id).values(actor=None))
    rows = _feed(t, limit=100)
    assert (rows[-1].id, rows[-1].actor) == (made[0].id, None)
    assert made[0].id not in _ids(_feed(t, limit=100, actor=made[0].actor))


FILTERS: list[dict[str, object]] = [
    {},
    {"system": "loan-model"},
    {"actor": "svc:scoring"},
    {"outcome": "denied"},
    {"systems": ["loan-model", "support-bot"]},
    {"system": "loan-model", "outcome": "denied"},
    {"before": 5},
    {"since": 1.0, "until": 2.0},
    {"since": 1.0},
]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f) or "none")
def test_every_feed_query_reads_through_an_index(
    make_tether: Callable[..., Tether], filters: dict[str, object]
) -> None:
    """The first page costs one index walk, never a scan of the table: with 1,000,000
    decisions that is the difference between milliseconds and seconds (bench/feed.py
    measures it)."""
    t = make_tether()
    stmt = decision_repo.feed_query(limit=50, **filters)  # type: ignore[arg-type]
    with t.store.read() as conn:
        sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "sqlite":
            plan = [str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
            scans = [p for p in plan if p.startswith("SCAN") and "INDEX" not in p]
        else:  # a tiny table is scanned sequentially: ask whether an index *can* serve it
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = [str(r[0]) for r in conn.exec_driver_sql(f"EXPLAIN {sql}")]
            scans = [p for p in plan if "Seq Scan" in p]
    assert plan
    assert not scans, plan
