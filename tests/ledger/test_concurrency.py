"""Many threads and many processes append at once: one gap-free, duplicate-free log."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tether import InvalidInput, Settings, Tether
from tether.ledger import verify_ledger

APPENDER = Path(__file__).with_name("appender.py")


def _all_indices(t: Tether) -> list[int]:
    return [e.index for e in t.ledger.iter_entries()]


def _payload_keys(t: Tether) -> set[tuple[int, int, int]]:
    return {
        (e.payload["worker"], e.payload["thread"], e.payload["i"]) for e in t.ledger.iter_entries()
    }


def _spawn(settings: Settings, worker: int, count: int, threads: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            str(APPENDER),
            str(settings.home),
            settings.resolved_database_url(),
            str(worker),
            str(count),
            str(threads),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _append_from_threads(t: Tether, threads: int, count: int) -> list[BaseException]:
    """Append ``count`` entries from each of ``threads`` threads (worker 0); return the errors."""
    errors: list[BaseException] = []

    def run(thread: int) -> None:
        try:
            for i in range(count):
                t.ledger.append(
                    "decision", f"agent:{thread}", {"worker": 0, "thread": thread, "i": i}
                )
        except BaseException as exc:  # pragma: no cover - reported by the caller
            errors.append(exc)

    pool = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return errors


@pytest.mark.slow
def test_eight_threads_times_5000(make_tether: Callable[..., Tether]) -> None:
    t = make_tether(checkpoint_every=5000)
    errors = _append_from_threads(t, threads=8, count=5000)
    assert errors == []
    assert t.ledger.size == 40_000
    assert _all_indices(t) == list(range(40_000))
    assert len(_payload_keys(t)) == 40_000
    report = verify_ledger(t.store, t.ledger.verifier)
    assert report.ok, report.summary()


@pytest.mark.slow
def test_threads_then_four_processes_make_60000(make_tether: Callable[..., Tether]) -> None:
    """The acceptance run: 8 threads x 5,000 plus 4 processes x 5,000 appends."""
    t = make_tether(checkpoint_every=5000)
    procs = [_spawn(t.settings, worker, 5000, 1) for worker in range(1, 5)]
    errors = _append_from_threads(t, threads=8, count=5000)
    outputs = [p.communicate(timeout=600) for p in procs]
    assert errors == []
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err for _, err in outputs]
    returned = [int(line.split()[0]) for out, _ in outputs for line in out.splitlines()]
    assert len(returned) == 20_000
    assert t.ledger.size == 60_000
    assert _all_indices(t) == list(range(60_000))
    assert len(_payload_keys(t)) == 60_000
    assert set(returned) <= set(range(60_000))
    report = verify_ledger(t.store, t.ledger.verifier)
    assert report.ok, report.summary()


def test_async_appends_are_ordered_and_flushed(make_tether: Callable[..., Tether]) -> None:
    t = make_tether()
    futures = [t.ledger.append("decision", "bot", {"i": i}, durability="async") for i in range(500)]
    t.ledger.flush()
    assert all(f.done() for f in futures)
    assert [f.result().index for f in futures] == list(range(500))
    assert [e.payload["i"] for e in t.ledger.iter_entries()] == list(range(500))


def test_asyncio_tasks_share_commits_and_get_their_own_entries(
    make_tether: Callable[..., Tether],
) -> None:
    t = make_tether()
    batches: list[int] = []
    write = t.ledger._group._write
    t.ledger._group._write = lambda items: (batches.append(len(items)), write(items))[1]

    async def task(n: int) -> list[tuple[int, int]]:
        out = []
        for i in range(25):
            entry = await t.ledger.append_async("decision", f"agent:{n}", {"n": n, "i": i})
            out.append((entry.index, entry.payload["i"]))
        return out

    async def main() -> list[list[tuple[int, int]]]:
        return await asyncio.gather(*(task(n) for n in range(16)))

    results = asyncio.run(main())
    indices = sorted(index for per_task in results for index, _ in per_task)
    assert indices == list(range(400))
    for n, per_task in enumerate(results):
        assert [i for _, i in per_task] == list(range(25))  # each task's own entries, in order
        assert all(t.ledger.get(index).payload == {"n": n, "i": i} for index, i in per_task)
    assert len(batches) < 400  # tasks shared commits
    assert verify_ledger(t.store, t.ledger.verifier).ok


def test_asyncio_append_errors_and_cancellation(make_tether: Callable[..., Tether]) -> None:
    t = make_tether()

    async def main() -> None:
        with pytest.raises(InvalidInput, match="reserved"):
            await t.ledger.append_async("payload.erased", "bot", {})
        task = asyncio.ensure_future(t.ledger.append_async("decision", "bot", {"x": 1}))
        await asyncio.sleep(0)  # queued, not yet committed
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    t.ledger.flush()  # a cancelled append is still written: cancelling never withdraws
    assert [e.payload for e in t.ledger.iter_entries()] == [{"x": 1}]


def test_record_uses_the_configured_durability(make_tether: Callable[..., Tether]) -> None:
    durable = make_tether()
    assert durable.ledger.record("decision", "bot", {}).done()
    asynchronous = make_tether(durability="async")
    fut = asynchronous.ledger.record("decision", "bot", {"x": 1})
    assert fut.result(timeout=30).payload == {"x": 1}


@pytest.mark.slow
@pytest.mark.parametrize("threads", [1, 4])
def test_sigkill_loses_no_returned_append(make_tether: Callable[..., Tether], threads: int) -> None:
    t = make_tether()
    proc = _spawn(t.settings, 1, 1_000_000, threads)
    assert proc.stdout is not None
    returned: list[tuple[int, int, int, int]] = []
    for line in proc.stdout:
        returned.append(tuple(int(x) for x in line.split()))  # type: ignore[arg-type]
        if len(returned) == 400:
            break
    os.kill(proc.pid, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=60)
    # Lines already written by the killed process also count as returned appends.
    returned += [
        tuple(int(x) for x in line.split()) for line in rest.splitlines() if line.count(" ") == 3
    ]  # type: ignore[misc]
    assert proc.returncode == -signal.SIGKILL

    with Tether.open(t.settings) as reopened:
        size = reopened.ledger.size
        for index, _worker, thread, i in returned:
            entry = reopened.ledger.get(index)
            assert (entry.payload["thread"], entry.payload["i"]) == (thread, i)
        assert size >= len(returned)
        assert [e.index for e in reopened.ledger.iter_entries()] == list(range(size))
        report = verify_ledger(reopened.store, reopened.ledger.verifier)
        assert report.ok, report.summary()
        # The log keeps working after the crash.
        assert reopened.ledger.append("decision", "bot", {}).index == size


def test_an_append_whose_event_loop_stopped_is_still_written(
    make_tether: Callable[..., Tether],
) -> None:
    # The writer is woken after the event loop's pass (call_soon); a loop stopped and
    # closed before that leaves the entry queued with nobody leading: flush leads it.
    t = make_tether()
    loop = asyncio.new_event_loop()
    task = loop.create_task(t.ledger.append_async("decision", "bot", {"x": 1}))
    loop.call_soon(loop.stop)  # runs right after the task queued its entry
    loop.run_forever()
    loop.close()
    assert not task.done()
    t.ledger.flush()
    assert t.ledger.append("decision", "bot", {"x": 2}).index == 1
    assert [e.payload for e in t.ledger.iter_entries()] == [{"x": 1}, {"x": 2}]
