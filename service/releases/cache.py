"""The knowledge release each worker holds in memory.

The knowledge base (phenotype engine + guidance matcher) is built once per release from the
payload stored in the database and then shared read-only by every request of the worker. A
worker notices that another release was activated (`pgx tables load`, `pgx tables activate`)
without a restart: at most every `PGX_RELEASE_POLL_S` seconds one request thread asks the
database for the active label (one indexed row); only when it changed is the new payload read
and built, while the other threads keep answering from the current release. No request ever
reads the tables from disk.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask, current_app

from service.db import get_db
from service.errors import problem
from service.pgx.knowledge import KnowledgeBase
from service.releases.store import ReleaseNotFound, active_label, release_payload

log = logging.getLogger(__name__)
EXTENSION_KEY = "pgx.releases"


class NoActiveRelease(Exception):
    """No knowledge release is active (or none could be built): answered 503, never guessed."""

    def __init__(self, detail: str = "No knowledge release is active; run `pgx tables load`."):
        super().__init__(detail)
        self.detail = detail


class ReleaseCache:
    """The active release of one app in one process; thread-safe."""

    def __init__(self, app: Flask):
        self.app = app
        self.poll_s = float(app.config.get("PGX_RELEASE_POLL_S", 2.0))
        self._kb: KnowledgeBase | None = None
        self._checked_at = float("-inf")
        self._failed_label: str | None = None  # a release that would not build: not retried
        self.problem: str | None = None  # why there is no knowledge base, when it is not "none active"
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        """Check the database on the next call (after this process changed the active release)."""
        self._checked_at = float("-inf")

    def get(self) -> KnowledgeBase | None:
        kb = self._kb
        # Without a knowledge base, wait for the thread that may be building one (it marks the
        # check done before the build ends): a first burst of requests must not answer 503.
        if kb is not None and time.monotonic() - self._checked_at < self.poll_s:
            return kb
        if kb is not None:
            # Someone else is already checking: keep answering from the release we hold.
            if not self._lock.acquire(blocking=False):
                return kb
        else:
            self._lock.acquire()
        try:
            if time.monotonic() - self._checked_at >= self.poll_s:
                self._refresh()
            return self._kb
        finally:
            self._lock.release()

    def _refresh(self) -> None:
        db = get_db(self.app)
        try:
            label = active_label(db)
        except Exception as exc:  # database unreachable: keep serving what we hold, say so in the log
            log.warning("could not read the active knowledge release (%s); keeping the one in memory",
                        type(exc).__name__)
            if self._kb is None:  # nothing to serve: ask again on the next request
                self.problem = "The knowledge release could not be read from the database."
            else:
                self._checked_at = time.monotonic()
            return
        self._checked_at = time.monotonic()
        self.problem = None
        current = self._kb.release if self._kb is not None else None
        if label is None:
            if current is not None:
                log.warning("no knowledge release is active any more; answering 503 until one is")
            self._kb = None
            return
        if label == current:
            return
        if label == self._failed_label:
            if self._kb is None:
                self.problem = f"The active knowledge release {label} could not be built; see the logs."
            return
        started = time.perf_counter()
        try:
            kb = KnowledgeBase(release_payload(db, label), release=label)
        except ReleaseNotFound:  # activated and replaced between two queries: next poll sees it
            self._checked_at = float("-inf")
            return
        except Exception:
            log.exception("knowledge release %s could not be built; still serving %s", label, current)
            self._failed_label = label
            if self._kb is None:
                self.problem = f"The active knowledge release {label} could not be built; see the logs."
            return
        self._kb = kb
        self._failed_label = None
        log.info(
            "knowledge release %s active in this worker (built in %.0f ms)",
            label,
            (time.perf_counter() - started) * 1000,
        )


def _cache(app: Flask) -> ReleaseCache:
    cache = app.extensions.get(EXTENSION_KEY)
    if cache is None:
        cache = app.extensions.setdefault(EXTENSION_KEY, ReleaseCache(app))
    return cache


def invalidate(app: Flask | None = None) -> None:
    _cache(app or current_app._get_current_object()).invalidate()  # noqa: SLF001


def current_knowledge(raise_if_missing: bool = True) -> KnowledgeBase | None:
    """The knowledge base of the active release, or NoActiveRelease (503) / None."""
    cache = _cache(current_app._get_current_object())  # noqa: SLF001
    kb = cache.get()
    if kb is None and raise_if_missing:
        raise NoActiveRelease(cache.problem) if cache.problem else NoActiveRelease()
    return kb


def init_app(app: Flask) -> None:
    cache = app.extensions[EXTENSION_KEY] = ReleaseCache(app)
    if not app.testing and app.config.get("PGX_WARM_RELEASE", True):
        # Each gunicorn worker builds its app after fork: build the knowledge base now, before the
        # worker accepts requests, so no first request waits for it. Best effort: a database not
        # yet migrated or no release yet is simply looked for again on the first request.
        with app.app_context():
            cache.get()
        cache.invalidate()

    @app.errorhandler(NoActiveRelease)
    def _no_release(exc: NoActiveRelease):
        resp = problem(503, "Service Unavailable", exc.detail, type_="no-active-release")
        resp.headers["Retry-After"] = "30"
        return resp
