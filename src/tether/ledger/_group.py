"""Leader/follower group commit: many callers, one transaction (one fsync) per batch.

The first caller to arrive becomes the leader and writes everything queued so far in
one transaction; callers arriving meanwhile wait, and the first of them leads the next
batch. Asynchronous requests have no waiting thread: a background writer leads for
them. A waiter blocks on a bare lock released by the leader (cheaper than an Event
or a Future: the wake-up is most of a follower's cost). Coroutines await an asyncio
future; the writer resolves a whole batch's futures with one wake-up of their event
loop, so an asyncio caller costs a fraction of a thread's hand-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from tether.errors import StoreError

__all__ = ["GATHER_SECONDS", "GroupCommit", "Request"]

GATHER_SECONDS = 0.0003

T = TypeVar("T")


class Request(Generic[T]):
    """One queued write; ``item`` is what the batch writer receives."""

    __slots__ = ("_done", "aio", "error", "finished", "future", "item", "lead", "result")

    def __init__(self, item: Any, *, wait: bool, aio: asyncio.Future[T] | None = None) -> None:
        self.item = item
        self.result: T | None = None
        self.error: BaseException | None = None
        self.lead = False
        self.finished = False
        self.aio = aio
        self.future: Future[T] | None = None if wait or aio is not None else Future()
        self._done: Any = None
        if wait:
            self._done = threading.Lock()
            self._done.acquire()

    def finish(self, result: T | None, error: BaseException | None) -> None:
        """Hand the outcome to the caller (asyncio callers: see ``_settle``)."""
        self.result, self.error = result, error
        self.finished = True
        if self.aio is not None:
            return
        if self.future is not None:
            if error is None:
                self.future.set_result(result)  # type: ignore[arg-type]
            else:
                self.future.set_exception(error)
        else:
            self._done.release()

    def promote(self) -> None:
        """Wake the waiting caller to lead the next batch."""
        self.lead = True
        self._done.release()


class GroupCommit(Generic[T]):
    """Serialise batches of requests through ``write(items) -> results``.

    ``write`` returns one result per item; an exception instance as a result fails
    that request alone, an exception raised fails the whole batch.
    """

    def __init__(
        self, write: Callable[[Sequence[Any]], Sequence[T | BaseException]], name: str
    ) -> None:
        self._write = write
        self._name = name
        self._lock = threading.Lock()
        self._queue: list[Request[T]] = []
        self._inflight: list[list[Request[T]]] = []
        self._last_batch = 0  # batches written, not yet finished
        self._leader = False
        self._closed = False
        self._wake = threading.Event()
        self._writer: threading.Thread | None = None
        self._settled = threading.Condition(self._lock)
        self._flushing = 0  # flush() calls waiting for asyncio requests

    def wait(self, item: Any) -> T:
        """Queue ``item``, return its result once its batch committed.

        Raises:
            BaseException: whatever the batch writer raised (nothing was committed).
        """
        request: Request[T] = Request(item, wait=True)
        if self._enqueue(request):
            self._lead()
        else:
            request._done.acquire()
            if request.lead:
                self._lead()
        if request.error is not None:
            raise request.error
        return request.result  # type: ignore[return-value]

    def submit(self, item: Any) -> Future[T]:
        """Queue ``item`` for the background writer; return a future of its result."""
        request: Request[T] = Request(item, wait=False)
        if self._enqueue(request):
            self._start_writer()
        assert request.future is not None
        return request.future

    async def wait_async(self, item: Any) -> T:
        """Queue ``item`` and await its result once its batch committed.

        The background writer leads; the event loop keeps running meanwhile. When no
        batch is being written, the writer is woken once the event loop's current pass
        is over (``call_soon``), not at once: the other coroutines that pass runs (say,
        the requests one poll made ready) queue their entries meanwhile and share the
        commit, for one wake-up of the writer instead of one each.
        """
        loop = asyncio.get_running_loop()
        aio: asyncio.Future[T] = loop.create_future()
        request: Request[T] = Request(item, wait=False, aio=aio)
        with self._lock:
            if self._closed:
                raise StoreError("ledger is closed")
            self._queue.append(request)
            idle = not self._leader
        if idle:
            loop.call_soon(self._kick)
        return await aio

    def _kick(self) -> None:
        """Hand the queue to the background writer, unless a leader has it already."""
        with self._lock:
            if self._leader or not self._queue:
                return
            self._leader = True
        self._start_writer()

    def flush(self) -> None:
        """Wait until every request queued so far is committed (or failed)."""
        with self._lock:
            queued = [r for batch in (*self._inflight, self._queue) for r in batch]
            pending = [r.future for r in queued if r.future]
            # Entries of coroutines whose wake-up (_kick) has not run, or never will
            # (their event loop stopped first): nobody leads them, so this caller does.
            lead = bool(self._queue) and not self._leader
            if lead:
                self._leader = True
        if lead:
            self._lead()
        for fut in pending:
            fut.exception()
        awaited = [r for r in queued if r.aio is not None]
        if awaited:
            with self._settled:
                self._flushing += 1
                try:
                    self._settled.wait_for(lambda: all(r.finished for r in awaited))
                finally:
                    self._flushing -= 1

    def close(self) -> None:
        """Flush, then stop the background writer; later requests are refused."""
        self.flush()
        with self._lock:
            self._closed = True
        self._wake.set()
        if self._writer is not None:
            self._writer.join()

    def _enqueue(self, request: Request[T]) -> bool:
        """Queue a request; return True when the caller must lead."""
        with self._lock:
            if self._closed:
                raise StoreError("ledger is closed")
            self._queue.append(request)
            if self._leader:
                return False
            self._leader = True
            return True

    def _start_writer(self) -> None:
        if self._writer is None:
            self._writer = threading.Thread(target=self._writer_loop, name=self._name, daemon=True)
            self._writer.start()
        self._wake.set()

    def _writer_loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                if self._closed and not self._queue:
                    return
            self._lead()

    def _gather(self) -> None:
        """Under concurrency, let the callers woken by the last batch re-queue first.

        Without this, batches settle at half the callers: while one half commits, the
        other half queues up and is written next. Waiting while the queue still grows
        (at most ``GATHER_SECONDS``, like PostgreSQL's ``commit_delay``) lets both
        halves share one commit; a lone caller never waits.
        """
        if self._last_batch < 2:
            return
        deadline = time.perf_counter() + GATHER_SECONDS
        seen = -1
        while time.perf_counter() < deadline:
            count = len(self._queue)  # a racy read is fine: this is a heuristic
            if count >= 2 * self._last_batch or count == seen:
                return
            seen = count
            time.sleep(GATHER_SECONDS / 6)

    def _lead(self) -> None:
        self._gather()
        with self._lock:
            batch, self._queue = self._queue, []
            self._last_batch = len(batch)
            self._inflight.append(batch)
        outcome: list[tuple[T | None, BaseException | None]]
        try:
            results = self._write([r.item for r in batch])
        except BaseException as exc:  # every caller must learn; nothing was committed
            outcome = [(None, exc)] * len(batch)
        else:
            outcome = [(None, r) if isinstance(r, BaseException) else (r, None) for r in results]
        # Hand the lead on before waking this batch's callers: the next batch's
        # database work (which releases the GIL) overlaps these wake-ups.
        with self._lock:
            successor = next((r for r in self._queue if r._done is not None), None)
            if successor is not None:
                successor.promote()
            elif self._queue:
                self._start_writer()
            else:
                self._leader = False
        loops: defaultdict[asyncio.AbstractEventLoop, list[Request[T]]] | None = None
        for request, (result, error) in zip(batch, outcome, strict=True):
            request.finish(result, error)
            if request.aio is not None:
                if loops is None:
                    loops = defaultdict(list)
                loops[request.aio.get_loop()].append(request)
        if loops is not None:
            for loop, settled in loops.items():
                with contextlib.suppress(RuntimeError):  # the loop was closed: nobody awaits
                    loop.call_soon_threadsafe(_settle, settled)
        with self._lock:
            self._inflight.remove(batch)
            if self._flushing:
                self._settled.notify_all()


def _settle(requests: list[Request[Any]]) -> None:
    """In the event loop: resolve one batch's asyncio futures (one wake-up per batch)."""
    for request in requests:
        aio = request.aio
        assert aio is not None
        if aio.done():  # the awaiting task was cancelled; the entry is committed anyway
            continue
        if request.error is None:
            aio.set_result(request.result)
        else:
            aio.set_exception(request.error)
