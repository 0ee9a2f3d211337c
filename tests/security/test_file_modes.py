"""The SQLite database and its WAL / shared-memory files are created 0600 (issue 13, item 11):
they hold the audit trail and the API key hashes, beside key files that are 0600 already."""

from __future__ import annotations

import os
import stat

from click.testing import CliRunner
from sqlalchemy import text

from service.cli import main


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_pgx_db_upgrade_and_the_app_create_the_files_owner_only(tmp_path, monkeypatch):
    from service import create_app

    db = tmp_path / "var" / "pgx.sqlite3"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    old = os.umask(0o022)  # the usual umask: files 0644 unless the code says otherwise
    try:
        res = CliRunner().invoke(main, ["db", "upgrade"])
        assert res.exit_code == 0, res.output
        app = create_app({"PGX_DATABASE_URL": f"sqlite:///{db}", "TESTING": True})
        database = app.extensions["pgx.db"]
        with database.write_transaction() as conn:  # WAL and shared memory exist while a connection is open
            conn.execute(text("CREATE TABLE probe (x INTEGER)"))
            conn.execute(text("INSERT INTO probe VALUES (1)"))
        with database.read() as conn:
            conn.execute(text("SELECT count(*) FROM probe")).scalar()
            files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
            assert all(f.exists() for f in files), sorted(p.name for p in db.parent.iterdir())
            assert {f.name: oct(_mode(f)) for f in files} == {f.name: "0o600" for f in files}
        database.dispose()
    finally:
        os.umask(old)


def test_an_existing_database_file_keeps_its_mode(tmp_path):
    from service.db import make_engine

    db = tmp_path / "shared.sqlite3"
    db.touch(mode=0o640)  # an operator's choice (a group that backs it up) is not overridden
    os.chmod(db, 0o640)
    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    engine.dispose()
    assert _mode(db) == 0o640
