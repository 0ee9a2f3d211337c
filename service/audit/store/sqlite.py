"""The SQLite appender: one guarded INSERT per group after the head left on the lock file's page."""

from __future__ import annotations

import logging
import sqlite3
import struct

from service.audit.canonical import (
    GENESIS_HASH,
)
from service.audit.checkpoints import _CHECKPOINT_COLUMNS, _CHECKPOINT_INSERT_SQL, sign_checkpoint
from service.audit.models import audit_event
from service.audit.records import AuditState, Receipt, _chain, _checkpoint_due
from service.audit.store.generic import _INSERT_INTO, _SQLITE_ROW, append_prepared

log = logging.getLogger(__name__)

# ---- SQLite: one guarded INSERT per group ---------------------------------------------------
#
# Under the SQLite file's writer lock (Database.serialized_sqlite), the chain head the previous
# holder left on the lock file's shared page is taken as the head, and the group goes in as ONE
# autocommit statement: INSERT ... SELECT FROM (VALUES ...) WHERE the table's last record is that
# head. So the statement is its own transaction (atomic, fsync'd at its end like any commit), and
# it inserts all of the group or, if the head is not the table's (a writer that does not take our
# lock, a holder that died between its commit and the page, a restored file), nothing. Then the
# group is appended the general way (BEGIN IMMEDIATE, head read from the table). Compared with
# that way it saves, per group, the BEGIN, the head read and the COMMIT as separate calls into
# SQLite (each a GIL hand-off while every other writer waits on the lock) and SQLAlchemy's
# connection and transaction machinery.

_HEAD_PAGE = struct.Struct(">8sq64s")  # magic, seq, entry_hash (hex, ASCII)
_HEAD_MAGIC = b"pgxhead1"
_GUARDED_INSERT_SQL: dict[int, str] = {}


def _guarded_insert_sql(rows: int) -> str:
    sql = _GUARDED_INSERT_SQL.get(rows)
    if sql is None:
        last = f"(SELECT {{}} FROM {audit_event.name} ORDER BY seq DESC LIMIT 1)"  # noqa: S608  # nosec B608
        sql = _GUARDED_INSERT_SQL[rows] = (
            f"{_INSERT_INTO}SELECT * FROM (VALUES {','.join([_SQLITE_ROW] * rows)}) "  # noqa: S608  # nosec B608
            f"WHERE coalesce({last.format('seq')}, 0) = ? AND coalesce({last.format('entry_hash')}, ?) = ?"
        )
    return sql


def _page_head(page) -> tuple[int, str] | None:
    magic, seq, entry = _HEAD_PAGE.unpack_from(page, 0)
    if magic != _HEAD_MAGIC:
        return None
    try:
        return seq, entry.decode("ascii")
    except UnicodeDecodeError:
        return None


def _append_serialized_sqlite(session, prepared: list[dict], state: AuditState) -> list[Receipt]:
    head = _page_head(session.page)
    receipts = None
    if head is not None:
        receipts = _guarded_append(session.dbapi, prepared, state, head)
    if receipts is None:
        with session.transaction() as conn:
            receipts = append_prepared(conn, prepared, state=state)
    _HEAD_PAGE.pack_into(session.page, 0, _HEAD_MAGIC, receipts[-1].seq, receipts[-1].entry_hash.encode("ascii"))
    return receipts


def _guarded_append(dbapi, prepared: list[dict], state: AuditState, head: tuple[int, str]) -> list[Receipt] | None:
    """The group as one INSERT guarded by `head`; None (nothing written) when `head` is not the
    table's last record. A group that reaches a checkpoint boundary inserts its records and the
    signed checkpoint in one explicit transaction instead (once per checkpoint_every records)."""
    params, receipts = _chain(prepared, *head)
    params += (head[0], GENESIS_HASH, head[1])
    rows = len(receipts)
    checkpoint = _checkpoint_due(state, receipts[0].seq, receipts[-1].seq)
    try:
        if checkpoint:
            dbapi.execute("BEGIN IMMEDIATE")
        try:
            inserted = dbapi.execute(_guarded_insert_sql(rows), params).rowcount
            if inserted == rows and checkpoint:
                _insert_checkpoint_dbapi(dbapi, state, receipts[-1])
            if checkpoint:
                dbapi.execute("COMMIT" if inserted == rows else "ROLLBACK")
        except BaseException:
            if checkpoint and dbapi.in_transaction:
                dbapi.execute("ROLLBACK")
            raise
    except sqlite3.OperationalError:  # busy past the timeout, a stale snapshot: the general way
        return None
    if inserted == rows:
        return receipts
    if inserted:  # one statement inserts all of its rows or none
        raise RuntimeError(f"guarded audit insert wrote {inserted} of {rows} rows")
    return None


def _insert_checkpoint_dbapi(dbapi, state: AuditState, last: Receipt) -> None:
    """`insert_checkpoint` on SQLite's DBAPI connection (the guarded appender's)."""
    cp = sign_checkpoint(state, last.seq, last.entry_hash)
    dbapi.execute(_CHECKPOINT_INSERT_SQL, [cp[c] for c in _CHECKPOINT_COLUMNS])
