"""POST /v1/fhir/interpretations against the real app (SQLite, and PostgreSQL where reachable):
answers, refusals (each an audited OperationOutcome naming resource and element, never a 500),
roles, and round trips against POST /v1/interpretations on the same input."""

from __future__ import annotations

import json

import fhir_shapes as s
import pytest
from fhir_validation import assert_valid_report, fp, read_back, read_back_json
from sqlalchemy import select

from service.app import get_db
from service.audit.models import audit_event
from service.fhir import genotypes as g

FHIR = "application/fhir+json"
PATH = "/v1/fhir/interpretations"


def audit_row(app, audit_id: str) -> dict:
    with app.app_context(), get_db(app).read() as conn:
        row = conn.execute(select(audit_event).where(audit_event.c.audit_id == audit_id)).mappings().one()
    return dict(row)


def last_audit_row(app) -> dict:
    with app.app_context(), get_db(app).read() as conn:
        row = conn.execute(select(audit_event).order_by(audit_event.c.seq.desc()).limit(1)).mappings().one()
    return dict(row)


def post_fhir(client, auth, body, role="pharmacy", content_type=FHIR):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(PATH, data=data, headers={**auth(role), "Content-Type": content_type, "Accept": FHIR})


def report_ids(bundle):
    report = fp(bundle, "Bundle.entry.resource.where(resourceType = 'DiagnosticReport')")[0]
    ext = {e["url"].rsplit("/", 1)[-1]: next(v for k, v in e.items() if k.startswith("value")) for e in report["extension"]}
    return ext


def test_emerge_bundle_answers_a_genomic_report_audited(app, client, auth):
    resp = post_fhir(client, auth, s.emerge_bundle())
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == FHIR
    bundle = resp.get_json()
    assert_valid_report(bundle)
    ext = report_ids(bundle)
    assert ext["knowledge-release"].startswith("pgx-tables-")
    assert bundle["identifier"]["value"] == ext["audit-id"]
    row = audit_row(app, ext["audit-id"])
    assert (row["action"], row["outcome"], row["role"]) == (f"POST {PATH}", 200, "pharmacy")
    assert row["input"]["genotypes"] == [{"gene": "CYP2C19", "diplotype": "*2/*2"},
                                         {"gene": "CYP2C9", "diplotype": "*1/*1"},
                                         {"gene": "VKORC1", "diplotype": "rs9923231 C/T"}]
    assert row["release"] == ext["knowledge-release"]
    assert row["patient_ref"] and row["patient_ref"] != "Patient/CGPatientExample01"  # pseudonymized
    genotype_texts = fp(bundle, "Bundle.entry.resource.where(meta.profile.endsWith('genotype')).value.text")
    assert "CYP2C19 *2/*2" in genotype_texts


ROUND_TRIPS = {
    "emerge": s.emerge_bundle,
    "hla-b carbamazepine statement": s.hla_b_example,
    "hla-a gl string": s.hla_a_glstring,
    "genomics operations searchset": s.genomics_operations_searchset,
    "orders by clinical-drug codes": lambda: s.bundle(
        s.text_genotype("CYP2C19 *2/*2", rid="a"),
        s.text_genotype("CYP2D6 *1/*1x2", "HGNC:2625", "CYP2D6", rid="b"),
        s.medication(code="309362", display="clopidogrel 75 MG Oral Tablet", rid="m1"),
        s.medication(code="993781", display="acetaminophen 300 MG / codeine phosphate 30 MG Oral Tablet", rid="m2"),
        type_="transaction"),
    "a drug without guideline": lambda: s.bundle(s.text_genotype("CYP2C19 *1/*1"),
                                                 s.medication(code=None, display=None, text="Lisinopril 10 MG Oral Tablet")),
}


@pytest.mark.parametrize("name", list(ROUND_TRIPS))
def test_round_trip_fhir_and_json_agree(client, auth, name):
    source = ROUND_TRIPS[name]()
    resp = post_fhir(client, auth, source)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    bundle = resp.get_json()
    assert_valid_report(bundle)
    body = g.read_bundle(source).body()
    js = client.post("/v1/interpretations", json=body, headers=auth("pharmacy"))
    assert js.status_code == 200, js.get_data(as_text=True)
    answer = js.get_json()
    assert read_back(bundle) == read_back_json(answer)
    assert report_ids(bundle)["knowledge-release"] == answer["release"]
    assert answer["drugs"], "every round trip has guidance to compare"


