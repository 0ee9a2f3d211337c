"""Client administration is audited (issue 13, item 10): create, revoke and rotate, through the
API and the command line, each leave one record in the same chain as the lookups (actor, action,
target; never a key), written in the transaction that makes the change."""

from __future__ import annotations

import getpass
import json
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from service.cli import main


def _admin_records(app) -> list[dict]:
    with app.extensions["pgx.db"].read() as conn:
        rows = conn.execute(text("SELECT * FROM audit_event ORDER BY seq")).mappings().all()
    out = []
    for row in rows:
        rec = dict(row)
        for column in ("input", "result"):
            if isinstance(rec[column], str):
                rec[column] = json.loads(rec[column])
        if str(rec["input"].get("act", "")).startswith("client."):
            out.append(rec)
    return out


def _no_key_in(records: list[dict], *keys: str) -> None:
    for key in keys:
        secret = key.split("_", 2)[2]
        for rec in records:
            for column, value in rec.items():
                assert key not in str(value) and secret not in str(value), column


def _admin_key(app) -> tuple[str, str]:
    from service.auth.clients import create_client

    with app.app_context():
        info, key = create_client(app, f"admin-{uuid.uuid4().hex[:6]}", "admin")
    return info.name, key


def test_api_create_rotate_revoke_each_leave_one_record(audit_app):
    app = audit_app
    admin, admin_key = _admin_key(app)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {admin_key}"}
    name = f"pharmacy-{uuid.uuid4().hex[:6]}"

    created = client.post("/v1/clients", json={"name": name, "role": "pharmacy"}, headers=headers)
    assert created.status_code == 201
    rotated = client.post(f"/v1/clients/{name}/rotate", headers=headers)
    assert rotated.status_code == 200
    revoked = client.post(f"/v1/clients/{name}/revoke", headers=headers)
    assert revoked.status_code == 200

    records = _admin_records(app)
    assert [(r["actor"], r["role"], r["action"], r["outcome"]) for r in records] == [
        (admin, "admin", "POST /v1/clients", 201),
        (admin, "admin", "POST /v1/clients/<string:name>/rotate", 200),
        (admin, "admin", "POST /v1/clients/<string:name>/revoke", 200),
    ]
    assert [r["input"] for r in records] == [
        {"act": f"client.{act}", "target": name, "role": "pharmacy"} for act in ("create", "rotate", "revoke")
    ]
    first, second = created.get_json()["key_id"], rotated.get_json()["key_id"]
    assert records[0]["result"] == {"key_id": first, "active": True}
    assert records[1]["result"] == {"key_id": second, "active": True, "revoked_key_id": first}
    assert records[2]["result"] == {"key_id": second, "active": False}
    assert all(r["request_id"] for r in records)
    _no_key_in(records, admin_key, created.get_json()["key"], rotated.get_json()["key"])


def test_an_admin_act_whose_record_cannot_be_written_is_not_made(audit_app, monkeypatch):
    import service.audit.admin as admin_audit
    from service.auth.clients import list_clients
    from service.errors import ServiceUnavailable

    app = audit_app
    _admin, admin_key = _admin_key(app)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {admin_key}"}
    name = f"clin-{uuid.uuid4().hex[:6]}"

    def fail(*_args, **_kwargs):
        raise ServiceUnavailable()

    monkeypatch.setattr(admin_audit, "append_events", fail)
    resp = client.post("/v1/clients", json={"name": name, "role": "clinician"}, headers=headers)
    assert resp.status_code == 503
    with app.app_context():
        assert name not in {c.name for c in list_clients(app, include_revoked=True)}
    monkeypatch.undo()
    assert client.post("/v1/clients", json={"name": name, "role": "clinician"}, headers=headers).status_code == 201
    monkeypatch.setattr(admin_audit, "append_events", fail)
    assert client.post(f"/v1/clients/{name}/revoke", headers=headers).status_code == 503
    with app.app_context():
        assert name in {c.name for c in list_clients(app)}  # still active


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_cli_create_rotate_revoke_bootstrap_each_leave_one_record(backend, new_database_url, tmp_path, monkeypatch):
    from service import create_app
    from service.cli.db import upgrade

    url = new_database_url(backend)
    upgrade(url)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PGX_INSTANCE_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PGX_PATIENT_REF_KEY", "cli-key")
    runner = CliRunner()
    keys = []
    for args in (["clients", "create", "lab-east", "--role", "pharmacy"], ["clients", "rotate", "lab-east"],
                 ["clients", "revoke", "lab-east"], ["clients", "bootstrap"]):
        res = runner.invoke(main, args)
        assert res.exit_code == 0, res.output
        if args[1] in ("create", "rotate"):
            keys.append(res.output.strip().splitlines()[-1])
    keys.append((tmp_path / "var" / "admin.key").read_text().strip())

    app = create_app({"PGX_DATABASE_URL": url, "TESTING": True})
    try:
        records = _admin_records(app)
    finally:
        app.extensions["pgx.db"].dispose()
    actor = f"cli:{getpass.getuser()}"
    assert [(r["actor"], r["role"], r["action"], r["outcome"], r["input"]["target"]) for r in records] == [
        (actor, "admin", "pgx clients create", 201, "lab-east"),
        (actor, "admin", "pgx clients rotate", 200, "lab-east"),
        (actor, "admin", "pgx clients revoke", 200, "lab-east"),
        (actor, "admin", "pgx clients bootstrap", 201, "local-admin"),
    ]
    assert [r["seq"] for r in records] == [1, 2, 3, 4]  # one chain, gapless
    _no_key_in(records, *keys)


def test_refused_admin_acts_are_audited_too(audit_app):
    """A refused attempt at administration (no key, wrong role, no such client, a taken name, a
    bad body) leaves its record, naming who tried; never the key presented."""
    from service.auth.clients import create_client

    app = audit_app
    admin, admin_key = _admin_key(app)
    with app.app_context():
        _info, pharmacy_key = create_client(app, f"ph-{uuid.uuid4().hex[:6]}", "pharmacy")
    client = app.test_client()
    admin_h = {"Authorization": f"Bearer {admin_key}"}
    attempts = [
        (client.post("/v1/clients", json={"name": "x", "role": "admin"}), 401),
        (client.post("/v1/clients", json={"name": "x", "role": "admin"},
                     headers={"Authorization": f"Bearer {pharmacy_key}"}), 403),
        (client.post("/v1/clients/nobody-here/revoke", headers=admin_h), 404),
        (client.post("/v1/clients", json={"name": admin, "role": "admin"}, headers=admin_h), 409),
        (client.post("/v1/clients", json={"name": "ok-name", "role": "superuser"}, headers=admin_h), 422),
    ]
    assert [resp.status_code for resp, _ in attempts] == [status for _, status in attempts]
    with app.extensions["pgx.db"].read() as conn:
        rows = conn.execute(text("SELECT actor, role, action, outcome, input FROM audit_event "
                                 "WHERE outcome >= 400 ORDER BY seq")).mappings().all()
    got = [(r["actor"], r["action"], r["outcome"]) for r in rows]
    assert got == [
        ("anonymous", "POST /v1/clients", 401),
        (got[1][0], "POST /v1/clients", 403),
        (admin, "POST /v1/clients/<string:name>/revoke", 404),
        (admin, "POST /v1/clients", 409),
        (admin, "POST /v1/clients", 422),
    ]
    assert got[1][0].startswith("ph-")
    assert "nobody-here" in str(rows[2]["input"])  # the target, from the path
    _no_key_in([dict(r) for r in rows], admin_key, pharmacy_key)
