"""Knowledge releases in the database: the reference tables, validated, stored and versioned.

A release is the whole payload of a reference_tables directory (see
`service.pgx.knowledge.load_release_directory`) stored as canonical JSON with its SHA-256 digest.
Exactly one release is active at a time (a partial unique index enforces it); every worker keeps
the active one in memory (service/releases/cache.py). Nothing here tells the caches: the caller
invalidates (`service.releases.invalidate`). Storing the same tables twice never duplicates
them: the existing release is found by digest and (re)activated.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text, select, true, update
from sqlalchemy import text as sa_text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, Database, as_utc, utcnow
from service.pgx.knowledge import (
    KnowledgeBase,
    canonical_json,
    load_release_directory,
    release_digest,
    release_label,
)

log = logging.getLogger(__name__)


class KnowledgeRelease(Base):
    __tablename__ = "knowledge_releases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    label: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    digest: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    payload: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON of the release payload
    manifest: Mapped[str] = mapped_column(Text, nullable=False)  # JSON summary: name, version, sources, counts
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        # At most one active release, enforced by the database itself.
        Index(
            "uq_knowledge_releases_one_active",
            "is_active",
            unique=True,
            sqlite_where=sa_text("is_active"),
            postgresql_where=sa_text("is_active"),
        ),
    )


_T = KnowledgeRelease.__table__


class ReleaseNotFound(LookupError):
    pass




def manifest_summary(payload: dict[str, Any]) -> dict[str, Any]:
    manifest = dict(payload.get("manifest") or {})
    genes = payload.get("genes") or {}
    guidelines = payload.get("guidelines") or {}
    drugs: set[str] = set()
    for guideline in guidelines.values() if isinstance(guidelines, dict) else guidelines:
        if isinstance(guideline, dict):
            drugs.update(str(d) for d in guideline.get("drugs") or ())
    return {
        "name": manifest.get("name"),
        "version": None if manifest.get("version") is None else str(manifest.get("version")),
        "description": manifest.get("description"),
        "sources": manifest.get("sources") or [],
        "gene_count": len(genes),
        "guideline_count": len(guidelines),
        "drug_count": len(drugs),
    }


def _activate(conn, label: str, now: datetime) -> None:
    row = conn.execute(select(_T.c.id, _T.c.is_active).where(_T.c.label == label)).first()
    if row is None:
        raise ReleaseNotFound(label)
    if row.is_active:
        return
    conn.execute(update(_T).where(_T.c.is_active == true()).values(is_active=False))
    conn.execute(update(_T).where(_T.c.id == row.id).values(is_active=True, activated_at=now))


def store_release(db: Database, payload: dict[str, Any], *, activate: bool = True, note: str | None = None) -> str:
    """Store a validated payload as a release (once per digest) and return its label."""
    text = canonical_json(payload)
    digest = release_digest(payload)
    label = release_label(payload)
    summary = json.dumps(manifest_summary(payload), ensure_ascii=False, default=str)
    for attempt in range(2):
        try:
            with db.write_transaction() as conn:
                existing = conn.execute(select(_T.c.label).where(_T.c.digest == digest)).scalar_one_or_none()
                now = utcnow()
                if existing is None:
                    conn.execute(
                        _T.insert().values(
                            label=label,
                            digest=digest,
                            payload=text,
                            manifest=summary,
                            created_at=now,
                            activated_at=None,
                            is_active=False,
                            note=note,
                        )
                    )
                else:
                    label = existing
                if activate:
                    _activate(conn, label, now)
            return label
        except IntegrityError:
            # Another process stored the same tables (or activated one) at the same moment.
            if attempt:
                raise
    return label  # pragma: no cover - loop always returns or raises


def activate_release(db: Database, label: str) -> None:
    """Make `label` the active release (raises ReleaseNotFound)."""
    with db.write_transaction() as conn:
        _activate(conn, label, utcnow())


def list_releases(db: Database) -> list[dict[str, Any]]:
    """Every stored release, newest first, without its payload."""
    cols = (
        _T.c.label,
        _T.c.digest,
        _T.c.manifest,
        _T.c.created_at,
        _T.c.activated_at,
        _T.c.is_active,
        _T.c.note,
    )
    with db.read() as conn:
        rows = conn.execute(select(*cols).order_by(_T.c.created_at.desc(), _T.c.id.desc())).all()
    return [
        {
            "label": r.label,
            "digest": r.digest,
            "manifest": json.loads(r.manifest),
            "created_at": as_utc(r.created_at),
            "activated_at": as_utc(r.activated_at),
            "is_active": bool(r.is_active),
            "note": r.note,
        }
        for r in rows
    ]


def active_label(db: Database) -> str | None:
    """The active release's label: the cheap query every worker polls."""
    with db.read() as conn:
        return conn.execute(select(_T.c.label).where(_T.c.is_active == true())).scalar_one_or_none()


def release_payload(db: Database, label: str) -> dict[str, Any]:
    with db.read() as conn:
        text = conn.execute(select(_T.c.payload).where(_T.c.label == label)).scalar_one_or_none()
    if text is None:
        raise ReleaseNotFound(label)
    return json.loads(text)


def active_release(db: Database) -> tuple[str, dict[str, Any]] | None:
    with db.read() as conn:
        row = conn.execute(select(_T.c.label, _T.c.payload).where(_T.c.is_active == true())).first()
    if row is None:
        return None
    return row.label, json.loads(row.payload)


def validate_release_directory(path: str | Path) -> dict[str, Any]:
    """Read and validate the tables, and prove they build a knowledge base, before storing them."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory of reference tables")
    payload = load_release_directory(root)
    # Round-trip through JSON first: what is stored is what a worker will build from.
    payload = json.loads(canonical_json(payload))
    KnowledgeBase(payload)
    return payload


def load_release_directory_into_db(
    db: Database,
    path: str | Path,
    *,
    activate: bool = True,
    if_changed: bool = False,
    note: str | None = None,
) -> tuple[str, bool]:
    """Validate and store a directory; returns (label, changed). With `if_changed`, nothing is
    written when the active release already holds exactly these tables."""
    payload = validate_release_directory(path)
    if if_changed:
        current = active_label(db)
        if current is not None and current == _label_for_digest(db, release_digest(payload)):
            return current, False
    before = active_label(db)
    label = store_release(db, payload, activate=activate, note=note)
    return label, not activate or label != before


def _label_for_digest(db: Database, digest: str) -> str | None:
    with db.read() as conn:
        return conn.execute(select(_T.c.label).where(_T.c.digest == digest)).scalar_one_or_none()
