"""Writing the audit trail: gapless seq under a writer lock, hash chain, signed checkpoints.

`append_events(conn, events)` runs inside the caller's write transaction (the one that produces
the answer), so the records commit together with the answer or not at all, before the response
leaves; or, given `Database.serialized_sqlite()` / `serialized_postgres()` (the HTTP group
commit), as one guarded INSERT on SQLite / two round trips on libpq on PostgreSQL (see below). Any failure
raises `AuditUnavailable` (503, no clinical content): fail closed.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, g, has_request_context
from sqlalchemy import Connection

from service.audit.checkpoints import insert_checkpoint, sign_checkpoint
from service.audit.errors import AuditUnavailable
from service.audit.records import (
    DEFAULT_CHECKPOINT_EVERY,
    DEFAULT_ORIGIN,
    PG_AUDIT_LOCK_KEY,
    AuditState,
    Receipt,
    new_audit_id,
    normalized_event,
    to_utc_iso,
    utc_now_iso,
)
from service.audit.records import prepare_events as _prepare_events
from service.audit.store.generic import _lock_and_read_head, read_head
from service.audit.store.generic import append_prepared as _append_prepared
from service.audit.store.generic import make_checkpoint as _make_checkpoint
from service.audit.store.postgres import _PG_LITERAL_MAX_ROWS, _append_serialized_postgres, lock_chain_head
from service.audit.store.sqlite import _HEAD_MAGIC, _HEAD_PAGE, _append_serialized_sqlite, _page_head
from service.db import SerializedPostgres, SerializedSqlite

__all__ = [  # the writer's API (and what the tests reach), from the modules that hold it
    "DEFAULT_CHECKPOINT_EVERY", "DEFAULT_ORIGIN", "PG_AUDIT_LOCK_KEY", "AuditState", "AuditUnavailable",
    "Receipt", "_HEAD_MAGIC", "_HEAD_PAGE", "_PG_LITERAL_MAX_ROWS", "_lock_and_read_head", "_page_head",
    "append_events", "append_prepared", "get_state", "insert_checkpoint", "lock_chain_head", "make_checkpoint",
    "new_audit_id", "normalized_event", "prepare_events", "read_head", "sign_checkpoint", "to_utc_iso",
    "utc_now_iso",
]

log = logging.getLogger(__name__)


def get_state(app: Flask | None = None) -> AuditState:
    app = app or current_app
    state = app.extensions.get("pgx.audit")
    if state is None:
        state = app.extensions["pgx.audit"] = AuditState.from_app(app)
    return state


def log_write_failure(exc: BaseException) -> None:
    # Never the record's content: it is PHI.
    log.error(
        "audit trail write failed; answering 503",
        extra={"error": type(exc).__name__, "request_id": getattr(g, "request_id", None) if has_request_context() else None},
    )


def append_events(conn: Connection, events: list[dict], *, state: AuditState | None = None,
                  prepared: bool = False) -> list[Receipt]:
    """Append `events` to the chain inside the caller's write transaction; one Receipt each.

    Event keys: action (str), outcome (int), patient_ref (raw or None), input, result, release,
    warnings (list), purpose, genes, drugs; optionally actor, role, request_id, source_addr
    (default: from the request context). Raises AuditUnavailable on any failure.

    `prepared=True`: `events` come from `prepare_events` already (the HTTP group commit, which
    hands each request its own receipts itself); they are appended as they are, and the current
    request's `g.audit_receipts` is left alone (the records may be other requests').
    """
    if not events:
        return []
    try:
        state = state or get_state()
        records = events if prepared else prepare_events(events, state=state)
        if isinstance(conn, SerializedSqlite):
            receipts = _append_serialized_sqlite(conn, records, state) if records else []
        elif isinstance(conn, SerializedPostgres):
            receipts = _append_serialized_postgres(conn, records, state) if records else []
        else:
            receipts = append_prepared(conn, records, state=state)
    except AuditUnavailable:
        raise
    except Exception as exc:
        log_write_failure(exc)
        raise AuditUnavailable() from exc
    if not prepared and has_request_context():
        g.setdefault("audit_receipts", []).extend(receipts)
    return receipts


# The app's state by default (`get_state`): what callers inside an app context relied on.
def prepare_events(events: list[dict], *, state: AuditState | None = None,
                   ident: dict[str, Any] | None = None) -> list[dict]:
    return _prepare_events(events, state=state or get_state(), ident=ident)


def append_prepared(conn: Connection, prepared: list[dict], *, state: AuditState | None = None) -> list[Receipt]:
    return _append_prepared(conn, prepared, state=state or get_state())


def make_checkpoint(db, state: AuditState | None = None) -> dict:
    """Sign and store a checkpoint of the current head (`pgx audit checkpoint`)."""
    return _make_checkpoint(db, state or get_state())
