"""Alembic migrations on SQLite and PostgreSQL: empty -> head -> base -> head, matching the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

import service.audit.models  # noqa: F401  (every model module, as migrations/env.py imports them)
import service.auth.cds_models  # noqa: F401
import service.auth.models  # noqa: F401
import service.releases.store  # noqa: F401
from service.cli.db import alembic_config, downgrade, upgrade
from service.db import Base, normalize_url

BACKEND_PARAMS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def _model_tables() -> set[str]:
    return set(Base.metadata.tables)


def _tables(url: str) -> set[str]:
    engine = create_engine(normalize_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _current_revision(url: str) -> str | None:
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def _drift(url: str) -> list:
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()


def test_the_revision_chain_is_linear_with_one_head():
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    heads = script.get_heads()
    assert len(heads) == 1, f"several heads: {heads}"
    chain = [rev.revision for rev in script.walk_revisions("base", "heads")]
    assert chain[-1] == "0001_releases", chain
    for rev in script.walk_revisions("base", "heads"):
        assert rev.down_revision is None or isinstance(rev.down_revision, str), f"{rev.revision} is a merge"


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_upgrade_downgrade_upgrade_round_trip(backend, new_database_url):
    url = new_database_url(backend)
    expected = _model_tables()
    assert expected, "no model tables registered"
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()

    upgrade(url)
    assert _current_revision(url) == head
    assert expected <= _tables(url), f"missing after upgrade: {expected - _tables(url)}"

    downgrade(url)
    assert _current_revision(url) is None
    left = _tables(url) - {"alembic_version"}
    assert not left, f"tables left after downgrade to base: {left}"

    upgrade(url)
    assert _current_revision(url) == head
    assert expected <= _tables(url)


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_migrations_match_the_models(backend, new_database_url):
    """What the migrations build is what the models declare (no autogenerate drift)."""
    url = new_database_url(backend)
    upgrade(url)
    drift = _drift(url)
    assert not drift, f"models and migrations disagree: {drift}"


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_0004_keeps_every_audit_record_byte_for_byte(backend, new_database_url, tmp_path):
    """0004 rebuilds audit_event on SQLite (seq becomes the rowid) and drops the unique index on
    entry_hash: records written before it survive unchanged, both ways, still verify, and the
    table stays append-only."""
    from audit.helpers import append, event, export_text, public_key
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from service import create_app
    from service.audit.verify import verify_export

    url = new_database_url(backend)
    upgrade(url, "0003_api_clients")
    app = create_app({"PGX_DATABASE_URL": url, "TESTING": True, "PGX_INSTANCE_DIR": str(tmp_path / "var"),
                      "PGX_PATIENT_REF_KEY": "k", "PGX_AUDIT_CHECKPOINT_EVERY": 5})
    append(app, [event(i) for i in range(7)])
    engine = create_engine(normalize_url(url))

    def rows():
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text("SELECT * FROM audit_event ORDER BY seq"))]

    def unique_columns():
        return {tuple(u["column_names"]) for u in inspect(engine).get_unique_constraints("audit_event")}

    try:
        before = rows()
        assert ("entry_hash",) in unique_columns()
        upgrade(url)
        assert rows() == before
        assert ("entry_hash",) not in unique_columns() and ("audit_id",) in unique_columns()
        if backend == "sqlite":
            with engine.connect() as conn:
                # seq is the rowid: no separate primary-key index beside the table's B-tree
                origins = [r[3] for r in conn.execute(text("PRAGMA index_list(audit_event)"))]
                assert "pk" not in origins, origins
                assert conn.execute(text("SELECT count(*) FROM audit_event WHERE rowid = seq")).scalar() == 7
        append(app, [event(i) for i in range(7, 9)])  # the chain goes on across the migration
        report = verify_export(export_text(app).encode(), public_key=public_key(app))
        assert report.ok and report.records == 9, report.errors
        for statement in ("UPDATE audit_event SET actor = 'x'", "DELETE FROM audit_event"):
            with pytest.raises(DBAPIError), engine.begin() as conn:
                conn.execute(text(statement))
        after = rows()
        downgrade(url, "0003_api_clients")
        assert rows() == after
        assert ("entry_hash",) in unique_columns()
    finally:
        app.extensions["pgx.db"].dispose()
        engine.dispose()
