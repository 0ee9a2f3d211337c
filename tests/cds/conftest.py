"""Fixtures: a service app (SQLite and PostgreSQL) with an EHR registered as a CDS client."""

from __future__ import annotations

import pytest

from tests.cds.helpers import BASE, ISSUER, ec_key, jwks, rsa_key


@pytest.fixture(scope="session")
def ehr_keys():
    return {"ec": ec_key(), "rsa": rsa_key()}


@pytest.fixture(scope="session")
def cds_app(app, ehr_keys):
    """The shared service app (tests/conftest.py), told its public URL, with the EHR registered."""
    from service.auth.cds_trust import add_client, list_clients

    app.config["PGX_PUBLIC_BASE_URL"] = BASE
    with app.app_context():
        if ISSUER not in {c.issuer for c in list_clients(app)}:
            add_client(app, ISSUER, jwks(ehr_keys["ec"], ehr_keys["rsa"]))
    return app


@pytest.fixture
def cds(cds_app):
    return cds_app.test_client()
