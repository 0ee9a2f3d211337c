"""The PostgreSQL appender: two round trips per group on libpq."""

from __future__ import annotations

import logging
import weakref

from service.audit.canonical import (
    GENESIS_HASH,
)
from service.audit.checkpoints import _CHECKPOINT_COLUMNS, _checkpoint_insert_sql, sign_checkpoint
from service.audit.records import AuditState, Receipt, _chain, _checkpoint_due
from service.audit.store.generic import _HEAD_SQL, _PG_LOCK, _pg_insert_sql, _pg_rows_json
from service.db import SerializedPostgres

log = logging.getLogger(__name__)

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
