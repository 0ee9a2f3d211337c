"""Engine and transactions for SQLite (embedded default) and PostgreSQL (production).

The engine is created lazily, per process, so gunicorn workers never inherit a connection
opened before fork. Writers that must serialize (the audit chain) open their transaction with
`write_transaction()`: on SQLite that is `BEGIN IMMEDIATE` (the database write lock is taken at
BEGIN, never upgraded mid-transaction, which is what deadlocks WAL readers-turned-writers).
"""

from __future__ import annotations

import json
import mmap
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from flask import Flask, current_app
from sqlalchemy import Connection, Engine, MetaData, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back naive; they were written in UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def normalize_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and route them to psycopg 3."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def is_sqlite(url_or_engine: str | Engine) -> bool:
    url = url_or_engine.url if isinstance(url_or_engine, Engine) else make_url(normalize_url(url_or_engine))
    return url.get_backend_name() == "sqlite"


def json_dumps(value) -> str:
    """JSON columns' serializer: orjson (several times faster than the standard library; the
    audit's input/result/warnings copies are written with every record), the standard library
    for what orjson refuses (integers beyond 64 bits). Read back by json.loads, the same values."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")
    except TypeError:
        return json.dumps(value)


def configure_sqlite(dbapi_conn, *, lock_timeout_s: float, synchronous: str | None = None) -> None:
    """Every SQLite connection of ours: WAL, a busy timeout, fsync'd commits (FULL, unless
    PGX_SQLITE_SYNCHRONOUS says otherwise), foreign keys; transactions are ours to begin."""
    synchronous = synchronous or os.environ.get("PGX_SQLITE_SYNCHRONOUS", "FULL")
    # Take over transaction control from pysqlite so BEGIN IMMEDIATE is ours to issue.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={int(lock_timeout_s * 1000)}")
    cur.execute(f"PRAGMA synchronous={synchronous}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _create_private(path: str) -> None:
    """Create the SQLite file 0600 (owner only) before SQLite does: it would create it with the
    process's umask (0644: readable by every local user; it holds the audit trail and key
    hashes). SQLite gives the -wal, -shm and -journal files the database file's own mode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def make_engine(url: str, *, lock_timeout_s: float = 5.0, sqlite_synchronous: str | None = None) -> Engine:
    url = normalize_url(url)
    if is_sqlite(url):
        path = make_url(url).database
        if path and path != ":memory:" and not path.startswith("file:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            _create_private(path)
        engine = create_engine(
            url,
            connect_args={"timeout": lock_timeout_s, "check_same_thread": False},
            json_serializer=json_dumps,
        )
        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record):  # pragma: no cover - exercised by every sqlite test
            configure_sqlite(dbapi_conn, lock_timeout_s=lock_timeout_s, synchronous=sqlite_synchronous)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection):
            immediate = conn.get_execution_options().get("pgx_write", False)
            # On the DBAPI connection itself: SQLAlchemy's statement machinery for a BEGIN was a
            # measurable share of the audit writer's time under its lock.
            conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(
        url,
        json_serializer=json_dumps,
        pool_pre_ping=True,
        pool_size=int(os.environ.get("PGX_DB_POOL_SIZE", "5")),
        max_overflow=int(os.environ.get("PGX_DB_MAX_OVERFLOW", "5")),
        pool_timeout=lock_timeout_s,
        connect_args={"connect_timeout": max(1, int(lock_timeout_s))},
    )


PENDING_TIMEOUTS = "pgx_pending_timeouts"


def pending_timeouts(conn: Connection) -> str | None:
    """The timeouts statement a `write_transaction(defer_timeouts=True)` left to send (once)."""
    return conn.info.pop(PENDING_TIMEOUTS, None)


class WriterLockTimeout(OperationalError):
    """A SQLite writer waited longer than the lock timeout for its turn (like SQLite's 'database
    is locked'): callers treat it as any database failure (the audit fails closed)."""

    def __init__(self, message: str):
        super().__init__(message, None, Exception(message))


LOCK_PAGE_SIZE = 4096
_INHERITED: list = []


class SerializedSqlite:
    """What `Database.serialized_sqlite()` yields (see there)."""

    __slots__ = ("database", "dbapi", "page")

    def __init__(self, database: Database, dbapi: sqlite3.Connection, page: mmap.mmap):
        self.database = database
        self.dbapi = dbapi
        self.page = page

    def transaction(self):
        """An ordinary write transaction (SQLAlchemy, BEGIN IMMEDIATE), under the lock already held."""
        return self.database._transaction()


