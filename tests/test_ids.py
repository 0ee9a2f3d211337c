"""service/ids.py: random bytes for request and audit ids, drawn from the OS in blocks."""

from __future__ import annotations

import os
import threading

import pytest

from service import ids
from service.audit.writer import new_audit_id


def test_bytes_are_never_handed_out_twice_across_blocks_and_threads():
    pool = ids.RandomPool()
    taken: list[bytes] = []
    lock = threading.Lock()

    def take():
        mine = [pool.take(10) for _ in range(2000)]  # ~5 blocks per thread
        with lock:
            taken.extend(mine)

    threads = [threading.Thread(target=take) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(taken) == 12000 and len(set(taken)) == 12000
    assert all(len(b) == 10 for b in taken)


def test_sizes_outside_one_block_are_refused():
    pool = ids.RandomPool()
    for n in (0, -1, 4097):
        with pytest.raises(ValueError):
            pool.take(n)
    assert len(pool.take(4096)) == 4096


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_worker_draws_its_own_bytes():
    """A child must not hand out what is left of the parent's block (two gunicorn workers would
    give the same request and audit ids)."""
    ids.random_bytes(1)  # the parent holds a partly used block
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        os.write(write, b"".join(ids.random_bytes(16) for _ in range(8)))
        os._exit(0)
    os.close(write)
    child = b""
    while len(child) < 128:
        chunk = os.read(read, 128)
        if not chunk:
            break
        child += chunk
    os.close(read)
    os.waitpid(pid, 0)
    parent = b"".join(ids.random_bytes(16) for _ in range(8))
    assert len(child) == 128 and child != parent
    assert not {child[i:i + 16] for i in range(0, 128, 16)} & {parent[i:i + 16] for i in range(0, 128, 16)}


def test_request_and_audit_ids_keep_their_shapes():
    rid = ids.new_request_id()
    assert len(rid) == 32 and int(rid, 16) >= 0 and rid == rid.lower()
    import uuid

    aid = uuid.UUID(new_audit_id())
    assert aid.version == 7 and aid.variant == uuid.RFC_4122
    assert len({new_audit_id() for _ in range(5000)}) == 5000
