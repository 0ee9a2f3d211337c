"""Knowledge releases: stored in the database (store.py), held in memory per worker (cache.py).

The store never touches the caches: whoever changes the active release invalidates this
process's cache (`invalidate(app)`); other workers notice within PGX_RELEASE_POLL_S.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from service.db import get_db
from service.releases.cache import NoActiveRelease, ReleaseCache, current_knowledge, init_app, invalidate
from service.releases.store import (
    KnowledgeRelease,
    ReleaseNotFound,
    activate_release,
    active_label,
    active_release,
    list_releases,
    load_release_directory_into_db,
    release_payload,
    store_release,
    validate_release_directory,
)


def load_release_directory_into(app: Flask, path: str | Path, *, activate: bool = True,
                                if_changed: bool = False, note: str | None = None) -> str:
    """Validate, store and (by default) activate the tables in `path` for `app`'s database."""
    label, _changed = load_release_directory_into_db(
        get_db(app), path, activate=activate, if_changed=if_changed, note=note
    )
    invalidate(app)
    return label


__all__ = [
    "KnowledgeRelease", "NoActiveRelease", "ReleaseCache", "ReleaseNotFound", "activate_release",
    "active_label", "active_release", "current_knowledge", "init_app", "invalidate", "list_releases",
    "load_release_directory_into", "load_release_directory_into_db", "release_payload", "store_release",
    "validate_release_directory",
]
