"""Writing the audit trail: gapless seq under a writer lock, hash chain, signed checkpoints.

`append_events(conn, events)` runs inside the caller's write transaction (the one that produces
the answer), so the records commit together with the answer or not at all, before the response
leaves; or, given `Database.serialized_sqlite()` / `serialized_postgres()` (the HTTP group
commit), as one guarded INSERT on SQLite / two round trips on libpq on PostgreSQL (see below). Any failure
raises `AuditUnavailable` (503, no clinical content): fail closed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import struct
import time
import uuid
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson
from flask import Flask, current_app, g, has_request_context
from sqlalchemy import JSON, BigInteger, Connection, Integer, insert, select

from service.audit.canonical import (
    FORMAT_VERSION,
    GENESIS_HASH,
    canonical_text,
    checkpoint_message,
    normalize,
)
from service.audit.errors import AuditUnavailable
from service.audit.keys import Signer, load_patient_key, load_signer, pseudonymize
from service.audit.models import audit_checkpoint, audit_event
from service.db import SerializedPostgres, SerializedSqlite, json_dumps, pending_timeouts
from service.ids import random_bytes

log = logging.getLogger(__name__)

# PostgreSQL advisory lock key of the audit writer ("pgxaudit" as 8 bytes, fits a signed bigint).
PG_AUDIT_LOCK_KEY = int.from_bytes(b"pgxaudit", "big") & 0x7FFF_FFFF_FFFF_FFFF
DEFAULT_ORIGIN = "pgx-dose-guidance/audit"
DEFAULT_CHECKPOINT_EVERY = 1000

def new_audit_id() -> str:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits. Time-ordered, so
    each record's id lands at the right-hand edge of the audit_id index instead of on a random
    page of it (a random-page write per record is what a UUIDv4 index costs, and it grows with
    the table)."""
    rand = int.from_bytes(random_bytes(10), "big")
    value = (time.time_ns() // 1_000_000) << 80 | 0x7 << 76 | (rand >> 62 & 0xFFF) << 64 | 0b10 << 62
    return str(uuid.UUID(int=value | rand & (1 << 62) - 1))


def utc_now_iso() -> str:
    """UTC now as ISO 8601 with milliseconds and `Z` (fixed width, so it sorts as text)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def to_utc_iso(value: str | datetime) -> str:
    """Normalize an ISO 8601 time (naive = UTC) to the stored form."""
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        dt = dt.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 shifted out of range by its offset: clamp
        dt = (datetime.min if dt.year == 1 else datetime.max).replace(tzinfo=UTC)
    # isoformat pads the year to 4 digits (strftime's %Y does not on glibc: year 438 -> "438").
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Receipt:
    """What an answer carries to prove its lookup was logged."""

    audit_id: str
    seq: int
    entry_hash: str

    def as_dict(self) -> dict:
        return {"audit_id": self.audit_id, "seq": self.seq, "entry_hash": self.entry_hash}


class AuditState:
    """Per-app audit configuration; keys are loaded lazily (and generated in dev) on first use."""

    def __init__(
        self,
        *,
        instance_dir: str | Path,
        patient_ref_key: str | None = None,
        signing_key_file: str | None = None,
        origin: str = DEFAULT_ORIGIN,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    ):
        self.instance_dir = Path(instance_dir)
        self._patient_ref_key = patient_ref_key
        self._signing_key_file = signing_key_file
        self.origin = origin
        self.checkpoint_every = max(0, int(checkpoint_every))

    @classmethod
    def from_app(cls, app: Flask) -> AuditState:
        cfg = app.config
        return cls(
            instance_dir=cfg.get("PGX_INSTANCE_DIR") or "var",
            patient_ref_key=cfg.get("PGX_PATIENT_REF_KEY"),
            signing_key_file=cfg.get("PGX_AUDIT_SIGNING_KEY_FILE"),
            origin=cfg.get("PGX_AUDIT_ORIGIN") or os.environ.get("PGX_AUDIT_ORIGIN") or DEFAULT_ORIGIN,
            checkpoint_every=int(
                cfg.get("PGX_AUDIT_CHECKPOINT_EVERY")
                or os.environ.get("PGX_AUDIT_CHECKPOINT_EVERY")
                or DEFAULT_CHECKPOINT_EVERY
            ),
        )

    @cached_property
    def patient_key(self) -> bytes:
        return load_patient_key(self._patient_ref_key, self.instance_dir)

    @cached_property
    def signer(self) -> Signer:
        return load_signer(self._signing_key_file, self.instance_dir)

    def pseudonymize(self, patient_ref: str | None) -> str | None:
        return pseudonymize(self.patient_key, patient_ref)


def get_state(app: Flask | None = None) -> AuditState:
    app = app or current_app
    state = app.extensions.get("pgx.audit")
    if state is None:
        state = app.extensions["pgx.audit"] = AuditState.from_app(app)
    return state


def _names(values: Iterable[Any] | None, *, upper: bool) -> list[str]:
    out: list[str] = []
    for value in values or ():
        if value is None:
            continue
        name = str(value).strip().replace("|", "")
        name = name.upper() if upper else name.lower()
        if name and name not in out:
            out.append(name)
    return out


def _joined(names: list[str]) -> str | None:
    return "|" + "|".join(names) + "|" if names else None


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


def _as_is(value: Any) -> Any:
    return value


def normalized_event(event: dict) -> dict:
    """The event with its input, result and warnings already in canonical form, marked so that
    `prepare_events` takes them as they are: for an event written many times (a cached answer)."""
    return {
        **event,
        "normalized": True,
        "input": normalize(event.get("input")),
        "result": normalize(event.get("result")),
        "warnings": normalize(list(event.get("warnings") or [])),
        "genes": _names(event.get("genes"), upper=True),
        "drugs": _names(event.get("drugs"), upper=False),
    }


def prepare_events(events: list[dict], *, state: AuditState | None = None,
                   ident: dict[str, Any] | None = None) -> list[dict]:
    """Everything of each record that does not depend on the chain head, done without the lock:
    identity (`ident`: actor, role, action, request_id, source_addr; an event's own win), names, pseudonymized patient_ref, the
    normalized input/result/warnings, and the record's audit_id. Raises on bad events."""
    state = state or get_state()
    if ident is None:
        ident = {}
    prepared = []
    for ev in events:
        # `normalized`: input/result/warnings and the names come already normalized (a cached
        # answer's event, see normalized_event).
        if ev.get("normalized"):
            norm, genes, drugs = _as_is, ev["genes"], ev["drugs"]
        else:
            norm = normalize
            genes = _names(ev.get("genes"), upper=True)
            drugs = _names(ev.get("drugs"), upper=False)
        prepared.append(
            {
                "audit_id": new_audit_id(),
                "actor": str(ev.get("actor") or ident.get("actor") or "anonymous"),
                "role": ev.get("role", ident.get("role")),
                "action": str(ev.get("action") or ident["action"]),
                "outcome": int(ev["outcome"]),
                "purpose": ev.get("purpose"),
                "patient_ref": state.pseudonymize(ev.get("patient_ref")),
                "input": norm(ev.get("input")),
                "result": norm(ev.get("result")),
                "genes": genes,
                "drugs": drugs,
                "release": ev.get("release"),
                "request_id": ev.get("request_id", ident.get("request_id")),
                "source_addr": ev.get("source_addr", ident.get("source_addr")),
                "warnings": norm(list(ev.get("warnings") or [])),
            }
        )
    return prepared


# The columns in the order _chain writes them: the model's own order (checked at import).
_ROW_ORDER = (
    "seq", "audit_id", "recorded", "actor", "role", "action", "outcome", "purpose", "patient_ref",
    "input", "result", "genes", "drugs", "release", "request_id", "source_addr", "warnings",
    "prev_hash", "entry_hash", "canonical",
)
if _COLUMNS != _ROW_ORDER:  # pragma: no cover - a model change must update _chain
    raise RuntimeError(f"audit_event columns changed: {_COLUMNS}")


def _chain(prepared: list[dict], seq: int, prev: str) -> tuple[list, list[Receipt]]:
    """The INSERT parameters (one row after another, in _COLUMNS order) and receipts of
    `prepared` appended after the head (seq, prev): each record's seq, recorded (one time for the
    group, taken under the lock: non-decreasing along seq), prev_hash, entry_hash and canonical
    text. JSON columns are serialized with the engine's serializer (service.db.json_dumps), as
    SQLAlchemy would, once per distinct object in the group (a cached answer's input and result
    are one object shared by every request for it)."""
    recorded = utc_now_iso()
    texts: dict[int, str] = {}  # by id(): every object stays referenced by `prepared` meanwhile

    def as_json(value: Any) -> str:
        text = texts.get(id(value))
        if text is None:
            text = texts[id(value)] = json_dumps(value)
        return text

    params: list = []
    receipts = []
    for p in prepared:
        seq += 1
        canon = canonical_text({"v": FORMAT_VERSION, "seq": seq, "recorded": recorded, **p, "prev_hash": prev})
        entry = hashlib.sha256(canon.encode("utf-8")).hexdigest()
        params += (
            seq, p["audit_id"], recorded, p["actor"], p["role"], p["action"], p["outcome"], p["purpose"],
            p["patient_ref"], as_json(p["input"]), as_json(p["result"]), _joined(p["genes"]),
            _joined(p["drugs"]), p["release"], p["request_id"], p["source_addr"], as_json(p["warnings"]),
            prev, entry, canon,
        )
        receipts.append(Receipt(p["audit_id"], seq, entry))
        prev = entry
    return params, receipts


def _checkpoint_due(state: AuditState, first: int, last: int) -> bool:
    every = state.checkpoint_every
    return bool(every) and (last // every) > ((first - 1) // every)


def append_prepared(conn: Connection, prepared: list[dict], *, state: AuditState | None = None) -> list[Receipt]:
    """Append records made by `prepare_events` inside the caller's write transaction: take the
    writer lock, read the head, give each its seq / recorded / prev_hash / entry_hash, insert,
    and checkpoint when due. Only this part runs under the lock. Raises on any failure."""
    if not prepared:
        return []
    state = state or get_state()
    seq, prev = _lock_and_read_head(conn)
    params, receipts = _chain(prepared, seq, prev)
    _insert_rows(conn, params, len(receipts))
    if _checkpoint_due(state, receipts[0].seq, receipts[-1].seq):
        insert_checkpoint(conn, state, receipts[-1].seq, receipts[-1].entry_hash)
    return receipts


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


_CHECKPOINT_COLUMNS = tuple(c.name for c in audit_checkpoint.columns if c.name != "id")


def _checkpoint_insert_sql(placeholders) -> str:
    """The checkpoint INSERT with one placeholder per column (SQLite's `?`, libpq's `$n`)."""
    return (
        f"INSERT INTO {audit_checkpoint.name} ({','.join(_CHECKPOINT_COLUMNS)}) "  # noqa: S608  # nosec B608
        f"VALUES ({','.join(placeholders)})"
    )


_CHECKPOINT_INSERT_SQL = _checkpoint_insert_sql("?" * len(_CHECKPOINT_COLUMNS))


def _insert_checkpoint_dbapi(dbapi, state: AuditState, last: Receipt) -> None:
    """`insert_checkpoint` on SQLite's DBAPI connection (the guarded appender's)."""
    cp = sign_checkpoint(state, last.seq, last.entry_hash)
    dbapi.execute(_CHECKPOINT_INSERT_SQL, [cp[c] for c in _CHECKPOINT_COLUMNS])


# ---- PostgreSQL: two round trips per group, on libpq ----------------------------------------
#
# On the process's own connection (Database.serialized_postgres, autocommit at the driver), with
# libpq's own calls (psycopg's `pgconn`: each a blocking PQexec that releases the GIL) rather than
# psycopg's cursors and pipeline (their Python per statement was a large share of the group):
#  0. once per connection: its lock and statement timeouts (it serves only this appender) and
#     the head read and the INSERT as prepared statements;
#  1. one simple query: BEGIN; the advisory lock; the head read (statements run in order, each
#     with its own snapshot: the head is read after the lock was granted, as in
#     _lock_and_read_head);
#  2. one simple query: EXECUTE the INSERT of the group (its one JSON parameter as a literal
#     quoted by libpq); COMMIT. A checkpoint, when one is due, is inserted in between (bound
#     parameters; one round trip more, once per `checkpoint_every` records).
# The general path (write_transaction) costs a pool checkout with its pre-ping, the lock and head
# read, the INSERT and the COMMIT: four round trips, each a wake-up of the database server.
# The HTTP group commit sends 1. before it takes its group from the queue (lock_chain_head), so
# the requests that queued while it waited for the lock (another worker's group) join its group.

_PG_HEAD_STATEMENT = "pgx_audit_head"
_PG_INSERT_STATEMENT = "pgx_audit_insert"
_PG_SETUP = (
    f"PREPARE {_PG_HEAD_STATEMENT} AS {_HEAD_SQL}; "
    f"PREPARE {_PG_INSERT_STATEMENT}(jsonb) AS {_pg_insert_sql('$1')}"
)
_PG_BEGIN_LOCK_HEAD = f"BEGIN; {_PG_LOCK}; EXECUTE {_PG_HEAD_STATEMENT}".encode()
_PG_CHECKPOINT_INSERT_SQL = _checkpoint_insert_sql(f"${i}" for i in range(1, len(_CHECKPOINT_COLUMNS) + 1)).encode()
_PG_EXECUTE_INSERT = f"EXECUTE {_PG_INSERT_STATEMENT}(".encode()
_pg_ready: weakref.WeakSet = weakref.WeakSet()  # connections that ran the setup (0.)


def _pg_execute_insert(dbapi, params: list) -> bytes:
    """EXECUTE of the prepared INSERT, the group's rows as one JSON literal (quoted by libpq)."""
    from psycopg import pq

    return _PG_EXECUTE_INSERT + pq.Escaping(dbapi.pgconn).escape_literal(_pg_rows_json(params)) + b")"


def _pg_exec(dbapi, query: bytes, params: list[bytes | None] | None = None, *, prepared: bool = False):
    """One statement string (or one with bound text parameters; `prepared`: `query` names a
    prepared statement) on the connection's libpq handle; its last result, or the error as
    psycopg raises it (a lost connection: OperationalError)."""
    from psycopg import OperationalError, errors, pq

    pgconn = dbapi.pgconn
    if prepared:
        result = pgconn.exec_prepared(query, params)
    else:
        result = pgconn.exec_(query) if params is None else pgconn.exec_params(query, params)
    if result.status in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
        return result
    if pgconn.status == pq.ConnStatus.BAD:
        raise OperationalError("the connection to the database was lost")
    raise errors.error_from_result(result, encoding=dbapi.info.encoding)


def _pg_setup(session) -> None:
    dbapi = session.dbapi
    if dbapi not in _pg_ready:
        _pg_exec(dbapi, f"{session.timeouts_sql}; {_PG_SETUP}".encode())
        _pg_ready.add(dbapi)


def lock_chain_head(session) -> None:
    """On a `SerializedPostgres` session: round trip 1 (BEGIN, advisory lock, head read); the head
    is kept on the session for the append that follows. A no-op on any other connection (the
    SQLite writer lock is taken on entering `serialized_sqlite()`)."""
    if not isinstance(session, SerializedPostgres) or session.head is not None:
        return
    import psycopg

    for attempt in (1, 2):
        dbapi = session.dbapi
        try:
            _pg_setup(session)
            result = _pg_exec(dbapi, _PG_BEGIN_LOCK_HEAD)
            break
        except psycopg.OperationalError:
            # A connection lost while idle (server restart, idle timeout): nothing was sent that
            # could have written, so once more on a fresh one. Anything else fails the group.
            if attempt == 2 or not (dbapi.broken or dbapi.closed):
                raise
            session.reconnect()
    if result.ntuples == 0:
        session.head = (0, GENESIS_HASH)
    else:
        session.head = (int(result.get_value(0, 0)), result.get_value(0, 1).decode("ascii"))


# Up to this many records, round trip 2 carries the group as a quoted literal beside its COMMIT
# (one round trip); a larger group (a batch) goes as a bound parameter of the prepared INSERT,
# then COMMIT: quoting a large group in libpq and lexing it again on the server cost more than
# one round trip.
_PG_LITERAL_MAX_ROWS = 32


def _append_serialized_postgres(session, prepared: list[dict], state: AuditState) -> list[Receipt]:
    from psycopg import pq

    lock_chain_head(session)
    dbapi = session.dbapi
    params, receipts = _chain(prepared, *session.head)
    checkpoint = _checkpoint_due(state, receipts[0].seq, receipts[-1].seq)
    if checkpoint or len(receipts) > _PG_LITERAL_MAX_ROWS:
        _pg_exec(dbapi, _PG_INSERT_STATEMENT.encode(), [_pg_rows_json(params)], prepared=True)
        if checkpoint:
            cp = sign_checkpoint(state, receipts[-1].seq, receipts[-1].entry_hash)
            _pg_exec(dbapi, _PG_CHECKPOINT_INSERT_SQL,
                     [None if cp[c] is None else str(cp[c]).encode() for c in _CHECKPOINT_COLUMNS])
        result = _pg_exec(dbapi, b"COMMIT")
    else:
        result = _pg_exec(dbapi, _pg_execute_insert(dbapi, params) + b"; COMMIT")
    # (COMMIT of a transaction that failed answers ROLLBACK, not an error.)
    if result.command_status != b"COMMIT" or dbapi.pgconn.transaction_status != pq.TransactionStatus.IDLE:
        raise RuntimeError("the audit transaction did not commit")
    session.head = None
    return receipts


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


# ---- checkpoints ---------------------------------------------------------------------------


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


def insert_checkpoint(conn: Connection, state: AuditState, size: int, head_hash: str) -> dict:
    cp = sign_checkpoint(state, size, head_hash)
    conn.execute(insert(audit_checkpoint), [cp])
    return cp


def read_head(conn: Connection) -> tuple[int, str]:
    row = conn.execute(
        select(audit_event.c.seq, audit_event.c.entry_hash).order_by(audit_event.c.seq.desc()).limit(1)
    ).first()
    return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))


def make_checkpoint(db, state: AuditState | None = None) -> dict:
    """Sign and store a checkpoint of the current head (`pgx audit checkpoint`)."""
    state = state or get_state()
    with db.write_transaction() as conn:
        size, head = _lock_and_read_head(conn)
        return insert_checkpoint(conn, state, size, head)
