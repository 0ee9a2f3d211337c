"""Signed checkpoints of the chain head: the statement, its signature, and its one INSERT (the
columns in model order; SQLite's `?` and libpq's `$n` placeholders from one builder)."""

from __future__ import annotations

import logging

from sqlalchemy import Connection, insert

from service.audit.canonical import (
    checkpoint_message,
)
from service.audit.models import audit_checkpoint
from service.audit.records import AuditState, utc_now_iso

log = logging.getLogger(__name__)

def sign_checkpoint(state: AuditState, size: int, head_hash: str, time: str | None = None) -> dict:
    """A signed checkpoint statement: {origin, size, head_hash, time, key_id, signature}."""
    statement = {
        "origin": state.origin,
        "size": int(size),
        "head_hash": head_hash,
        "time": time or utc_now_iso(),
        "key_id": state.signer.key_id,
    }
    return {**statement, "signature": state.signer.sign(checkpoint_message(statement))}


_CHECKPOINT_COLUMNS = tuple(c.name for c in audit_checkpoint.columns if c.name != "id")


def _checkpoint_insert_sql(placeholders) -> str:
    """The checkpoint INSERT with one placeholder per column (SQLite's `?`, libpq's `$n`)."""
    return (
        f"INSERT INTO {audit_checkpoint.name} ({','.join(_CHECKPOINT_COLUMNS)}) "  # noqa: S608  # nosec B608
        f"VALUES ({','.join(placeholders)})"
    )


_CHECKPOINT_INSERT_SQL = _checkpoint_insert_sql("?" * len(_CHECKPOINT_COLUMNS))


def insert_checkpoint(conn: Connection, state: AuditState, size: int, head_hash: str) -> dict:
    cp = sign_checkpoint(state, size, head_hash)
    conn.execute(insert(audit_checkpoint), [cp])
    return cp
