"""Fail closed: when the audit record cannot be written the client gets 503 and no clinical content.

Database locked past the timeout, read-only, or gone - on SQLite and PostgreSQL, through the real
GET /v1/lookup. Authentication and the knowledge release are served from the worker's caches here
(long TTLs), so the write of the audit record is what fails.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from service.audit.writer import PG_AUDIT_LOCK_KEY

from .helpers import LOOKUP, assert_no_clinical_content, service_app

CACHED = {"PGX_AUTH_CACHE_TTL_S": 600, "PGX_RELEASE_POLL_S": 600, "PGX_LOCK_TIMEOUT_S": 0.5}


@pytest.fixture
def served(backend, new_database_url, tmp_path):
    url = new_database_url(backend)
    app, key = service_app(url, tmp_path / "var", **CACHED)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}", "X-Patient-Ref": "MRN-fc"}
    ok = client.get("/v1/lookup", query_string=LOOKUP, headers=headers)
    assert ok.status_code == 200 and ok.get_json()["audit_id"]
    yield app, client, headers, url
    app.extensions["pgx.db"].dispose()


def _count(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM audit_event")).scalar()
    engine.dispose()
    return n


def test_locked_past_the_timeout(served, backend):
    app, client, headers, url = served
    before = _count(url)
    if backend == "sqlite":
        holder = sqlite3.connect(make_url(url).database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the database write lock
    else:
        engine = create_engine(url)
        holder = engine.connect()
        holder.execute(text(f"SELECT pg_advisory_xact_lock({PG_AUDIT_LOCK_KEY})"))  # holds the audit writer lock
    try:
        assert_no_clinical_content(client.get("/v1/lookup", query_string=LOOKUP, headers=headers))
    finally:
        holder.rollback()
        holder.close()
        if backend != "sqlite":
            engine.dispose()
    assert _count(url) == before  # nothing recorded, nothing answered
    assert client.get("/v1/lookup", query_string=LOOKUP, headers=headers).status_code == 200


def test_read_only_database(served, backend):
    app, client, headers, url = served
    db = app.extensions["pgx.db"]
    if backend == "sqlite":
        db.dispose()
        event.listen(db.engine, "connect", lambda dbapi_conn, _rec: dbapi_conn.execute("PRAGMA query_only = ON"))
    else:
        name = make_url(url).database
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        admin.dispose()
        db.dispose()
    assert_no_clinical_content(client.get("/v1/lookup", query_string=LOOKUP, headers=headers))
    # a refusal must not be answered without its record either
    refused = client.get("/v1/lookup", query_string={"gene": "CYP2D6"}, headers={"X-Patient-Ref": "MRN-fc"})
    assert refused.status_code == 503


def test_database_gone(served, backend):
    app, client, headers, url = served
    db = app.extensions["pgx.db"]
    if backend == "sqlite":
        directory = Path(make_url(url).database).parent
        db.dispose()
        directory.rename(directory.with_name(directory.name + "-gone"))
        try:
            assert_no_clinical_content(client.get("/v1/lookup", query_string=LOOKUP, headers=headers))
        finally:
            db.dispose()
            shutil.rmtree(directory, ignore_errors=True)  # the empty database SQLite made in its place
            directory.with_name(directory.name + "-gone").rename(directory)
    else:
        name = make_url(url).database
        db.dispose()
        admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'ALTER DATABASE "{name}" RENAME TO "{name}_gone"'))
        try:
            assert_no_clinical_content(client.get("/v1/lookup", query_string=LOOKUP, headers=headers))
        finally:
            db.dispose()
            with admin.connect() as conn:
                conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}_gone'"))
                conn.execute(text(f'ALTER DATABASE "{name}_gone" RENAME TO "{name}"'))
            admin.dispose()
    assert client.get("/v1/lookup", query_string=LOOKUP, headers=headers).status_code == 200


def test_audit_export_fails_closed_when_it_cannot_record_itself(served, backend):
    """The export is audited before a byte is streamed; a locked log means 503 and no records."""
    from service.auth.clients import create_client

    app, client, headers, url = served
    with app.app_context():
        _info, key = create_client(app, "auditor-fc", "auditor")
    if backend == "sqlite":
        holder = sqlite3.connect(make_url(url).database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    else:
        engine = create_engine(url)
        holder = engine.connect()
        holder.execute(text(f"SELECT pg_advisory_xact_lock({PG_AUDIT_LOCK_KEY})"))
    try:
        resp = client.get("/v1/audit/events", headers={"Authorization": f"Bearer {key}"})
    finally:
        holder.rollback()
        holder.close()
        if backend != "sqlite":
            engine.dispose()
    assert resp.status_code == 503 and resp.mimetype == "application/problem+json"
    assert '"seq"' not in resp.get_data(as_text=True)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_connection_lost_while_idle_is_replaced_not_refused(served, backend):
    """PostgreSQL: the audit appender's own connection dies between lookups (server restart,
    idle timeout): the next lookup is written on a fresh connection and answered, and the chain
    goes on; nothing had been sent on the lost one that could have written."""
    app, client, headers, url = served
    before = _count(url)
    name = make_url(url).database
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            killed = conn.execute(text(
                f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{name}'")).scalar()
        assert killed >= 1
    finally:
        admin.dispose()
    first = client.get("/v1/lookup", query_string=LOOKUP, headers=headers)
    second = client.get("/v1/lookup", query_string=LOOKUP, headers=headers)
    assert first.status_code == 200 and second.status_code == 200, first.get_data(as_text=True)
    assert second.get_json()["audit_seq"] == first.get_json()["audit_seq"] + 1 == before + 2
    assert _count(url) == before + 2
