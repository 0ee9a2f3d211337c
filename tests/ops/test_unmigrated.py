"""A database that was never migrated says so (issue 13, item 13): the answer names
`pgx db upgrade` instead of "try again shortly", which no retry would ever make true."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from tests.conftest import BACKENDS

KEY = "pgx_abcdef123456_" + "x" * 43


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unmigrated_database_answers_that_it_needs_pgx_db_upgrade(backend, new_database_url):
    from service import create_app

    app = create_app({"PGX_DATABASE_URL": new_database_url(backend), "TESTING": True})
    try:
        resp = app.test_client().get("/v1/lookup?gene=CYP2D6&diplotype=*1/*1",
                                     headers={"Authorization": f"Bearer {KEY}"})
    finally:
        app.extensions["pgx.db"].dispose()
    assert resp.status_code == 503
    detail = resp.get_json()["detail"]
    assert "pgx db upgrade" in detail and "try again shortly" not in detail


def test_a_migrated_database_that_fails_a_moment_still_says_try_again(fresh_app, monkeypatch):
    import service.auth as auth

    app = fresh_app("sqlite")

    def unreachable(*_args, **_kwargs):
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(auth, "authenticate", unreachable)
    resp = app.test_client().get("/v1/clients", headers={"Authorization": f"Bearer {KEY}"})
    assert resp.status_code == 503
    assert "try again shortly" in resp.get_json()["detail"]
