"""The ledger: an append-only, Merkle-logged record of everything tether decides.

Appends go through a leader/follower **group commit**: the first caller to arrive
becomes the leader and writes every request queued so far in one transaction (one
fsync); callers that arrive meanwhile wait and are written by the next leader. Across
processes, each transaction locks the tree head first, so index order is commit order
and the log is gap-free.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Literal, overload

import orjson
from sqlalchemy import Connection

from tether.clock import Clock, SystemClock, format_timestamp
from tether.errors import Conflict, InvalidInput, KeyFileError, NotFound, ProofError, StoreError
from tether.ledger._canonical import canonical_json
from tether.ledger._entry import (
    ERASE_KIND,
    Entry,
    encode_entry,
    erase_subject,
    payload_digest,
    validate_fields,
)
from tether.ledger._group import GroupCommit
from tether.ledger._merkle import (
    EMPTY_ROOT,
    NODE_STRIDE,
    CompactRange,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    node_key,
    proof_from_ranges,
    root_from_leaf_hashes,
    verify_consistency,
)
from tether.ledger._note import Checkpoint, Signer, Verifier
from tether.ledger._receipt import Receipt
from tether.store import Store
from tether.store import ledger_repo as repo

__all__ = ["Ledger"]

Durability = Literal["durable", "async"]


@dataclass(slots=True, eq=False)
class _Append:
    kind: str
    actor: str
    subject: str | None
    payload: bytes
    digest: str
    value: Any = None
    erase: int | None = None
    mutation: repo.Mutation | None = None


class Ledger:
    """Append, read, prove and erase ledger entries.

    Open one through :class:`tether.Tether`; it is safe to share between threads.

    Example:
        >>> from tether.testing import temporary_tether
        >>> t = temporary_tether()
        >>> e = t.ledger.append("decision", "svc:loan-api", {"verdict": "allow"})
        >>> (e.index, t.ledger.size)
        (0, 1)
        >>> t.close()
    """

    def __init__(
        self,
        store: Store,
        verifier: Verifier,
        *,
        signer: Signer | None = None,
        clock: Clock | None = None,
        checkpoint_every: int = 1000,
        checkpoint_interval: float = 60.0,
        durability: Durability = "durable",
    ) -> None:
        self.store = store
        self.verifier = verifier
        self.signer = signer
        self.clock: Clock = clock or SystemClock()
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval = checkpoint_interval
        self.durability: Durability = durability
        self._appender = repo.Appender(store.engine)
        self._frontier: tuple[int, bytes, CompactRange] | None = None
        self._group: GroupCommit[Entry] = GroupCommit(self._write, "tether-ledger-writer")

    @property
    def origin(self) -> str:
        """The log's name, as written in its checkpoints."""
        return self.verifier.name

    # -- appending ---------------------------------------------------------------------

    @overload
    def append(
        self,
        kind: str,
        actor: str,
        payload: Any = ...,
        *,
        subject: str | None = ...,
        durability: Literal["durable"] = ...,
        mutation: repo.Mutation | None = ...,
    ) -> Entry: ...

    @overload
    def append(
        self,
        kind: str,
        actor: str,
        payload: Any = ...,
        *,
        subject: str | None = ...,
        durability: Literal["async"],
        mutation: repo.Mutation | None = ...,
    ) -> Future[Entry]: ...

    def append(
        self,
        kind: str,
        actor: str,
        payload: Any = None,
        *,
        subject: str | None = None,
        durability: Durability = "durable",
        mutation: repo.Mutation | None = None,
    ) -> Entry | Future[Entry]:
        """Append one entry; its payload is stored beside it, its digest in it.

        With ``durability="durable"`` (the default) this returns once the entry is
        committed. With ``"async"`` it returns a future at once; the entry is written
        by a background writer in the next group commit, and is lost if the process
        dies before then.

        A ``mutation`` (projection rows, see :class:`tether.store.ledger_repo.Mutation`)
        commits in the same transaction as the entry, or neither does.

        Raises:
            Conflict: a compare-and-set of the mutation failed (nothing was appended).
            InvalidInput: the kind, actor, subject or payload is malformed.
            StoreError: the database refused the write (nothing was appended).
        """
        request = _request(kind, actor, payload, subject)
        request.mutation = mutation
        if durability == "async":
            return self._group.submit(request)
        if durability != "durable":
            raise InvalidInput(f"durability {durability!r} must be 'durable' or 'async'")
        return self._group.wait(request)

    async def append_async(
        self,
        kind: str,
        actor: str,
        payload: Any = None,
        *,
        subject: str | None = None,
        mutation: repo.Mutation | None = None,
    ) -> Entry:
        """Append one entry from a coroutine; return once it is durably committed.

        The event loop keeps running while the batch commits: concurrent tasks share
        one transaction (group commit) and a whole batch is handed back with one
        wake-up of the loop, so many tasks append far faster than many threads.
        Cancelling the awaiting task does not withdraw the entry.

        Raises:
            InvalidInput: the kind, actor, subject or payload is malformed.
            StoreError: the database refused the write (nothing was appended).
        """
        request = _request(kind, actor, payload, subject)
        request.mutation = mutation
        return await self._group.wait_async(request)

    def record(
        self,
        kind: str,
        actor: str,
        payload: Any = None,
        *,
        subject: str | None = None,
        mutation: repo.Mutation | None = None,
    ) -> Future[Entry]:
        """Append with the configured default durability (``TETHER_DURABILITY``).

        Components that record on the caller's behalf use this. The future is
        already done when the durability is ``durable``.

        Raises:
            InvalidInput: the kind, actor, subject or payload is malformed.
            StoreError: a durable write failed (nothing was appended).
        """
        if self.durability == "async":
            return self.append(
                kind, actor, payload, subject=subject, durability="async", mutation=mutation
            )
        done: Future[Entry] = Future()
        done.set_result(self.append(kind, actor, payload, subject=subject, mutation=mutation))
        return done

    def erase(self, index: int, reason: str, actor: str) -> Entry:
        """Delete the payload of entry ``index`` and record the erasure as an entry.

        The erased entry keeps its digest, so the log still verifies.

        Raises:
            NotFound: there is no entry ``index``.
            InvalidInput: the payload is already erased, or the reason is empty.
        """
        if not reason or not reason.strip():
            raise InvalidInput("an erasure needs a reason (e.g. 'retention: 7 years elapsed')")
        target = self.get(index)
        if target.erased:
            raise InvalidInput(f"payload of entry {index} was already erased by {target.erased_by}")
        if target.kind == ERASE_KIND:
            raise InvalidInput(f"entry {index} records an erasure; its payload cannot be erased")
        body = canonical_json({"index": index, "reason": reason})
        request = _Append(
            ERASE_KIND,
            actor,
            erase_subject(index),
            body,
            payload_digest(body),
            orjson.loads(body),
            erase=index,
        )
        validate_fields(request.kind, actor, request.subject)
        return self._group.wait(request)

    def flush(self) -> None:
        """Wait until every async append queued so far is committed."""
        self._group.flush()

    def close(self) -> None:
        """Flush pending appends, stop the background writer, return the connection."""
        self._group.close()
        self._appender.close()

    def _write(self, batch: Sequence[_Append]) -> list[Entry | BaseException]:
        """Write one batch in one transaction; a refused erasure fails alone."""
        if not batch:
            return []
        with self._appender.transaction() as tx:
            head = tx.lock_head()
            tree = self._tree(head)
            moment = self.clock.now()
            stamp = format_timestamp(moment)
            rows: list[tuple[int, bytes, bytes, bytes]] = []
            deferred: dict[str, list[tuple[Any, ...]]] = {}
            nodes: list[tuple[int, bytes]] = []
            results: list[Entry | BaseException] = []
            index = head.size
            for req in batch:
                if req.erase is not None and not tx.erase(req.erase, index):
                    # Another writer erased it between our check and this transaction.
                    results.append(InvalidInput(f"payload of entry {req.erase} was already erased"))
                    continue
                if req.mutation is not None:
                    if req.mutation.batched:
                        for st in req.mutation.statements:
                            deferred.setdefault(st.sql, []).append(
                                tuple(index if p is repo.ENTRY_INDEX else p for p in st.params)
                            )
                    else:
                        conflict = tx.apply(req.mutation, index)
                        if conflict is not None:
                            results.append(Conflict(conflict))
                            continue
                raw = encode_entry(index, stamp, req.kind, req.actor, req.subject, req.digest)
                leaf = leaf_hash(raw)
                for level, node_index, digest in tree.append(leaf):
                    if not level % NODE_STRIDE:
                        nodes.append((node_key(level, node_index), digest))
                rows.append((index, raw, leaf, req.payload))
                results.append(
                    Entry(
                        index, stamp, req.kind, req.actor, req.subject, req.digest, raw, req.value
                    )
                )
                index += 1
            new_head = repo.Head(
                tree.size, tree.to_bytes(), tree.root(), head.checkpoint_size, head.checkpoint_at
            )
            now = moment.timestamp()
            if self._checkpoint_due(head, tree.size, now):
                new_head, _ = self._sign_into(tx, new_head, now)
            if deferred:
                tx.insert_rows(deferred)
            tx.insert(rows, nodes, new_head)
        self._frontier = (new_head.size, new_head.frontier, tree)
        return results

    def _tree(self, head: repo.Head) -> CompactRange:
        """The head's frontier, reusing the one this writer left when nobody else
        appended since (parsing it costs a few µs an append)."""
        # Taken, not shared: appends mutate it, and a failed batch must not leave a
        # half-advanced tree behind (it is put back only after a commit).
        cached, self._frontier = self._frontier, None
        if cached is not None and cached[0] == head.size and cached[1] == head.frontier:
            return cached[2]
        return CompactRange.from_bytes(head.size, head.frontier)

    def _checkpoint_due(self, head: repo.Head, size: int, now: float) -> bool:
        if self.signer is None:
            return False
        if self.checkpoint_every and size - head.checkpoint_size >= self.checkpoint_every:
            return True
        return bool(
            self.checkpoint_interval
            and size > head.checkpoint_size
            and now - head.checkpoint_at >= self.checkpoint_interval
        )

    def _sign_into(
        self, tx: repo.AppendTransaction, head: repo.Head, now: float
    ) -> tuple[repo.Head, Checkpoint]:
        if self.signer is None:
            raise KeyFileError("no signing key loaded: checkpoints need TETHER_SIGNING_KEY")
        cp = Checkpoint.sign(self.signer, head.size, head.root)
        tx.insert_checkpoint(repo.CheckpointRow(cp.size, cp.root, cp.note, now))
        return repo.Head(head.size, head.frontier, head.root, head.size, now), cp

    # -- reading -----------------------------------------------------------------------

    @property
    def size(self) -> int:
        """The number of committed entries."""
        with self.store.read() as conn:
            return _require_head(conn).size

    def root(self) -> bytes:
        """The current Merkle root."""
        with self.store.read() as conn:
            return _require_head(conn).root

    def get(self, index: int) -> Entry:
        """Return entry ``index`` with its payload (None once erased).

        Raises:
            NotFound: there is no such entry.
        """
        with self.store.read() as conn:
            rows = repo.entry_rows(conn, index, index + 1)
        if not rows:
            raise NotFound(f"ledger entry {index} does not exist")
        return _to_entry(rows[0])

    def tail(self, n: int = 10) -> list[Entry]:
        """Return the last ``n`` entries, oldest first."""
        with self.store.read() as conn:
            size = _require_head(conn).size
            rows = repo.entry_rows(conn, max(0, size - n), size)
        return [_to_entry(r) for r in rows]

    def iter_entries(self, start: int = 0) -> Iterator[Entry]:
        """Yield every entry from ``start`` on, in index order, in bounded memory."""
        with self.store.read() as conn:
            for chunk in repo.iter_entry_rows(conn):
                for row in chunk:
                    if row[0] >= start:
                        yield _to_entry(repo.EntryRow(*row))

    # -- checkpoints and proofs ----------------------------------------------------------

    def checkpoint(self) -> Checkpoint:
        """Sign (or reuse) a checkpoint of the current tree.

        Raises:
            KeyFileError: no signing key is loaded.
        """
        if self.signer is None:
            raise KeyFileError("no signing key loaded: checkpoints need TETHER_SIGNING_KEY")
        with self._appender.transaction() as tx:
            head = tx.lock_head()
            if head.checkpoint_size == head.size and head.size > 0:
                with self.store.read() as conn:
                    latest = repo.checkpoint_rows(conn, min_size=head.size, latest=True)
                if latest and latest[0].size == head.size:
                    return Checkpoint.open(latest[0].note, self.verifier)
            signed, checkpoint = self._sign_into(tx, head, self.clock.now().timestamp())
            tx.update_head(signed)
        # Ed25519 signatures are deterministic: a row another writer stored for the
        # same size holds exactly this note.
        return checkpoint

    def checkpoints(self) -> list[Checkpoint]:
        """Return every stored checkpoint, verified, in size order."""
        with self.store.read() as conn:
            rows = repo.checkpoint_rows(conn)
        return [Checkpoint.open(r.note, self.verifier) for r in rows]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """Return the inclusion proof of entry ``index`` in the tree of ``size`` entries.

        Raises:
            ProofError: ``index`` is not below ``size`` or ``size`` exceeds the log.
        """
        with self.store.read() as conn:
            self._check_size(conn, size)
            return proof_from_ranges(inclusion_ranges(index, size), _fetcher(conn))

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """Return the proof that the tree of ``new_size`` extends that of ``old_size``."""
        with self.store.read() as conn:
            self._check_size(conn, new_size)
            return proof_from_ranges(consistency_ranges(old_size, new_size), _fetcher(conn))

    def _check_size(self, conn: Connection, size: int) -> None:
        current = _require_head(conn).size
        if size > current:
            raise ProofError(f"tree size {size} exceeds the log's {current} entries")

    def receipt(self, index: int) -> Receipt:
        """Return an offline-verifiable receipt for entry ``index``.

        Uses the newest stored checkpoint covering the entry, signing one if none does.

        Raises:
            NotFound: there is no entry ``index``.
        """
        entry = self.get(index)
        with self.store.read() as conn:
            latest = repo.checkpoint_rows(conn, min_size=index + 1, latest=True)
        cp = Checkpoint.open(latest[0].note, self.verifier) if latest else self.checkpoint()
        proof = self.inclusion_proof(index, cp.size)
        return Receipt(
            entry=entry.raw,
            payload_digest=entry.payload_digest,
            leaf_index=index,
            tree_size=cp.size,
            inclusion_proof=tuple(proof),
            checkpoint=cp.note,
        )

    def prove_extends(self, old: Checkpoint) -> tuple[Checkpoint, list[bytes]]:
        """Prove that the current log extends the signed checkpoint ``old``.

        Returns the current checkpoint and the consistency proof, already verified.

        Raises:
            ProofError: the log does not extend ``old`` (it was rewritten or truncated).
        """
        new = self.checkpoint()
        if old.size > new.size:
            raise ProofError(
                f"the log has {new.size} entries, fewer than the {old.size} of the "
                "checkpoint: it was truncated"
            )
        proof = self.consistency_proof(old.size, new.size)
        try:
            verify_consistency(old.size, new.size, proof, old.root, new.root)
        except ProofError as exc:
            raise ProofError(
                f"the log does not extend the checkpoint of size {old.size}: its first "
                f"{old.size} entries were rewritten ({exc})"
            ) from exc
        return new, proof


