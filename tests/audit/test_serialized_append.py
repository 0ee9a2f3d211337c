"""The SQLite audit appender's one-statement path (service/audit/store/sqlite.py, "SQLite: one guarded
INSERT per group"): it trusts the chain head left on the writer lock file's page only when the
table agrees, so a stale, missing or forged page never forks or breaks the chain."""

from __future__ import annotations

import struct
import uuid

import pytest
from sqlalchemy import text

from service.audit import append_events
from service.audit.verify import verify_export
from service.audit.writer import _HEAD_MAGIC, _HEAD_PAGE, _page_head, new_audit_id

from .helpers import append, event, export_text, public_key

# The shared `backend` fixture (tests/conftest.py), asked for one database: PostgreSQL tests
# skip there, saying why, without a server.
SQLITE = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
POSTGRES = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def serialized(app, events):
    """Append through Database.serialized_sqlite(), as the HTTP group commit does on SQLite."""
    db = app.extensions["pgx.db"]
    assert db.serializes_sqlite_writers
    with app.app_context(), db.serialized_sqlite() as session:
        return append_events(session, events), _page_head(session.page)


def table(app) -> list[tuple]:
    with app.extensions["pgx.db"].engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT seq, prev_hash, entry_hash FROM audit_event ORDER BY seq"))]


def assert_chain_verifies(app, count: int) -> None:
    rows = table(app)
    assert [r[0] for r in rows] == list(range(1, count + 1))
    for before, after in zip(rows, rows[1:], strict=False):
        assert after[1] == before[2]
    report = verify_export(export_text(app).encode(), public_key=public_key(app))
    assert report.ok, report.errors
    assert report.records == count


@SQLITE
def test_groups_go_in_one_statement_after_the_page_head(audit_app, monkeypatch):
    receipts, head = serialized(audit_app, [event(i) for i in range(3)])  # empty page: general path
    assert head == (3, receipts[-1].entry_hash)
    general = []
    import service.audit.store.sqlite as sqlite_store

    real = sqlite_store.append_prepared
    monkeypatch.setattr(sqlite_store, "append_prepared", lambda *a, **k: general.append(1) or real(*a, **k))
    for start in (3, 5, 8):
        receipts, head = serialized(audit_app, [event(i) for i in range(start, start + 2)])
        assert head == (receipts[-1].seq, receipts[-1].entry_hash)
    assert general == []  # every later group took the guarded INSERT
    assert_chain_verifies(audit_app, 9)


@SQLITE
def test_a_stale_page_inserts_nothing_and_the_group_goes_the_general_way(audit_app):
    serialized(audit_app, [event(0), event(1)])
    append(audit_app, [event(2), event(3)])  # a writer that leaves no page (the general path)
    receipts, head = serialized(audit_app, [event(4)])
    assert receipts[0].seq == 5  # after the table's head (4), not the page's (2)
    assert head == (5, receipts[0].entry_hash)
    assert_chain_verifies(audit_app, 5)


@SQLITE
@pytest.mark.parametrize("page", ["zeros", "garbage", "wrong_hash", "ahead"])
def test_a_missing_or_forged_page_never_breaks_the_chain(audit_app, page):
    serialized(audit_app, [event(0), event(1)])
    db = audit_app.extensions["pgx.db"]
    with audit_app.app_context(), db.serialized_sqlite() as session:
        if page == "zeros":
            session.page[:_HEAD_PAGE.size] = bytes(_HEAD_PAGE.size)
        elif page == "garbage":
            session.page[:_HEAD_PAGE.size] = bytes(range(_HEAD_PAGE.size))
        elif page == "wrong_hash":
            _HEAD_PAGE.pack_into(session.page, 0, _HEAD_MAGIC, 2, b"f" * 64)
        else:  # a head the table never had
            seq, entry = _page_head(session.page)
            _HEAD_PAGE.pack_into(session.page, 0, _HEAD_MAGIC, seq + 5, entry.encode())
    receipts, head = serialized(audit_app, [event(2), event(3)])
    assert [r.seq for r in receipts] == [3, 4]
    assert head == (4, receipts[-1].entry_hash)
    assert_chain_verifies(audit_app, 4)


@SQLITE
def test_checkpoint_boundaries_commit_records_and_checkpoint_together(audit_app):
    # checkpoint_every = 10 (tests/audit/conftest.py); the page is set from the first group on
    for start in range(0, 35, 3):
        serialized(audit_app, [event(i) for i in range(start, min(start + 3, 35))])
    with audit_app.extensions["pgx.db"].engine.connect() as conn:
        sizes = [r[0] for r in conn.execute(text("SELECT size FROM audit_checkpoint ORDER BY id"))]
    assert sizes == [12, 21, 30]  # the groups 10-12, 19-21 and 28-30 crossed 10, 20 and 30
    assert_chain_verifies(audit_app, 35)


