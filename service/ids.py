"""Random bits for identifiers (request ids, audit ids), drawn from the OS in blocks.

`os.urandom` releases the GIL around its getrandom(2) call. In a busy threaded worker each
release is a wait to get the GIL back, up to the interpreter's switch interval while other
threads run. The request path called it once per request (the request id) and once
per audit record (its audit id). Drawing 4 KiB at a time keeps the bytes the kernel's CSPRNG
output (RFC 9562 asks that of a UUIDv7's random bits) and releases the GIL once per 256 ids.

A forked child starts with an empty block, so two workers never hand out the same bytes.
"""

from __future__ import annotations

import os
import threading

_BLOCK = 4096


class RandomPool:
    __slots__ = ("_block", "_pos", "_lock")

    def __init__(self):
        self._block = b""
        self._pos = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> bytes:
        if not 0 < n <= _BLOCK:
            raise ValueError(f"1 to {_BLOCK} random bytes at a time, not {n}")
        with self._lock:
            pos = self._pos
            if pos + n > len(self._block):
                self._block, pos = os.urandom(_BLOCK), 0
            self._pos = pos + n
            return self._block[pos:pos + n]

    def _after_fork(self) -> None:
        # The parent's lock may have been held by another thread at the fork: a fresh one.
        self._lock = threading.Lock()
        self._block = b""
        self._pos = 0


_pool = RandomPool()
os.register_at_fork(after_in_child=_pool._after_fork)


def random_bytes(n: int) -> bytes:
    """`n` (1-4096) bytes from the OS's CSPRNG, each handed out once in this process."""
    return _pool.take(n)


def new_request_id() -> str:
    """128 random bits as 32 lowercase hex digits (the shape `uuid.uuid4().hex` had)."""
    return _pool.take(16).hex()
