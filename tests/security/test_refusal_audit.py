"""Refusals on genotype endpoints leave audit records: 401, 403, 413, 422 and 429, each naming the
identity that was presented (client, or the public key id of an unknown key), never the key."""

from __future__ import annotations

import secrets
import uuid

import pytest
from sqlalchemy import text

LOOKUP = "/v1/lookup?gene=CYP2C19&diplotype=*1/*2"


def _records(app, request_id: str) -> list[dict]:
    with app.extensions["pgx.db"].read() as conn:
        rows = conn.execute(text("SELECT * FROM audit_event WHERE request_id = :r"), {"r": request_id}).mappings()
        return [dict(r) for r in rows]


def _assert_key_absent(records: list[dict], key: str) -> None:
    secret = key.split("_", 2)[2]  # the secret itself may contain "_"
    for rec in records:
        for column, value in rec.items():
            assert key not in str(value), column
            assert secret not in str(value), column


def _rid() -> str:
    return f"refusal-{uuid.uuid4().hex}"


def test_401_without_a_key_is_audited_as_anonymous(app, client):
    rid = _rid()
    resp = client.get(LOOKUP, headers={"X-Request-ID": rid})
    assert resp.status_code == 401
    (rec,) = _records(app, rid)
    assert rec["outcome"] == 401 and rec["actor"] == "anonymous"


def test_401_with_an_unknown_key_is_audited_with_its_public_id_only(app, client):
    key_id = secrets.token_hex(6)
    key = f"pgx_{key_id}_{secrets.token_urlsafe(32)}"
    rid = _rid()
    resp = client.get(LOOKUP, headers={"X-Request-ID": rid, "Authorization": f"Bearer {key}"})
    assert resp.status_code == 401
    records = _records(app, rid)
    assert [r["outcome"] for r in records] == [401]
    assert records[0]["actor"] == f"key:{key_id}"
    _assert_key_absent(records, key)


def test_401_with_a_revoked_key_is_audited(app, client):
    from service.auth.clients import create_client, revoke_client

    with app.app_context():
        info, key = create_client(app, f"rev-{uuid.uuid4().hex[:6]}", "clinician")
        revoke_client(app, info.name)
    rid = _rid()
    assert client.get(LOOKUP, headers={"X-Request-ID": rid, "Authorization": f"Bearer {key}"}).status_code == 401
    records = _records(app, rid)
    assert [r["outcome"] for r in records] == [401]
    assert records[0]["actor"] == f"key:{info.key_id}"
    _assert_key_absent(records, key)


def test_403_is_audited_with_the_client_and_role(app, client, api_key):
    key = api_key("auditor")
    rid = _rid()
    resp = client.get(LOOKUP, headers={"X-Request-ID": rid, "Authorization": f"Bearer {key}"})
    assert resp.status_code == 403
    records = _records(app, rid)
    assert [(r["outcome"], r["role"]) for r in records] == [(403, "auditor")]
    assert records[0]["actor"].startswith("test-auditor-")
    _assert_key_absent(records, key)


def test_413_is_audited(app, client, api_key):
    key = api_key("pharmacy")
    rid = _rid()
    resp = client.post(
        "/v1/interpretations",
        data=b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1),
        content_type="application/json",
        headers={"X-Request-ID": rid, "Authorization": f"Bearer {key}"},
    )
    assert resp.status_code == 413
    records = _records(app, rid)
    assert [(r["outcome"], r["role"]) for r in records] == [(413, "pharmacy")]
    _assert_key_absent(records, key)


def test_422_is_audited(app, client, api_key):
    key = api_key("pharmacy")
    rid = _rid()
    resp = client.post(
        "/v1/interpretations",
        json={"genotypes": "not-a-list"},
        headers={"X-Request-ID": rid, "Authorization": f"Bearer {key}"},
    )
    assert resp.status_code == 422
    records = _records(app, rid)
    assert [r["outcome"] for r in records] == [422]
    _assert_key_absent(records, key)


@pytest.fixture
def limited_app(backend, fresh_app):
    """A fresh app (own database, own in-memory counters) allowing 2 /v1 requests a minute per client."""
    return fresh_app(backend, PGX_RATELIMIT_DEFAULT="2/minute")


def test_429_is_audited(limited_app):
    from service.auth.clients import create_client

    with limited_app.app_context():
        _info, key = create_client(limited_app, "burst", "clinician")
    client = limited_app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    for _ in range(2):
        assert client.get(LOOKUP, headers=headers).status_code != 429
    rid = _rid()
    resp = client.get(LOOKUP, headers={**headers, "X-Request-ID": rid})
    assert resp.status_code == 429
    records = _records(limited_app, rid)
    assert [(r["outcome"], r["actor"]) for r in records] == [(429, "burst")]
    _assert_key_absent(records, key)
