"""The rate limiter itself (service/auth/ratelimit.py), outside HTTP: counting per key, several
limits, the 429 it raises, and the fall-back to memory when the shared storage fails."""

from __future__ import annotations

import socket

import pytest
from flask import Flask, g
from werkzeug.exceptions import TooManyRequests

from service.auth import ratelimit
from service.auth.ratelimit import RateLimiter


@pytest.fixture
def ctx():
    app = Flask(__name__)
    with app.test_request_context("/v1/lookup"):
        yield


def test_counts_per_key_and_refuses_past_the_limit(ctx):
    limiter = RateLimiter("3/minute", "memory://", key=lambda: "client:a")
    remaining = []
    for _ in range(3):
        limiter.check()
        remaining.append(g.ratelimit[1])
    assert remaining == [2, 1, 0]
    assert g.ratelimit[0] == 3
    with pytest.raises(TooManyRequests) as refused:
        limiter.check()
    assert 0 < refused.value.retry_after <= 60
    assert "3 per 1 minute" in refused.value.description
    limiter.check("client:b")  # another caller has its own counter
    assert g.ratelimit[1] == 2


def test_the_first_exhausted_of_several_limits_decides(ctx):
    limiter = RateLimiter("2/second;10/minute", "memory://", key=lambda: "k")
    limiter.check()
    assert g.ratelimit[:2] == (2, 1)  # the per-second limit has the fewest requests left
    limiter.check()
    with pytest.raises(TooManyRequests) as refused:
        limiter.check()
    assert refused.value.retry_after == 1


def test_disabled_counts_nothing(ctx):
    limiter = RateLimiter("1/minute", "memory://", key=lambda: "k", enabled=False)
    for _ in range(5):
        limiter.check()
    assert getattr(g, "ratelimit", None) is None


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_shared_storage_falls_back_to_memory_and_returns(ctx, monkeypatch, caplog):
    pytest.importorskip("redis")
    limiter = RateLimiter("2/minute", f"redis://127.0.0.1:{_closed_port()}", key=lambda: "k")
    limiter.check()  # Redis refuses the connection: counted in memory instead, not failed
    limiter.check()
    with pytest.raises(TooManyRequests):  # and still limited
        limiter.check()
    assert "limiting per worker in memory" in caplog.text
    assert "redis://" not in caplog.text

    # The primary is retried after RETRY_PRIMARY_S and used again once it answers.
    monkeypatch.setattr(ratelimit, "RETRY_PRIMARY_S", 0.0)
    healthy = RateLimiter("2/minute", "memory://", key=lambda: "k")
    monkeypatch.setattr(limiter, "primary", healthy.primary)
    monkeypatch.setattr(limiter, "_primary_strategy", healthy._primary_strategy)
    limiter.check()
    assert limiter._failed_at is None
    assert g.ratelimit[1] == 1  # a fresh count in the (now reachable) primary storage


def test_memory_counters_do_not_start_a_thread_per_burst_and_still_expire(ctx, monkeypatch):
    import threading
    import time

    import limits.storage.memory as memory

    started = []

    class CountingTimer(threading.Timer):
        def start(self):
            started.append(self)
            super().start()

    monkeypatch.setattr(memory.threading, "Timer", CountingTimer)
    limiter = RateLimiter("1000/second", "memory://", key=lambda: "k")
    for i in range(300):
        limiter.check(f"client:{i % 7}")
        if i % 50 == 0:
            time.sleep(0.02)  # the stock storage would start a new sweep thread after each pause
    assert len(started) <= 1, len(started)  # the one its constructor starts

    short = RateLimiter("2/second", "memory://", key=lambda: "k")
    short.check(), short.check()
    with pytest.raises(TooManyRequests):
        short.check()
    time.sleep(1.05)
    short.check()  # the window expired (dropped on read): counting starts again
    assert g.ratelimit[1] == 1
