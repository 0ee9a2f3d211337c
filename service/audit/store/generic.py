"""The general append path, inside the caller's write transaction (SQLAlchemy connection, both
databases): lock, head read, one multi-row INSERT, a checkpoint when due."""

from __future__ import annotations

import logging

import orjson
from sqlalchemy import JSON, BigInteger, Connection, Integer, select

from service.audit.canonical import (
    GENESIS_HASH,
)
from service.audit.checkpoints import insert_checkpoint
from service.audit.models import audit_event
from service.audit.records import PG_AUDIT_LOCK_KEY, AuditState, Receipt, _chain, _checkpoint_due
from service.db import pending_timeouts

log = logging.getLogger(__name__)

# Plain SQL, run on the transaction's DBAPI connection: these statements are the part of the
# audit write that holds the writer lock, and SQLAlchemy's execution machinery was a measurable
# share of it. Table and column names are the model's own; nothing comes from a request.
_PG_LOCK = f"SELECT pg_advisory_xact_lock({PG_AUDIT_LOCK_KEY})"
_HEAD_SQL = f"SELECT seq, entry_hash FROM {audit_event.name} ORDER BY seq DESC LIMIT 1"  # noqa: S608  # nosec B608
_PG_LOCK_AND_HEAD = f"{_PG_LOCK}; {_HEAD_SQL}"


_COLUMNS = tuple(c.name for c in audit_event.columns)
# Table and column names are the model's own; every value is a bound parameter.
_INSERT_INTO = f"INSERT INTO {audit_event.name} ({','.join(_COLUMNS)}) "  # noqa: S608  # nosec B608
_SQLITE_ROW = "(" + ",".join("?" * len(_COLUMNS)) + ")"
_INSERT_SQL: dict[int, str] = {}


def _insert_sql(rows: int) -> str:
    """SQLite: the multi-row INSERT of `rows` records."""
    sql = _INSERT_SQL.get(rows)
    if sql is None:
        sql = _INSERT_SQL[rows] = f"{_INSERT_INTO}VALUES {','.join([_SQLITE_ROW] * rows)}"
    return sql


def _pg_value(i: int, column) -> str:
    value = f"r->>{i}"
    if isinstance(column.type, BigInteger):
        return f"({value})::bigint"
    if isinstance(column.type, Integer):
        return f"({value})::integer"
    if isinstance(column.type, JSON):
        return f"({value})::json"
    return value


# PostgreSQL: the group as ONE parameter, a JSON array of rows (made by orjson, in C), unpacked
# by the server. A multi-row VALUES has 20 parameters a row, and psycopg re-parses, uncached, any
# query of more than 50 parameters; arrays per column cost as much again in
# psycopg's Python array dumpers. One statement text: the server also prepares it once.
def _pg_insert_sql(rows_param: str) -> str:
    return (
        f"{_INSERT_INTO}SELECT {','.join(_pg_value(i, c) for i, c in enumerate(audit_event.columns))} "  # noqa: S608  # nosec B608
        f"FROM jsonb_array_elements({rows_param}) AS r"
    )


_PG_INSERT_SQL = _pg_insert_sql("%s::jsonb")  # psycopg's placeholder (the general path)


def _pg_rows_json(params: list) -> bytes:
    """`_chain`'s row-after-row parameters as the JSON array of rows the INSERT unpacks."""
    width = len(_COLUMNS)
    return orjson.dumps([params[i:i + width] for i in range(0, len(params), width)])


def _pg_insert(cursor, params: list) -> None:
    cursor.execute(_PG_INSERT_SQL, (_pg_rows_json(params).decode("utf-8"),))


def _insert_rows(conn: Connection, params: list, rows: int) -> None:
    """One multi-row INSERT on the transaction's own DBAPI connection, all values bound (the
    parameters from `_chain`). SQLAlchemy's Core execute (parameter processing per row and
    column, execution events) was the largest part of the time the writer lock is held."""
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        if conn.dialect.name == "sqlite":
            cursor.execute(_insert_sql(rows), params)
        else:
            _pg_insert(cursor, params)
    finally:
        cursor.close()


def _lock_and_read_head(conn: Connection) -> tuple[int, str]:
    if conn.dialect.name == "sqlite":
        # The transaction must hold SQLite's write lock from its BEGIN (Database.write_transaction).
        if not conn.get_execution_options().get("pgx_write"):
            raise RuntimeError("append_events needs Database.write_transaction() on SQLite")
    else:
        # The transaction's timeouts (if deferred to here), the lock, then the head, in one round
        # trip: statements of one simple query, run in order, so the lock wait is bounded by
        # lock_timeout and the head is read with a snapshot taken after the lock was granted
        # (one statement doing both would read with a snapshot from before the wait: stale).
        timeouts = pending_timeouts(conn)
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(_PG_LOCK_AND_HEAD if timeouts is None else f"{timeouts}; {_PG_LOCK_AND_HEAD}")
            if timeouts is not None:
                cursor.nextset()
            cursor.nextset()
            row = cursor.fetchone()
        finally:
            cursor.close()
        return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(_HEAD_SQL)
        row = cursor.fetchone()
    finally:
        cursor.close()
    if row is None:
        return 0, GENESIS_HASH
    return int(row[0]), str(row[1])


def append_prepared(conn: Connection, prepared: list[dict], *, state: AuditState | None = None) -> list[Receipt]:
    """Append records made by `prepare_events` inside the caller's write transaction: take the
    writer lock, read the head, give each its seq / recorded / prev_hash / entry_hash, insert,
    and checkpoint when due. Only this part runs under the lock. Raises on any failure."""
    if not prepared:
        return []
    if state is None:
        raise ValueError("append_prepared needs the audit state")
    seq, prev = _lock_and_read_head(conn)
    params, receipts = _chain(prepared, seq, prev)
    _insert_rows(conn, params, len(receipts))
    if _checkpoint_due(state, receipts[0].seq, receipts[-1].seq):
        insert_checkpoint(conn, state, receipts[-1].seq, receipts[-1].entry_hash)
    return receipts


def read_head(conn: Connection) -> tuple[int, str]:
    row = conn.execute(
        select(audit_event.c.seq, audit_event.c.entry_hash).order_by(audit_event.c.seq.desc()).limit(1)
    ).first()
    return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))


def make_checkpoint(db, state: AuditState | None = None) -> dict:
    """Sign and store a checkpoint of the current head (`pgx audit checkpoint`)."""
    if state is None:
        raise ValueError("make_checkpoint needs the audit state")
    with db.write_transaction() as conn:
        size, head = _lock_and_read_head(conn)
        return insert_checkpoint(conn, state, size, head)
