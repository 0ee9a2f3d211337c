"""Audit group commit, per app and process (leader/follower): concurrent requests' records share
one write transaction, and each request still returns only once its own records are committed.

The appender is injected (`append`, `lock_head`): the app's is `service.audit.writer`'s; a test
may hand its own. So is `on_write(seconds)`, told how long each group's transaction took (the
app's metrics).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from service.audit.errors import AuditUnavailable
from service.db import SerializedPostgres, SerializedSqlite

log = logging.getLogger(__name__)


class _Waiter:
    """One request's prepared records waiting for a group commit.

    Woken through a bare lock held from the start (`wait` blocks until `wake` releases it): a
    `threading.Event` is a Condition over a lock, several times the cost per request. Each
    `wake` follows the `wait` it ends (a request is woken once as a follower or successor, and
    once more, as a leader, by its own group, after that wait returned), so the lock is never
    released twice in a row."""

    __slots__ = ("prepared", "_signal", "lead", "done", "receipts", "error")

    def __init__(self, prepared: list[dict[str, Any]]):
        self.prepared = prepared
        self._signal = threading.Lock()
        self._signal.acquire()
        self.lead = False
        self.done = False
        self.receipts: list[Any] | None = None
        self.error: BaseException | None = None

    def wait(self) -> None:
        self._signal.acquire()

    def wake(self) -> None:
        self._signal.release()


def _no_lock_head(_conn) -> None:
    return None


class GroupCommitter:
    """Each request prepares its records in its own thread (identity, pseudonym, normalized JSON,
    audit_id: `service.audit.writer.prepare_events`) and queues them. At most one request thread
    at a time is the leader: once it holds the database writer lock, it takes the queued records
    (FIFO, whole requests, up to MAX_GROUP records; always including its own, which are first in
    the queue) and appends them in ONE write transaction (one writer lock, one commit) with
    contiguous seqs; then it wakes every request of the group with its own receipts, and hands
    the leadership to the oldest request still queued (or ends it when none is). Each request
    waits on its own signal, so waking a group is one step, not a chain of lock hand-offs. So:
    - a request returns only after the transaction holding its records committed;
    - if that transaction fails, every request in it gets the error (503, fail closed);
    - seqs stay gapless (the chain head is read under the database writer lock as before).

    `append(conn, records, state=..., prepared=True) -> receipts` writes a group inside the
    writer's transaction; `lock_head(conn)` is called first, once the writer lock is held.
    """

    MAX_GROUP = 256

    def __init__(self, db, state, *, append: Callable[..., list[Any]],
                 lock_head: Callable[[Any], None] = _no_lock_head,
                 on_write: Callable[[float], None] | None = None):
        self.db = db
        self.on_write = on_write
        self.state = state
        self.append = append
        self.lock_head = lock_head
        self._pending: list[_Waiter] = []
        self._mutex = threading.Lock()
        self._leading = False

    def commit(self, prepared: list[dict[str, Any]]) -> list[Any]:
        waiter = _Waiter(prepared)
        with self._mutex:
            self._pending.append(waiter)
            if not self._leading:  # then the queue was empty: this request is first in it
                self._leading = waiter.lead = True
        if not waiter.lead:
            waiter.wait()
        if not waiter.done:  # woken (or started) as the leader, with its own records first in the queue
            self._lead()
        if waiter.error is not None:
            raise AuditUnavailable() from None  # a fresh one per request (the leader logged it)
        return waiter.receipts  # type: ignore[return-value]

    def _take_group(self) -> list[_Waiter]:
        """The queued requests, oldest first, up to MAX_GROUP records (at least one request)."""
        with self._mutex:
            group: list[_Waiter] = []
            count = 0
            while self._pending and (not group or count + len(self._pending[0].prepared) <= self.MAX_GROUP):
                w = self._pending.pop(0)
                group.append(w)
                count += len(w.prepared)
        return group

    def _writer(self):
        """A SQLite file: its writer lock and the one-statement append; PostgreSQL: the process's
        own connection and the two-round-trip append (service/audit/writer.py); otherwise (an
        in-memory SQLite database) an ordinary write transaction."""
        if getattr(self.db, "serializes_sqlite_writers", False):
            return self.db.serialized_sqlite()
        if getattr(self.db, "is_postgresql", False):
            return self.db.serialized_postgres()
        return self.db.write_transaction(defer_timeouts=True)

    def _lead(self) -> None:
        group: list[_Waiter] = []
        try:
            started = time.perf_counter()
            with self._writer() as conn:
                # Taken once the writer lock is held, not before: the requests that queued while
                # this leader waited for it (another worker's transaction) join this one. Fewer,
                # larger transactions, so less time in the section every worker serializes on.
                self.lock_head(conn)  # PostgreSQL: BEGIN + advisory lock + head read
                group = self._take_group()
                receipts = self.append(conn, [p for w in group for p in w.prepared],
                                       state=self.state, prepared=True)
            # (write_transaction()s are timed by the metrics' SQLAlchemy events)
            if self.on_write is not None and isinstance(conn, SerializedSqlite | SerializedPostgres):
                self.on_write(time.perf_counter() - started)
            i = 0
            for w in group:
                w.receipts = receipts[i:i + len(w.prepared)]
                i += len(w.prepared)
        except BaseException as exc:  # nothing of the group committed: every request in it fails closed
            if not group:  # the transaction did not even begin: those queued now fail with it
                group = self._take_group()
            for w in group:
                w.error = exc
            if not isinstance(exc, AuditUnavailable):  # (append_events logs its own failures)
                # Only the exception's type: its text may carry SQL parameters (PHI).
                log.error("audit write failed (%s) for a group of %d request(s); refused (fail closed)",
                          type(exc).__name__, len(group))
            if not isinstance(exc, Exception):
                raise
        finally:
            with self._mutex:
                for w in group:
                    w.done = True
                successor = self._pending[0] if self._pending else None
                if successor is not None:
                    successor.lead = True
                else:
                    self._leading = False
            for w in group:
                w.wake()
            if successor is not None:
                successor.wake()
