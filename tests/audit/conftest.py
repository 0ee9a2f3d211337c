"""Fixtures for the audit-trail tests: a migrated database (SQLite and PostgreSQL) and helpers."""

from __future__ import annotations

import pytest


@pytest.fixture
def audit_app(backend, new_database_url, tmp_path):
    """A migrated app (no reference tables needed) with its own audit keys under tmp_path."""
    from service import create_app
    from service.cli.db import upgrade

    url = new_database_url(backend)
    upgrade(url)
    app = create_app(
        {
            "PGX_DATABASE_URL": url,
            "TESTING": True,
            "PGX_INSTANCE_DIR": str(tmp_path / "var"),
            "PGX_PATIENT_REF_KEY": "test-patient-key",
            "PGX_AUDIT_CHECKPOINT_EVERY": 10,
        }
    )
    yield app
    app.extensions["pgx.db"].dispose()
