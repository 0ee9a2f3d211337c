"""Per-client rate limits on `/v1`, with the `limits` library (the rate limiter behind
Flask-Limiter: its strategies and its memory/Redis storages), called from one before_request hook.

Why not Flask-Limiter itself: on the audited lookup its per-request machinery (resolving
decorated, blueprint and application limits, exemption scopes, its request context) was a
large share of a lookup's time in process (benchmarks/RESULTS.md); this service has one
application-wide limit and no per-route limits, which is one `hit` and one window read.

Behaviour:
- key: the authenticated client's key id, else the remote address (callers without a valid key);
- fixed window (one counter per client and window: O(1) per request, a single INCR on Redis).
  A client can spend its limit at the end of one window and again at the start of the next;
- over the limit: 429 problem+json with `Retry-After` (seconds to the window's end), audited
  like every refusal (service/errors.py);
- `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (epoch seconds) on every
  limited answer;
- storage from `PGX_RATELIMIT_STORAGE_URI` (`memory://` is per worker process; `redis://...`
  shares counters across workers and instances). If the storage fails (Redis unreachable), the
  limits are kept per worker in memory and the primary storage is retried every
  `RETRY_PRIMARY_S` seconds, rather than failing requests.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from flask import Flask, g, request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

log = logging.getLogger(__name__)

RETRY_PRIMARY_S = 30.0
NAMESPACE = "pgx"
SWEEP_S = 5.0


class MemoryCounters(MemoryStorage):
    """limits' memory storage, sweeping expired counters at most every SWEEP_S seconds.

    The stock storage starts a new `threading.Timer` thread 10 ms after any counter changed if
    the previous one ended: under steady load, about 100 thread starts a second per worker, each
    competing for the GIL (seen as thread churn in strace). The sweep only frees memory: an
    expired counter is already dropped when it is next read (`get`), so counting is unchanged."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._swept_at = time.monotonic()

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 - overrides the name-mangled method
        now = time.monotonic()
        if now - self._swept_at >= SWEEP_S:
            self._swept_at = now
            super()._MemoryStorage__schedule_expiry()


def _storage(uri: str) -> Storage:
    if uri.split("://", 1)[0] == "memory":
        return MemoryCounters(uri, wrap_exceptions=True)
    return storage_from_string(uri, wrap_exceptions=True)


class RateLimiter:
    """One application-wide set of limits, counted per caller key."""

    def __init__(self, limits: str, storage_uri: str, key: Callable[[], str], *, enabled: bool = True):
        self.items: list[RateLimitItem] = list(parse_many(limits))
        self.key = key
        self.enabled = enabled
        self.primary: Storage = _storage(storage_uri)
        self._primary_strategy = FixedWindowRateLimiter(self.primary)
        self._fallback_strategy: FixedWindowRateLimiter | None = None
        self._failed_at: float | None = None  # when the primary storage last failed
        self._switch = threading.Lock()

    # -- storage selection ---------------------------------------------------------------------

    def _strategy(self) -> FixedWindowRateLimiter:
        if self._failed_at is None:
            return self._primary_strategy
        if time.monotonic() - self._failed_at >= RETRY_PRIMARY_S:
            with self._switch:
                if self._failed_at is not None and time.monotonic() - self._failed_at >= RETRY_PRIMARY_S:
                    if self._primary_ok():
                        log.warning("rate-limit storage reachable again; counting there")
                        self._failed_at = None
                        return self._primary_strategy
                    self._failed_at = time.monotonic()
        return self._fallback()

    def _primary_ok(self) -> bool:
        try:
            return bool(self.primary.check())
        except Exception:  # noqa: BLE001 - any failure means "still down"
            return False

    def _fallback(self) -> FixedWindowRateLimiter:
        if self._fallback_strategy is None:
            with self._switch:
                if self._fallback_strategy is None:
                    self._fallback_strategy = FixedWindowRateLimiter(MemoryCounters())
        return self._fallback_strategy

    def _primary_failed(self, exc: Exception) -> FixedWindowRateLimiter:
        if self._failed_at is None:
            # The type only: a storage error's text can carry its URI (a password).
            log.warning("rate-limit storage failed (%s); limiting per worker in memory", type(exc).__name__)
        self._failed_at = time.monotonic()
        return self._fallback()

    # -- per request ---------------------------------------------------------------------------

    def check(self, key: str | None = None) -> None:
        """Count this request against every limit; raise 429 when one is exceeded. Records what the
        response headers need in `g.ratelimit` (limit, remaining, reset)."""
        if not self.enabled:
            return
        key = key if key is not None else self.key()
        strategy = self._strategy()
        try:
            outcome = self._hit(strategy, key)
        except Exception as exc:  # noqa: BLE001 - storage errors (wrapped by limits) or a dead socket
            if strategy is not self._primary_strategy:
                raise
            outcome = self._hit(self._primary_failed(exc), key)
        allowed, item, stats = outcome
        g.ratelimit = (item.amount, max(0, stats.remaining), stats.reset_time)
        if not allowed:
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
            raise TooManyRequests(
                description=f"Rate limit of {item} exceeded for this client; retry after {retry_after} s.",
                retry_after=retry_after,
            )

    def _hit(self, strategy: FixedWindowRateLimiter, key: str):
        """(allowed, the limit that decided, its window stats): the first exceeded limit, or the
        one with the fewest requests left."""
        decided = None
        for item in self.items:
            allowed = strategy.hit(item, NAMESPACE, key)
            stats = strategy.get_window_stats(item, NAMESPACE, key)
            if not allowed:
                return False, item, stats
            if decided is None or stats.remaining < decided[2].remaining:
                decided = (True, item, stats)
        return decided

    @staticmethod
    def add_headers(resp):
        state = getattr(g, "ratelimit", None)
        if state is not None:
            limit, remaining, reset = state
            resp.headers["X-RateLimit-Limit"] = str(limit)
            resp.headers["X-RateLimit-Remaining"] = str(remaining)
            resp.headers["X-RateLimit-Reset"] = str(int(reset))
        return resp


def init_app(app: Flask, key: Callable[[], str], prefix: str) -> RateLimiter:
    limiter = RateLimiter(
        str(app.config.get("PGX_RATELIMIT_DEFAULT") or "600/minute"),
        str(app.config.get("PGX_RATELIMIT_STORAGE_URI") or "memory://"),
        key,
        enabled=bool(app.config.get("PGX_RATELIMIT_ENABLED", True)),
    )

    @app.before_request
    def _rate_limit():
        if request.path.startswith(prefix):
            limiter.check()

    app.after_request(limiter.add_headers)
    app.extensions["pgx.limiter"] = limiter
    return limiter
