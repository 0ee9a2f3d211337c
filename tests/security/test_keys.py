"""API keys: random, shown once, hashed at rest, revocable, rotatable; the `pgx clients` commands."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from service.auth.clients import (
    ClientError,
    ClientExists,
    authenticate,
    create_client,
    list_clients,
    revoke_client,
    rotate_client,
)

KEY_RE = re.compile(r"^pgx_([0-9a-f]{12})_([A-Za-z0-9_-]+)$")


def _name(prefix: str = "k") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_key_format_and_entropy(app):
    with app.app_context():
        info, key = create_client(app, _name(), "pharmacy")
    match = KEY_RE.match(key)
    assert match and match.group(1) == info.key_id
    # 32 random bytes, url-safe base64 without padding: 43 characters, 256 bits (>= 128 required).
    assert len(match.group(2)) >= 43


def test_keys_are_stored_only_as_a_hash(app):
    with app.app_context():
        info, key = create_client(app, _name(), "clinician")
        with app.extensions["pgx.db"].read() as conn:
            row = conn.execute(text("SELECT * FROM api_clients WHERE key_id = :k"), {"k": info.key_id}).mappings().one()
    # The secret is url-safe base64 and may itself contain "_": take it from the key format.
    secret = KEY_RE.match(key).group(2)
    for column, value in row.items():
        assert key not in str(value), column
        assert secret not in str(value), column
    assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()


def test_the_key_is_shown_once(app, client, auth):
    name = _name()
    resp = client.post("/v1/clients", json={"name": name, "role": "auditor"}, headers=auth("admin"))
    assert resp.status_code == 201
    key = resp.get_json()["key"]
    assert KEY_RE.match(key)
    listing = client.get("/v1/clients?include_revoked=true", headers=auth("admin"))
    assert listing.status_code == 200
    assert key not in listing.get_data(as_text=True)
    assert all("key" not in c for c in listing.get_json()["clients"])
    assert any(c["name"] == name and c["role"] == "auditor" for c in listing.get_json()["clients"])


def test_wrong_secret_for_a_real_key_id_is_401(app, client):
    with app.app_context():
        _info, key = create_client(app, _name(), "pharmacy")
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert client.get("/v1/releases", headers=_bearer(key)).status_code != 401
    resp = client.get("/v1/releases", headers=_bearer(forged))
    assert resp.status_code == 401
    assert "invalid_token" in resp.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "header",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer pgx_zz_zz", "bearer not-a-key", "Bearer " + "a" * 5000],
)
def test_malformed_authorization_is_401(client, header):
    resp = client.get("/v1/lookup?gene=CYP2C19&diplotype=*1/*1", headers={"Authorization": header})
    assert resp.status_code == 401
    assert resp.mimetype == "application/problem+json"


def test_revoke_takes_effect_at_once_in_this_worker(app, client):
    with app.app_context():
        info, key = create_client(app, _name(), "clinician")
    assert client.get("/v1/lookup?gene=CYP2C19&diplotype=*1/*1", headers=_bearer(key)).status_code == 200
    with app.app_context():
        revoke_client(app, info.name)
    assert client.get("/v1/lookup?gene=CYP2C19&diplotype=*1/*1", headers=_bearer(key)).status_code == 401


def test_revoke_through_another_worker_holds_within_the_cache_ttl(app):
    """Another process revoking: a worker with TTL 0 refuses at once; one with a long TTL keeps
    its cached answer until the TTL ends (the documented bound)."""
    from service import create_app

    url = app.config["PGX_DATABASE_URL"]
    no_cache = create_app({"PGX_DATABASE_URL": url, "TESTING": True, "PGX_AUTH_CACHE_TTL_S": 0})
    long_cache = create_app({"PGX_DATABASE_URL": url, "TESTING": True, "PGX_AUTH_CACHE_TTL_S": 3600})
    try:
        with app.app_context():
            info, key = create_client(app, _name(), "pharmacy")
        assert authenticate(no_cache, key) is not None
        assert authenticate(long_cache, key) is not None  # now cached there
        with app.app_context():
            revoke_client(app, info.name)
        assert authenticate(no_cache, key) is None
        assert authenticate(long_cache, key) is not None  # stale until its TTL: documented
        long_cache.extensions["pgx.auth.cache"].clear()
        assert authenticate(long_cache, key) is None
    finally:
        no_cache.extensions["pgx.db"].dispose()
        long_cache.extensions["pgx.db"].dispose()


def test_rotate_gives_a_new_key_and_revokes_the_old(app, client, auth):
    with app.app_context():
        info, old = create_client(app, _name(), "pharmacy")
    resp = client.post(f"/v1/clients/{info.name}/rotate", headers=auth("admin"))
    assert resp.status_code == 200
    body = resp.get_json()
    new = body["key"]
    assert new != old and body["role"] == "pharmacy" and body["name"] == info.name and body["active"]
    assert client.get("/v1/lookup?gene=CYP2C19&diplotype=*1/*1", headers=_bearer(old)).status_code == 401
    assert client.get("/v1/lookup?gene=CYP2C19&diplotype=*1/*1", headers=_bearer(new)).status_code == 200
    with app.app_context():
        rows = [c for c in list_clients(app, include_revoked=True) if c.name == info.name]
    assert len(rows) == 2 and sum(r.active for r in rows) == 1
    assert next(r for r in rows if r.active).rotated_from == info.id


def test_revoke_endpoint(app, client, auth):
    with app.app_context():
        info, key = create_client(app, _name(), "auditor")
    resp = client.post(f"/v1/clients/{info.name}/revoke", headers=auth("admin"))
    assert resp.status_code == 200 and resp.get_json()["active"] is False
    assert client.get("/v1/releases", headers=_bearer(key)).status_code == 401
    again = client.post(f"/v1/clients/{info.name}/revoke", headers=auth("admin"))
    assert again.status_code == 404 and again.mimetype == "application/problem+json"


def test_create_refuses_duplicates_bad_names_and_roles(app, client, auth):
    name = _name()
    assert client.post("/v1/clients", json={"name": name, "role": "admin"}, headers=auth("admin")).status_code == 201
    dup = client.post("/v1/clients", json={"name": name, "role": "admin"}, headers=auth("admin"))
    assert dup.status_code == 409 and dup.mimetype == "application/problem+json"
    for bad in ({"name": "has space", "role": "admin"}, {"name": _name(), "role": "root"}, {"name": ""}, {}):
        resp = client.post("/v1/clients", json=bad, headers=auth("admin"))
        assert resp.status_code == 422, bad
    with app.app_context(), pytest.raises(ClientExists):
        create_client(app, name, "pharmacy")
    with app.app_context(), pytest.raises(ClientError):
        create_client(app, _name(), "superuser")
    with app.app_context(), pytest.raises(ClientError):
        rotate_client(app, "no-such-client")


# -- the command line ----------------------------------------------------------------------------


@pytest.fixture
def cli_env(app, monkeypatch, tmp_path):
    from service.cli import main

    monkeypatch.setenv("DATABASE_URL", app.config["PGX_DATABASE_URL"])
    monkeypatch.setenv("PGX_INSTANCE_DIR", str(tmp_path))
    runner = CliRunner()
    return lambda *args: runner.invoke(main, ["clients", *args], catch_exceptions=False)


def test_cli_create_prints_the_key_once_as_the_last_line(app, client, cli_env):
    name = _name("cli")
    result = cli_env("create", name, "--role", "clinician")
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert KEY_RE.match(key)
    assert result.output.count(key) == 1
    assert client.get("/v1/lookup?gene=CYP2C19&diplotype=*1/*1", headers=_bearer(key)).status_code == 200
    listing = cli_env("list", "--all")
    assert name in listing.output and key not in listing.output and KEY_RE.match(key).group(2) not in listing.output


def test_cli_revoke_rotate_and_errors(app, client, cli_env):
    name = _name("cli")
    first = cli_env("create", name, "--role", "pharmacy").output.strip().splitlines()[-1]
    rotated = cli_env("rotate", name)
    assert rotated.exit_code == 0
    second = rotated.output.strip().splitlines()[-1]
    assert KEY_RE.match(second) and second != first
    assert client.get("/v1/releases", headers=_bearer(first)).status_code == 401
    assert cli_env("revoke", name).exit_code == 0
    assert client.get("/v1/releases", headers=_bearer(second)).status_code == 401
    missing = cli_env("revoke", name)
    assert missing.exit_code != 0 and "No active client" in missing.output
    bad = cli_env("create", _name("cli"), "--role", "root")
    assert bad.exit_code != 0


def test_cli_bootstrap_creates_the_first_admin_once(new_database_url, monkeypatch, tmp_path):
    from service.cli import main
    from service.cli.db import upgrade

    url = new_database_url("sqlite")
    upgrade(url)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PGX_INSTANCE_DIR", str(tmp_path))
    runner = CliRunner()
    first = runner.invoke(main, ["clients", "bootstrap"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    key_file = tmp_path / "admin.key"
    assert str(key_file) in first.output and "pgx clients create" in first.output
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    key = key_file.read_text().strip()
    assert KEY_RE.match(key) and key not in first.output
    second = runner.invoke(main, ["clients", "bootstrap"], catch_exceptions=False)
    assert second.exit_code == 0 and "exists" in second.output and "pgx clients create" in second.output
    assert key_file.read_text().strip() == key  # not overwritten

    from service import create_app

    app = create_app({"PGX_DATABASE_URL": url, "TESTING": True})
    try:
        info = authenticate(app, key)
        assert info is not None and info.role == "admin" and info.name == "local-admin"
    finally:
        app.extensions["pgx.db"].dispose()