class SerializedPostgres:
    """What `Database.serialized_postgres()` yields: the driver connection and the statement
    that sets its lock and statement timeouts (for the session: it is the appender's own)."""

    __slots__ = ("database", "dbapi", "timeouts_sql", "head")

    def __init__(self, database: Database, dbapi, timeouts_sql: str):
        self.database = database
        self.dbapi = dbapi
        self.timeouts_sql = timeouts_sql
        # (seq, entry_hash) read under the advisory lock, while this session's transaction is
        # open (service.audit.writer.lock_chain_head); None before BEGIN and after COMMIT.
        self.head: tuple[int, str] | None = None

    def reconnect(self) -> None:
        """Discard the connection (lost) and take a fresh one."""
        self.database._discard_own_connection()
        self.dbapi = self.database._own_connection()


class Database:
    """One per app: a lazily created engine and the transaction helpers the app uses."""

    def __init__(self, url: str, *, lock_timeout_s: float = 5.0):
        self.url = normalize_url(url)
        self.lock_timeout_s = lock_timeout_s
        self._engine: Engine | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._lock_fd: tuple[int, int] | None = None
        self._raw: tuple[Engine, Any, int] | None = None
        self._own_lock = threading.Lock()
        self._page: tuple[int, mmap.mmap] | None = None
        # Parsed once: both are asked on every write transaction (URL parsing is not free).
        self._is_sqlite = is_sqlite(self.url)
        self._is_postgresql = make_url(self.url).get_backend_name() == "postgresql"
        self._lock_path = self._compute_writer_lock_path()

    @property
    def engine(self) -> Engine:
        pid = os.getpid()
        if self._engine is None or self._pid != pid:
            with self._lock:
                if self._engine is None or self._pid != pid:
                    if self._engine is not None:
                        # Inherited across fork: drop the parent's pooled connections unclosed.
                        self._engine.dispose(close=False)
                    self._engine = make_engine(self.url, lock_timeout_s=self.lock_timeout_s)
                    self._pid = pid
        return self._engine

    @property
    def is_sqlite(self) -> bool:
        return self._is_sqlite

    @property
    def is_postgresql(self) -> bool:
        return self._is_postgresql

    @property
    def serializes_sqlite_writers(self) -> bool:
        """A SQLite database file: writers take `writer_lock()` (and may use `serialized_sqlite()`)."""
        return self._lock_path is not None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write_transaction(self, *, defer_timeouts: bool = False) -> Iterator[Connection]:
        """A transaction that commits on success and rolls back on any exception.

        SQLite (a database file): writers queue first on a lock of this process and then on an
        exclusive `flock` of `<database>.writelock` shared by every process of the deployment,
        and only then take SQLite's write lock (`BEGIN IMMEDIATE`). A waiting writer so blocks
        in the kernel and is woken when the previous one finishes, instead of polling in
        SQLite's busy handler (which sleeps up to 100 ms between tries: long, unfair tails when
        several workers write). Waiting for the process lock is bounded by the lock timeout;
        the flock is only ever held by another writer of ours for one transaction (whose
        `BEGIN IMMEDIATE` is itself bounded by the busy timeout), and released by the kernel if
        that process dies. Writers from elsewhere (sqlite3 shell, another program) do not take
        the flock: SQLite's own lock and busy timeout still decide against them.

        PostgreSQL: the transaction's `lock_timeout` and `statement_timeout` are set first. With
        `defer_timeouts=True` they are not sent on their own: the caller promises to send
        `pending_timeouts(conn)` ahead of its first statement, in the same round trip (the audit
        writer does, with its lock and chain-head read).
        """
        if self._lock_path is None:
            with self._transaction(defer_timeouts=defer_timeouts) as conn:
                yield conn
            return
        with self.writer_lock(), self._transaction() as conn:
            yield conn

    @contextmanager
    def writer_lock(self) -> Iterator[int]:
        """The SQLite file's writer lock alone (this process's lock, then the flock), yielding the
        lock file's descriptor; see `write_transaction`. Only for a SQLite database file."""
        lock_path = self._lock_path
        if lock_path is None:
            raise RuntimeError("writer_lock() is only for a SQLite database file")
        if not self._write_lock.acquire(timeout=self.lock_timeout_s):
            raise WriterLockTimeout("timed out waiting for this process's database writer lock")
        try:
            fd = self._writer_lock_fd(lock_path)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield fd
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._write_lock.release()

    @contextmanager
    def serialized_sqlite(self) -> Iterator[SerializedSqlite]:
        """For the audit appender on a SQLite file: the writer lock held, with this process's own
        autocommit DBAPI connection (no pool, no SQLAlchemy statement machinery) and the lock
        file's shared page. None of it is a transaction: the appender's single INSERT is its own
        (service/audit/writer.py); `transaction()` opens an ordinary one, under the same lock."""
        with self.writer_lock() as fd:
            yield SerializedSqlite(self, self._own_connection(), self._lock_page(fd))

    @contextmanager
    def serialized_postgres(self) -> Iterator[SerializedPostgres]:
        """For the audit appender on PostgreSQL: this process's own connection, in autocommit at
        the driver, so that the appender sends BEGIN with its lock and head read (one round trip)
        and its INSERT with the COMMIT (one more), with no pool checkout and no pre-ping per
        group (service/audit/writer.py). A failure discards the connection (whatever state it was left
        in): the next group gets a fresh one."""
        with self._own_lock:
            dbapi = self._own_connection()
            # Session-wide timeouts: the connection serves the audit appender alone.
            session = SerializedPostgres(self, dbapi, self._timeouts_sql(local=False))
            try:
                yield session
            except BaseException:
                self._discard_own_connection()
                raise
            if session.head is not None:
                # Left inside its transaction (the lock taken, nothing committed): never reused
                # as it is, or the advisory lock would stay held by an idle connection.
                self._discard_own_connection()

    def _own_connection(self):
        """A connection of the engine's pool, kept checked out for the audit appender (so it is
        configured like every other: `configure_sqlite` and any other connect listener)."""
        engine = self.engine
        if self._raw is None or self._raw[0] is not engine:
            if self._raw is not None and self._raw[2] != os.getpid():
                # Inherited across fork: never closed or returned here (a connection must not be
                # used across fork); kept referenced so no finalizer touches it either.
                _INHERITED.append(self._raw[1])
            elif self._raw is not None:
                self._discard_own_connection()
            fairy = engine.raw_connection()
            if not self._is_sqlite:
                fairy.dbapi_connection.autocommit = True
            self._raw = (engine, fairy, os.getpid())
        return self._raw[1].dbapi_connection

    def _discard_own_connection(self) -> None:
        if self._raw is not None and self._raw[2] == os.getpid():
            # Closed, never handed back to the pool (on PostgreSQL it is in autocommit).
            self._raw[1].invalidate()
        self._raw = None

    def _lock_page(self, fd: int) -> mmap.mmap:
        """The writer lock file's first page, mapped shared: what one holder of the lock leaves
        there, the next holder (of any process) reads. Called with the flock held."""
        pid = os.getpid()
        if self._page is None or self._page[0] != pid:
            if os.fstat(fd).st_size < LOCK_PAGE_SIZE:
                os.ftruncate(fd, LOCK_PAGE_SIZE)  # zeros: nothing left there yet
            self._page = (pid, mmap.mmap(fd, LOCK_PAGE_SIZE))
        return self._page[1]

    def _compute_writer_lock_path(self) -> str | None:
        if fcntl is None or not self._is_sqlite:
            return None
        database = make_url(self.url).database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return database + ".writelock"

    def _writer_lock_fd(self, path: str) -> int:
        pid = os.getpid()
        if self._lock_fd is None or self._lock_fd[0] != pid:  # opened per process (never across fork)
            self._lock_fd = (pid, os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
        return self._lock_fd[1]

    def _timeouts_sql(self, *, local: bool = True) -> str:
        ms = int(self.lock_timeout_s * 1000)
        # = SET [LOCAL] lock_timeout, statement_timeout: one statement.
        scope = "true" if local else "false"
        return (f"SELECT set_config('lock_timeout', '{ms}', {scope}), "
                f"set_config('statement_timeout', '{ms * 2}', {scope})")

    @contextmanager
    def _transaction(self, *, defer_timeouts: bool = False) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(pgx_write=True)
            with conn.begin():
                if not self.is_sqlite:
                    if defer_timeouts:
                        conn.info[PENDING_TIMEOUTS] = self._timeouts_sql()
                    else:
                        conn.exec_driver_sql(self._timeouts_sql())
                try:
                    yield conn
                finally:
                    conn.info.pop(PENDING_TIMEOUTS, None)

    def dispose(self) -> None:
        self._discard_own_connection()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self._page is not None and self._page[0] == os.getpid():
            self._page[1].close()
        self._page = None


def is_unmigrated(db: Database) -> bool:
    """True when the database answers but holds none of our schema (no Alembic version table):
    it was never migrated, and no retry will help until `pgx db upgrade` runs. False when it
    cannot even be asked (unreachable: that one may pass)."""
    try:
        with db.engine.connect() as conn:
            return not inspect(conn).has_table("alembic_version")
    except SQLAlchemyError:
        return False


def init_app(app: Flask) -> None:
    """The app's Database (engine created lazily, per process), from PGX_DATABASE_URL."""
    app.extensions["pgx.db"] = Database(
        app.config["PGX_DATABASE_URL"], lock_timeout_s=float(app.config["PGX_LOCK_TIMEOUT_S"])
    )


def get_db(app: Flask | None = None) -> Database:
    """The Database of `app`, or of the current app."""
    return (app or current_app).extensions["pgx.db"]
