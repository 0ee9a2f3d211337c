"""The audit group commit (service/audit/group_commit.py GroupCommitter) on its own: records of
concurrent requests share transactions, each request gets its own receipts, and a transaction
that fails (or never begins) fails every request in it, closed, without wedging the next ones."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest

from service.audit.group_commit import GroupCommitter
from service.errors import ServiceUnavailable


class FakeDatabase:
    def __init__(self):
        self.transactions: list[list[str]] = []
        self.fail_begin = False
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def write_transaction(self, **_options):
        with self.lock:  # the writer lock: one transaction at a time
            time.sleep(0.02)  # a commit's fsync: requests queue meanwhile
            if self.fail_begin:
                raise OSError("database is locked")
            batch: list[str] = []
            yield batch
            self.transactions.append(batch)


@pytest.fixture
def committer():
    def append_events(conn, records, *, state, prepared):
        assert prepared
        conn.extend(r["id"] for r in records)
        return [f"receipt-{r['id']}" for r in records]

    return GroupCommitter(FakeDatabase(), state=None, append=append_events)


def _run(committer, n: int) -> dict[int, object]:
    out: dict[int, object] = {}
    start = threading.Barrier(n)

    def request(i: int) -> None:
        start.wait()
        records = [{"id": f"{i}.{k}"} for k in range(1 + i % 3)]
        try:
            out[i] = committer.commit(records)
        except ServiceUnavailable as exc:
            out[i] = exc

    threads = [threading.Thread(target=request, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return out


def test_concurrent_requests_share_transactions_and_get_their_own_receipts(committer):
    out = _run(committer, 24)
    for i, receipts in out.items():
        assert receipts == [f"receipt-{i}.{k}" for k in range(1 + i % 3)]
    transactions = committer.db.transactions
    assert sum(len(t) for t in transactions) == sum(1 + i % 3 for i in range(24))
    assert len(transactions) < 24  # grouped: fewer transactions than requests
    for t in transactions:  # a request's records stay together, in order
        ids = [r.split(".") for r in t]
        for (a, k), (b, m) in zip(ids, ids[1:], strict=False):
            assert a != b or int(m) == int(k) + 1


def test_a_transaction_that_cannot_begin_fails_its_requests_closed_and_the_next_go_through(committer):
    committer.db.fail_begin = True
    out = _run(committer, 8)
    assert all(isinstance(v, ServiceUnavailable) for v in out.values())
    assert committer.db.transactions == []
    committer.db.fail_begin = False
    out = _run(committer, 8)
    assert all(isinstance(v, list) for v in out.values())
    assert sorted(r for t in committer.db.transactions for r in t) == sorted(
        f"{i}.{k}" for i in range(8) for k in range(1 + i % 3))
