"""Several gunicorn workers, 16+ concurrent clients, kill -9 mid-load: no acknowledged lookup
without exactly one record; seq contiguous; the chain verifies. SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from .harness import Load, Server, check_log, run_clients, warm_up
from .helpers import service_app

pytestmark = pytest.mark.slow
CLIENTS = 16


@pytest.fixture
def deployed(backend, new_database_url, tmp_path):
    url = new_database_url(backend)
    app, key = service_app(url, tmp_path / "var")
    app.extensions["pgx.db"].dispose()
    server = Server(url, tmp_path / "var", tmp_path / "gunicorn.log")
    yield url, key, server, tmp_path
    server.kill()


def test_concurrent_workers_and_clients(deployed):
    url, key, server, tmp_path = deployed
    server.start()
    warm = Load()
    warm_up(server.base, key, warm)
    load = run_clients(server.base, key, clients=CLIENTS, per_client=15)
    server.stop()
    assert not load.bad_acks
    assert load.errors == 0, load.errors
    # Every lookup answered: the audit writer never refuses under this load (SQLite waits on
    # BEGIN IMMEDIATE, PostgreSQL on the advisory lock, well within the lock timeout).
    assert load.refusals == {} and load.statuses == {200: CLIENTS * 15}, (load.refusals, load.statuses)
    problems, report = check_log(url, tmp_path / "var", warm.acks + load.acks)
    assert problems == [], problems[:10]
    total = len(warm.acks) + len(load.acks)
    assert report.records == total and report.first_seq == 1 and report.last_seq == total


def _load_then_kill(server: Server, key: str, seconds: float, tag: str):
    stop = threading.Event()
    result = {}

    def clients():
        result["load"] = run_clients(server.base, key, clients=CLIENTS, stop=stop, tag=tag)

    t = threading.Thread(target=clients)
    t.start()
    time.sleep(seconds)
    server.kill()  # kill -9 of master and workers, mid-load
    stop.set()
    t.join(timeout=60)
    return result["load"]


def test_kill_9_mid_load_loses_no_acknowledged_record(deployed, backend):
    url, key, server, tmp_path = deployed
    acks = []
    for round_ in range(2):  # start, load, kill -9; restart on the same database, load, kill -9 again
        server.start()
        load = _load_then_kill(server, key, 1.5, tag=f"r{round_}-")
        assert not load.bad_acks
        assert load.acks, "no lookup was acknowledged before the kill"
        acks += load.acks
    problems, report = check_log(url, tmp_path / "var", acks)
    assert problems == [], problems[:10]
    assert report.records >= len(acks)

    # Negative control: the same checker on a copy of the log with one acknowledged record removed
    # (triggers dropped in the copy) must report exactly that loss.
    victim = acks[len(acks) // 2]
    copy_url = _copy_without_record(url, backend, tmp_path, victim.audit_id)
    try:
        problems, _ = check_log(copy_url, tmp_path / "var", acks)
    finally:
        _drop_copy(copy_url, backend)
    assert any(victim.audit_id in p and "has no record" in p for p in problems), problems[:5]
    assert any("log does not verify" in p for p in problems)


def _copy_without_record(url: str, backend: str, tmp_path, audit_id: str) -> str:
    if backend == "sqlite":
        src = sqlite3.connect(make_url(url).database)
        dest_path = tmp_path / "copy.sqlite3"
        dest = sqlite3.connect(dest_path)
        src.backup(dest)
        src.close()
        dest.execute("DROP TRIGGER audit_event_no_delete")
        dest.execute("DELETE FROM audit_event WHERE audit_id = ?", (audit_id,))
        dest.commit()
        dest.close()
        return f"sqlite:///{dest_path}"
    name = make_url(url).database
    copy = f"{name}_copy"
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'CREATE DATABASE "{copy}" TEMPLATE "{name}"'))
    admin.dispose()
    copy_url = make_url(url).set(database=copy).render_as_string(hide_password=False)
    engine = create_engine(copy_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_event_no_update_delete ON audit_event"))
        conn.execute(text("DELETE FROM audit_event WHERE audit_id = :a"), {"a": audit_id})
    engine.dispose()
    return copy_url


def _drop_copy(copy_url: str, backend: str) -> None:
    if backend == "sqlite":
        return
    name = make_url(copy_url).database
    admin = create_engine(make_url(copy_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.parametrize("backend_name", ["sqlite", "postgresql"])
def test_a_writer_reads_the_head_left_by_the_writer_it_waited_for(backend_name, new_database_url, tmp_path):
    """The chain head is read after the writer lock is granted, with what the previous holder
    committed (PostgreSQL: lock and head are two statements sent together; one statement doing
    both would read with a snapshot from before the wait and fork the chain)."""
    from service.audit import append_events
    from service.audit.writer import AuditState, _lock_and_read_head
    from service.cli.db import upgrade
    from service.db import Database

    url = new_database_url(backend_name)
    upgrade(url)
    db = Database(url)
    state = AuditState(instance_dir=tmp_path)
    seen = {}

    def second_writer():
        with db.write_transaction() as conn:
            seen["head"] = _lock_and_read_head(conn)

    try:
        with db.write_transaction() as conn:
            (receipt,) = append_events(conn, [{"action": "GET /v1/lookup", "outcome": 200}], state=state)
            waiting = threading.Thread(target=second_writer)
            waiting.start()
            time.sleep(0.3)  # the second writer is now waiting for the lock
            assert "head" not in seen
        waiting.join(timeout=10)
        assert seen["head"] == (receipt.seq, receipt.entry_hash)
    finally:
        db.dispose()


def test_deferred_timeouts_are_in_force_when_the_audit_lock_is_taken(new_database_url):
    """PostgreSQL: the group commit defers the transaction's lock/statement timeouts to the round
    trip that takes the audit lock; they must be set by then (a stuck lock holder must not block
    writers forever), exactly as in a plain write transaction."""
    from service.audit.writer import _lock_and_read_head
    from service.cli.db import upgrade
    from service.db import Database

    url = new_database_url("postgresql")
    upgrade(url)
    db = Database(url, lock_timeout_s=1.5)
    try:
        for deferred in (True, False):
            with db.write_transaction(defer_timeouts=deferred) as conn:
                _lock_and_read_head(conn)
                settings = conn.exec_driver_sql("SELECT current_setting('lock_timeout'), "
                                                "current_setting('statement_timeout')").one()
                assert tuple(settings) == ("1500ms", "3s"), (deferred, settings)
        with db.read() as conn:  # transaction-local: gone afterwards
            assert conn.exec_driver_sql("SELECT current_setting('lock_timeout')").scalar() == "0"
    finally:
        db.dispose()
