"""GET /v1/audit/events and the audit records of answered and refused genotype requests."""

from __future__ import annotations

import csv
import io
import json

from service.audit import get_state
from service.audit.verify import verify_export


def _export(client, auth, **params):
    resp = client.get("/v1/audit/events", query_string=params, headers=auth("auditor"))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp


def _records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if '"seq"' in line]


def _pubkey(app):
    with app.app_context():
        return get_state().signer.public_key


def test_lookup_receipt_is_in_the_exported_verified_log(app, client, auth, api_key):
    resp = client.get(
        "/v1/lookup",
        query_string={"gene": "CYP2C19", "diplotype": "*1/*2", "drug": "clopidogrel"},
        headers={**auth("clinician"), "X-Patient-Ref": "MRN-http-1", "X-Purpose-Of-Use": "TREAT"},
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    audit_id = resp.get_json()["audit_id"]
    export = _export(client, auth)
    assert export.mimetype == "application/x-ndjson"
    text = export.get_data(as_text=True)
    report = verify_export(text.encode(), public_key=_pubkey(app))
    assert report.ok, report.errors
    (mine,) = [r for r in _records(text) if r["audit_id"] == audit_id]
    assert mine["outcome"] == 200 and mine["action"].endswith("/v1/lookup")
    assert mine["role"] == "clinician" and mine["purpose"] == "TREAT"
    assert "MRN-http-1" not in text and mine["patient_ref"] and len(mine["patient_ref"]) == 64
    assert "CYP2C19" in mine["genes"] and "clopidogrel" in mine["drugs"]
    # Never an API key or its secret (refusal details may mention the word "Bearer": that is no key).
    for role in ("clinician", "auditor"):
        key = api_key(role)
        assert key not in text and key.split("_", 2)[2] not in text
    assert "pgx_" not in text
    # the auditor finds the lookup by the real patient reference
    found = _records(_export(client, auth, patient_ref="MRN-http-1").get_data(as_text=True))
    assert audit_id in {r["audit_id"] for r in found}
    # and the export itself was audited, with its receipt in the headers
    seq = int(export.headers["X-Audit-Seq"])
    later = _records(_export(client, auth).get_data(as_text=True))
    (exp,) = [r for r in later if r["seq"] == seq]
    assert exp["action"] == "GET /v1/audit/events" and exp["role"] == "auditor"
    assert exp["entry_hash"] == export.headers["X-Audit-Entry-Hash"]


def test_refusals_are_audited_without_the_key(app, client, auth):
    earlier = _records(_export(client, auth).get_data(as_text=True))
    before = earlier[-1]["seq"] if earlier else 0  # a fresh database exports nothing yet
    assert client.get("/v1/lookup", query_string={"gene": "CYP2D6", "diplotype": "*1/*1"}).status_code == 401
    q401 = client.get("/v1/lookup", query_string={"gene": "CYP2D6", "diplotype": "*1/*1", "patient_ref": "MRN-q401"})
    assert q401.status_code == 401
    bad_key = "pgx_0123456789ab_" + "x" * 43
    r401 = client.get("/v1/audit/events", headers={"Authorization": f"Bearer {bad_key}"})
    assert r401.status_code == 401
    r403 = client.get("/v1/audit/events", headers=auth("pharmacy"))
    assert r403.status_code == 403
    r422 = client.post("/v1/interpretations", json={"genotypes": "nope", "patient_ref": "MRN-422"}, headers=auth("pharmacy"))
    assert r422.status_code == 422
    text = _export(client, auth).get_data(as_text=True)
    new = [r for r in _records(text) if r["seq"] > before]
    outcomes = [(r["action"], r["outcome"], r["actor"]) for r in new]
    assert ("GET /v1/lookup", 401, "anonymous") in outcomes
    assert ("GET /v1/audit/events", 401, "key:0123456789ab") in outcomes
    assert any(a == "GET /v1/audit/events" and o == 403 for a, o, _ in outcomes)
    assert get_state(app).pseudonymize("MRN-q401") in {r["patient_ref"] for r in new if r["outcome"] == 401}
    new_text = json.dumps(new)  # other tests' answered lookups may well hold "*1/*1"
    assert "MRN-q401" not in new_text and "*1/*1" not in new_text  # a refused caller's genotype is not kept
    (ref,) = [r for r in new if r["outcome"] == 422]
    assert ref["patient_ref"] == get_state(app).pseudonymize("MRN-422")
    assert bad_key[17:] not in text and "x" * 43 not in text
    assert verify_export(text.encode(), public_key=_pubkey(app)).ok


def test_csv_fhir_and_bad_filters(app, client, auth):
    resp = _export(client, auth, format="csv")
    assert resp.mimetype == "text/csv"
    # The charset named once (issue 13, item 14: it was "text/csv; charset=utf-8; charset=utf-8").
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert rows and all(len(r["entry_hash"]) == 64 for r in rows)
    bundle = json.loads(_export(client, auth, format="fhir").get_data(as_text=True))
    assert bundle["resourceType"] == "Bundle" and bundle["entry"][0]["resource"]["resourceType"] == "AuditEvent"
    for params in ({"since": "yesterday"}, {"format": "xml"}):
        bad = client.get("/v1/audit/events", query_string=params, headers=auth("auditor"))
        assert bad.status_code == 422 and bad.mimetype == "application/problem+json"


def test_openapi_documents_the_export(client):
    spec = client.get("/openapi.json").get_json()
    op = spec["paths"]["/v1/audit/events"]["get"]
    names = {p["name"] for p in op["parameters"]}
    assert {"since", "until", "actor", "patient_ref", "gene", "drug", "format"} <= names
    assert "application/x-ndjson" in op["responses"]["200"]["content"]