@SQLITE
def test_a_failed_guarded_insert_leaves_no_record_and_no_page(audit_app):
    from service.audit.writer import prepare_events
    from service.errors import ServiceUnavailable

    (first,), _ = serialized(audit_app, [event(0)])
    db = audit_app.extensions["pgx.db"]
    with audit_app.app_context():
        prepared = prepare_events([event(1), event(2)], ident={})
    prepared[1]["audit_id"] = first.audit_id  # the unique audit_id index refuses the statement
    with audit_app.app_context(), db.serialized_sqlite() as session:
        with pytest.raises(ServiceUnavailable):  # (an IntegrityError inside: fail closed)
            append_events(session, prepared, prepared=True)
        assert _page_head(session.page) == (1, first.entry_hash)
    assert len(table(audit_app)) == 1  # neither record of the group
    receipts, head = serialized(audit_app, [event(3)])
    assert receipts[0].seq == 2 and head[0] == 2
    assert_chain_verifies(audit_app, 2)


def test_audit_ids_are_time_ordered_uuid7():
    ids = [new_audit_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(value)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    millis = [uuid.UUID(v).int >> 80 for v in ids]
    assert millis == sorted(millis)  # ordered to the millisecond (random within one)
    import time

    assert abs(millis[-1] - time.time_ns() // 1_000_000) < 5_000


def test_page_layout_round_trips():
    page = bytearray(4096)
    assert _page_head(page) is None
    _HEAD_PAGE.pack_into(page, 0, _HEAD_MAGIC, 2**40, b"a" * 64)
    assert _page_head(page) == (2**40, "a" * 64)
    struct.pack_into("8s", page, 0, b"pgxhead0")
    assert _page_head(page) is None


@POSTGRES
def test_postgres_groups_two_round_trips_with_checkpoints(audit_app):
    """PostgreSQL's appender (Database.serialized_postgres): groups chain on, checkpoints land in
    the groups that cross a boundary, and the connection is the process's own across groups."""
    db = audit_app.extensions["pgx.db"]
    assert db.is_postgresql and not db.serializes_sqlite_writers
    seen = set()
    for start in range(0, 35, 3):
        with audit_app.app_context(), db.serialized_postgres() as session:
            seen.add(id(session.dbapi))
            append_events(session, [event(i) for i in range(start, min(start + 3, 35))])
    assert len(seen) == 1
    with db.engine.connect() as conn:
        sizes = [r[0] for r in conn.execute(text("SELECT size FROM audit_checkpoint ORDER BY id"))]
    assert sizes == [12, 21, 30]
    assert_chain_verifies(audit_app, 35)


@POSTGRES
def test_postgres_a_failed_group_leaves_nothing_and_a_fresh_connection(audit_app):
    from service.audit.writer import prepare_events
    from service.errors import ServiceUnavailable

    db = audit_app.extensions["pgx.db"]
    with audit_app.app_context(), db.serialized_postgres() as session:
        (first,) = append_events(session, [event(0)])
        before = id(session.dbapi)
    with audit_app.app_context():
        prepared = prepare_events([event(1), event(2)], ident={})
    prepared[1]["audit_id"] = first.audit_id  # refused by the unique audit_id index
    with pytest.raises(ServiceUnavailable), audit_app.app_context(), db.serialized_postgres() as session:
        append_events(session, prepared, prepared=True)
    assert len(table(audit_app)) == 1
    with audit_app.app_context(), db.serialized_postgres() as session:
        assert id(session.dbapi) != before  # the failed one was discarded
        (receipt,) = append_events(session, [event(3)])
    assert receipt.seq == 2
    assert_chain_verifies(audit_app, 2)


@POSTGRES
def test_postgres_requests_queued_while_the_lock_is_waited_for_join_that_group(audit_app):
    """The group commit sends BEGIN + advisory lock + head read first and takes its group from
    the queue only once the lock is granted, so the requests that arrived while it waited (for
    another worker's transaction) go into the same transaction, behind the leader's own."""
    import threading
    import time

    from service.audit import get_committer
    from service.audit.writer import PG_AUDIT_LOCK_KEY, prepare_events

    db = audit_app.extensions["pgx.db"]
    with audit_app.app_context():
        committer = get_committer(audit_app)
        batches = [prepare_events([event(3 * i + k) for k in range(1 + i % 2)], ident={}) for i in range(5)]
    out: dict[int, list] = {}

    def request(i: int) -> None:
        with audit_app.app_context():
            out[i] = committer.commit(batches[i])

    def waiting_for_the_lock() -> int:
        with db.engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).scalar()

    def until(condition) -> None:
        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.01)

    with db.engine.connect() as holder:  # another worker's transaction holds the audit lock
        holder.execute(text(f"SELECT pg_advisory_lock({PG_AUDIT_LOCK_KEY})"))
        leader = threading.Thread(target=request, args=(0,))
        leader.start()
        until(lambda: waiting_for_the_lock() == 1)
        followers = [threading.Thread(target=request, args=(i,)) for i in range(1, 5)]
        for t in followers:
            t.start()
        until(lambda: len(committer._pending) == 5)  # the leader's own is queued first
        holder.execute(text(f"SELECT pg_advisory_unlock({PG_AUDIT_LOCK_KEY})"))
        holder.commit()
        for t in [leader, *followers]:
            t.join(timeout=30)

    assert sorted(out) == [0, 1, 2, 3, 4]
    assert [r.audit_id for r in out[0]] == [p["audit_id"] for p in batches[0]]
    assert [r.seq for r in out[0]] == list(range(1, len(batches[0]) + 1))  # the leader's own first
    total = sum(len(b) for b in batches)
    assert sorted(r.seq for receipts in out.values() for r in receipts) == list(range(1, total + 1))
    with db.engine.connect() as conn:
        transactions = conn.execute(text("SELECT count(DISTINCT xmin::text) FROM audit_event")).scalar()
    assert transactions == 1
    assert_chain_verifies(audit_app, total)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.parametrize("padding", [0, 40], ids=["small-group", "large-group"])