def refused(app, resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == FHIR
    outcome = resp.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    row = audit_row(app, outcome["id"])
    assert (row["action"], row["outcome"]) == (f"POST {PATH}", status)
    return outcome, row


def test_unknown_allele_is_422_naming_the_element_and_audited_with_the_input(app, client, auth):
    outcome, row = refused(app, post_fhir(client, auth, s.pgx_transaction("CYP2C9 *4/*35B")), 422)
    (issue,) = outcome["issue"]
    assert issue["expression"] == ["Bundle.entry[1].resource.valueCodeableConcept.coding[0].display"]
    assert "Observation/genotype-pgx-example" in issue["diagnostics"] and "*35B" in issue["diagnostics"]
    assert row["input"]["genotypes"] == [{"gene": "CYP2C9", "diplotype": "*4/*35B"}]


@pytest.mark.parametrize("body, expression", [
    (s.text_genotype("CYP2C19 *1/*1"), "resourceType"),  # not a Bundle
    (s.bundle(s.genotype({"text": "*2/*2"}, components=[])), "Bundle.entry[0].resource.valueCodeableConcept.text"),
    ({"resourceType": "Bundle", "type": "collection", "entry": {"x": 1}}, "Bundle.entry"),
    ({"resourceType": "Bundle", "type": "message"}, "Bundle.type"),
    (s.bundle({"resourceType": "Patient", "id": "p"}), "Bundle.entry"),
    (s.bundle(s.genotype({"text": "*1/*1"}, components=[s.gene_component(None, None, text="FOO1")])),
     "Bundle.entry[0].resource.valueCodeableConcept.text"),  # an unknown gene: the core refuses it
    ([1, 2, 3], "Bundle"),
])
def test_bad_bundles_are_422(app, client, auth, body, expression):
    outcome, _row = refused(app, post_fhir(client, auth, body), 422)
    assert expression in [e for i in outcome["issue"] for e in i["expression"]]


def test_unreadable_json_is_400_and_wrong_media_type_415(app, client, auth):
    refused(app, post_fhir(client, auth, b'{"resourceType": "Bundle",'), 400)
    refused(app, post_fhir(client, auth, b""), 400)
    refused(app, post_fhir(client, auth, b'{"a": 1, "a": 2}'), 422)
    refused(app, post_fhir(client, auth, "x", content_type="text/plain"), 415)


def test_plain_json_content_type_is_read_too(client, auth):
    assert post_fhir(client, auth, s.emerge_bundle(), content_type="application/json").status_code == 200


def test_roles(app, client, auth):
    assert post_fhir(client, auth, s.emerge_bundle(), role="clinician").status_code == 200
    resp = post_fhir(client, auth, s.emerge_bundle(), role="auditor")
    assert resp.status_code == 403
    assert last_audit_row(app)["outcome"] == 403
    resp = client.post(PATH, data=json.dumps(s.emerge_bundle()), headers={"Content-Type": FHIR})
    assert resp.status_code == 401
    assert last_audit_row(app)["outcome"] == 401


def test_accept_fhir_on_the_json_endpoint_answers_the_report(app, client, auth):
    body = {"patient_ref": "acc-1", "genotypes": [{"gene": "CYP2C19", "diplotype": "*2/*2"},
                                                  {"gene": "CYP2D6", "activity_score": "0.0"}],
            "drugs": ["clopidogrel", "codeine"]}
    resp = client.post("/v1/interpretations", json=body, headers={**auth("clinician"), "Accept": FHIR})
    assert resp.status_code == 200 and resp.mimetype == FHIR
    bundle = resp.get_json()
    assert_valid_report(bundle)
    assert audit_row(app, bundle["identifier"]["value"])["action"] == "POST /v1/interpretations"
    plain = client.post("/v1/interpretations", json=body, headers=auth("clinician"))
    assert plain.mimetype == "application/json"
    assert read_back(bundle) == read_back_json(plain.get_json())