def _request(kind: str, actor: str, payload: Any, subject: str | None) -> _Append:
    """Validate and canonicalise an append (in the caller's thread, before queueing)."""
    validate_fields(kind, actor, subject)
    if kind == ERASE_KIND:
        raise InvalidInput(f"kind {kind!r} is reserved: erase payloads with Ledger.erase")
    body = canonical_json(payload)
    return _Append(kind, actor, subject, body, payload_digest(body), payload)


def _require_head(conn: Connection) -> repo.Head:
    head = repo.read_head(conn)
    if head is None:
        raise StoreError("ledger is not initialised: run 'tether init'")
    return head


def _to_entry(row: repo.EntryRow) -> Entry:
    payload = None if row.payload is None else orjson.loads(row.payload)
    return Entry.parse(row.entry, payload=payload, erased_by=row.erased_by)


def _fetcher(
    conn: Connection,
) -> Callable[[Sequence[tuple[int, int]]], Mapping[tuple[int, int], bytes]]:
    """Read proof nodes: leaves and stored levels directly, the others rebuilt."""

    def fetch(wanted: Sequence[tuple[int, int]]) -> Mapping[tuple[int, int], bytes]:
        # Each wanted node is rebuilt from the stored level at or below it.
        sources: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for level, index in wanted:
            base = level - level % NODE_STRIDE
            width = level - base
            sources[(level, index)] = [
                (base, i) for i in range(index << width, (index + 1) << width)
            ]
        needed = {n for parts in sources.values() for n in parts}
        found: dict[tuple[int, int], bytes] = {
            (0, i): h for i, h in repo.leaf_hashes(conn, [i for lv, i in needed if not lv]).items()
        }
        keys = {node_key(lv, i): (lv, i) for lv, i in needed if lv}
        for key, digest in repo.node_hashes(conn, keys).items():
            found[keys[key]] = digest
        missing = [n for n in needed if n not in found]
        if missing:
            raise StoreError(f"Merkle nodes {sorted(missing)[:3]} are missing from the store")
        # Each source list is a complete subtree's 2**k nodes of one level.
        return {
            node: root_from_leaf_hashes([found[p] for p in parts])
            for node, parts in sources.items()
        }

    return fetch


def _store_error(exc: BaseException) -> StoreError:
    err = StoreError(f"ledger append failed, nothing was written: {exc}")
    err.__cause__ = exc
    return err


def initialise(store: Store, verifier: Verifier, clock: Clock) -> bool:
    """Write the ledger's metadata and empty head; return False if already done."""
    with store.write() as conn:
        if repo.read_head(conn) is not None:
            return False
        repo.set_meta(conn, {"origin": verifier.name, "verifier_key": verifier.vkey})
        repo.create_head(conn, EMPTY_ROOT, clock.now().timestamp())
    return True