def test_every_column_holds_what_the_canonical_record_says(audit_app, padding):
    """The appenders' inserts (SQLite: one guarded VALUES statement; PostgreSQL: the group as one
    JSON value, unpacked by the server: a SQL literal quoted by libpq for a small group, a bound
    parameter of the prepared INSERT for a large one) store each column as the record's canonical
    body has it: quotes (an apostrophe ends a SQL literal), backslashes, control characters,
    non-ASCII text, nulls and nested JSON intact."""
    import json

    from service.audit.writer import _PG_LITERAL_MAX_ROWS

    tricky = 'quote " apostrophe \' \'\'); COMMIT; -- backslash \\ \\\' tab \t newline \n é 漢字 \U0001f9ec'
    events = [
        event(0),
        event(1, input={"note": tricky, "nested": {"list": [1, None, True, "x"]}}, warnings=[tricky, {"k": tricky}],
              role=None, purpose=None, patient_ref=None, request_id=tricky, genes=[], drugs=[]),
        event(2, result={"empty": {}, "deep": [[[]]], "n": -7}, actor=tricky),
        *(event(i) for i in range(3, 3 + padding)),
    ]
    assert (len(events) > _PG_LITERAL_MAX_ROWS) == bool(padding)  # both PostgreSQL forms are taken
    db = audit_app.extensions["pgx.db"]
    writer = db.serialized_sqlite if db.serializes_sqlite_writers else db.serialized_postgres
    with audit_app.app_context(), writer() as session:
        append_events(session, events)
    columns = ("seq", "audit_id", "recorded", "actor", "role", "action", "outcome", "purpose", "patient_ref",
               "input", "result", "genes", "drugs", "release", "request_id", "source_addr", "warnings",
               "prev_hash", "entry_hash", "canonical")
    with db.engine.connect() as conn:
        rows = conn.execute(text(f"SELECT {', '.join(columns)} FROM audit_event ORDER BY seq")).all()
    assert len(rows) == len(events)
    for row in rows:
        stored = dict(zip(columns, row, strict=True))
        body = json.loads(stored["canonical"])
        for name in ("seq", "audit_id", "recorded", "actor", "role", "action", "outcome", "purpose",
                     "patient_ref", "release", "request_id", "source_addr", "prev_hash"):
            assert stored[name] == body[name], name
        for name in ("input", "result", "warnings"):
            value = stored[name]
            assert (json.loads(value) if isinstance(value, str) else value) == body[name], name
        for name in ("genes", "drugs"):
            assert stored[name] == ("|" + "|".join(body[name]) + "|" if body[name] else None), name
    assert json.loads(rows[1][-1])["input"]["note"] == tricky
    assert_chain_verifies(audit_app, len(events))
