"""Shared fixtures: every HTTP test runs on SQLite and, where reachable, on PostgreSQL.

PostgreSQL comes from PGX_TEST_POSTGRES_URL (`.ci/run` sets it). Each test session creates
fresh databases on that server and drops them afterwards, so parallel runs never share state.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from service.db import normalize_url

REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_TABLES = REPO_ROOT / "reference_tables"
PG_ENV = "PGX_TEST_POSTGRES_URL"


def _postgres_admin_url() -> tuple[str | None, str]:
    url = os.environ.get(PG_ENV)
    if not url:
        return None, f"{PG_ENV} is not set; PostgreSQL tests skipped (.ci/run sets it)"
    try:
        engine = create_engine(normalize_url(url), isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # unreachable server: skip, saying why
        return None, f"PostgreSQL at {PG_ENV} is not reachable ({type(exc).__name__}); PostgreSQL tests skipped"
    return normalize_url(url), ""


_PG_URL, _PG_SKIP_REASON = _postgres_admin_url()
_created_pg_databases: list[str] = []


def pytest_sessionstart(session):
    # CI (.ci/run) sets PGX_REQUIRE_POSTGRES=1: an unreachable server must fail the run, not
    # silently skip the PostgreSQL half of the suite.
    if os.environ.get("PGX_REQUIRE_POSTGRES") == "1" and _PG_URL is None:
        pytest.exit(f"PGX_REQUIRE_POSTGRES=1 but {_PG_SKIP_REASON}", returncode=3)


def _new_postgres_database() -> str:
    name = f"pgx_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(_PG_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    _created_pg_databases.append(name)
    return make_url(_PG_URL).set(database=name).render_as_string(hide_password=False)


def pytest_sessionfinish(session, exitstatus):
    if not _created_pg_databases or not _PG_URL:
        return
    engine = create_engine(_PG_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for name in _created_pg_databases:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def new_database_url(tmp_path_factory) -> Callable[[str], str]:
    """Factory: an empty database of the given backend ('sqlite' or 'postgresql')."""

    def make(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path_factory.mktemp('db') / 'pgx.sqlite3'}"
        if _PG_URL is None:
            pytest.skip(_PG_SKIP_REASON)
        return _new_postgres_database()

    return make


@pytest.fixture
def fresh_app(new_database_url):
    """Factory: an app on a new, migrated database of the given backend (no release loaded), with
    extra config; its engine is disposed after the test."""
    from service import create_app
    from service.cli.db import upgrade

    made = []

    def make(backend: str, **config):
        url = new_database_url(backend)
        upgrade(url)
        application = create_app({"PGX_DATABASE_URL": url, "TESTING": True, **config})
        made.append(application)
        return application

    yield make
    for application in made:
        application.extensions["pgx.db"].dispose()


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def build_service_app(url: str, **config):
    """A migrated database with the repository's reference tables loaded and active."""
    from service import create_app
    from service.cli.db import upgrade

    upgrade(url)
    # A generous rate limit for the shared test app (tests/security builds its own app with a tiny one).
    config.setdefault("PGX_RATELIMIT_DEFAULT", "100000/minute")
    # Its own audit keys, never the repository's var/.
    config.setdefault("PGX_INSTANCE_DIR", tempfile.mkdtemp(prefix="pgx-test-instance-"))
    app = create_app({"PGX_DATABASE_URL": url, "TESTING": True, **config})
    from service.releases import load_release_directory_into

    with app.app_context():
        load_release_directory_into(app, REFERENCE_TABLES)
    return app


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request) -> str:
    if request.param == "postgresql" and _PG_URL is None:
        pytest.skip(_PG_SKIP_REASON)
    return request.param


@pytest.fixture(scope="session")
def app(backend, tmp_path_factory):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('app-db') / 'pgx.sqlite3'}"
    else:
        url = _new_postgres_database()
    application = build_service_app(url, PGX_INSTANCE_DIR=str(tmp_path_factory.mktemp("instance")))
    yield application
    application.extensions["pgx.db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def api_key(app) -> Callable[[str], str]:
    """Factory: a fresh API key for a client of the given role."""
    from service.auth.clients import create_client

    cache: dict[str, str] = {}

    def make(role: str, name: str | None = None) -> str:
        if name is None and role in cache:
            return cache[role]
        with app.app_context():
            _client, key = create_client(app, name or f"test-{role}-{uuid.uuid4().hex[:6]}", role)
        if name is None:
            cache[role] = key
        return key

    return make


@pytest.fixture
def auth(api_key) -> Callable[[str], dict[str, str]]:
    """Factory: request headers carrying a key of the given role."""

    def headers(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key(role)}"}

    return headers


@pytest.fixture(scope="session")
def shared_dir() -> Iterator[Path]:
    path = Path(os.environ.get("PGX_SHARED_DIR", REPO_ROOT.parent / "shared"))
    if not (path / "reference-data").is_dir():
        pytest.skip(f"{path}/reference-data is absent (a user's clone): conformance against CPIC skipped")
    yield path
