"""CDS Hooks calls as an EHR makes them (the spec's order-select / order-sign examples with a
PGx prefetch), on SQLite and PostgreSQL: discovery, cards and their rules, 412, order-select /
order-sign coordination, feedback, and the audit record of each call."""

from __future__ import annotations

import json
import uuid

import jsonschema
import pytest
from sqlalchemy import select

from service.audit.models import audit_event
from service.auth.cds_models import cds_feedback
from tests.cds.helpers import (
    ISSUER,
    bearer,
    claims,
    genotype_observation,
    hook_request,
    medication_request,
    searchset,
)
from tests.cds.schemas import CARDS_RESPONSE, DISCOVERY, no_null_or_empty

SIGN = "/cds-services/pgx-order-sign"
SELECT = "/cds-services/pgx-order-select"
CLOPIDOGREL_SCD = "309362"  # clopidogrel 75 MG Oral Tablet
CYP2C19_PM = genotype_observation("gt-2c19", "CYP2C19", "HGNC:2621", "*2/*2")
CYP2C19_NM = genotype_observation("gt-2c19", "CYP2C19", "HGNC:2621", "*1/*1")
HLA_B5701 = genotype_observation("gt-hlab", "HLA-B", "HGNC:4932", "*57:01/*44:02")
CYP2D6_PM = genotype_observation("gt-2d6", "CYP2D6", "HGNC:2625", "*4/*4")


def post(cds, key, path, body):
    return cds.post(path, json=body, headers=bearer(key.sign(claims(path))))


def answered(resp):
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    jsonschema.validate(body, CARDS_RESPONSE)
    assert [p for p in no_null_or_empty(body) if p != "$.cards"] == []
    return body["cards"]


def last_record(app):
    with app.extensions["pgx.db"].read() as conn:
        row = conn.execute(select(audit_event).order_by(audit_event.c.seq.desc()).limit(1)).mappings().first()
    return dict(row)


def clopidogrel(mid="mr-clop"):
    return medication_request(mid, CLOPIDOGREL_SCD, "clopidogrel 75 MG Oral Tablet", dose_mg=75)


def test_discovery_document(cds, ehr_keys):
    resp = cds.get("/cds-services", headers=bearer(ehr_keys["ec"].sign(claims("/cds-services"))))
    doc = resp.get_json()
    jsonschema.validate(doc, DISCOVERY)
    assert no_null_or_empty(doc) == []
    hooks = {s["id"]: s for s in doc["services"]}
    assert hooks["pgx-order-select"]["hook"] == "order-select"
    assert hooks["pgx-order-sign"]["hook"] == "order-sign"
    for s in doc["services"]:
        assert "Observation?patient={{context.patientId}}&code=http://loinc.org|84413-4" in s["prefetch"].values()


def test_poor_metabolizer_clopidogrel_at_order_sign(cds, cds_app, ehr_keys):
    body = hook_request("order-sign", [clopidogrel()], prefetch={"genotypes": searchset(CYP2C19_PM)})
    cards = answered(post(cds, ehr_keys["ec"], SIGN, body))
    assert len(cards) == 1
    card = cards[0]
    assert card["indicator"] == "warning"
    assert "Clopidogrel" in card["summary"] and "Poor Metabolizer" in card["summary"]
    assert len(card["summary"]) < 140
    uuid.UUID(card["uuid"])
    assert card["source"]["url"].startswith("https://cpicpgx.org/guidelines/")
    assert card["source"]["label"] and card["source"]["topic"]["code"] == "LA26421-0"
    for part in ("CYP2C19", r"\*2/\*2", "Poor Metabolizer", "Strong"):
        assert part in card["detail"]
    assert card["selectionBehavior"] == "at-most-one"
    actions = [a for s in card["suggestions"] for a in s["actions"]]
    assert {"type": "delete", "description": "Remove the draft clopidogrel order",
            "resourceId": "MedicationRequest/mr-clop"} in actions
    creates = [a["resource"] for a in actions if a["type"] == "create"]
    assert {r["medicationCodeableConcept"]["text"] for r in creates} >= {"prasugrel", "ticagrelor"}
    assert all(r["subject"] == {"reference": "Patient/1288992"} for r in creates)
    assert all(r.get("display") for r in card["overrideReasons"])

    record = last_record(cds_app)
    assert record["action"] == SIGN.replace("/cds", "POST /cds", 1)
    assert ISSUER in record["actor"] and "PractitionerRole/123" in record["actor"]
    assert record["outcome"] == 200
    assert record["patient_ref"] and "1288992" not in record["patient_ref"]
    result = json.loads(record["result"]) if isinstance(record["result"], str) else record["result"]
    assert result["cards"] == [{"uuid": card["uuid"], "order": "MedicationRequest/mr-clop", "drug": "clopidogrel",
                                "indicator": "warning", "direction": "alternative"}]
    given = json.loads(record["input"]) if isinstance(record["input"], str) else record["input"]
    assert given["genotypes"] == [{"gene": "CYP2C19", "diplotype": "*2/*2"}]
    assert record["release"]


def test_hla_b_5701_abacavir_is_critical(cds, ehr_keys):
    med = medication_request("mr-aba", "190521", "abacavir")
    cards = answered(post(cds, ehr_keys["rsa"], SIGN,
                          hook_request("order-sign", [med], prefetch={"genotypes": searchset(HLA_B5701)})))
    assert [c["indicator"] for c in cards] == ["critical"]
    assert "Abacavir" in cards[0]["summary"] and "57:01 positive" in cards[0]["summary"]
    assert cards[0]["suggestions"][0]["isRecommended"] is True


def test_standard_result_and_no_genotype_give_no_warning(cds, ehr_keys):
    for prefetch in ({"genotypes": searchset(CYP2C19_NM)}, {"genotypes": searchset()}, {"genotypes": None}):
        cards = answered(post(cds, ehr_keys["ec"], SIGN, hook_request("order-sign", [clopidogrel()],
                                                                       prefetch=prefetch)))
        assert [c for c in cards if c["indicator"] in ("warning", "critical")] == []


def _for_patient(body, patient):
    body["context"]["patientId"] = patient
    return body


def test_no_genotype_on_file_offers_a_test_for_a_level_a_pair(cds, ehr_keys):
    patient = f"p-{uuid.uuid4().hex[:8]}"
    cards = answered(post(cds, ehr_keys["ec"], SIGN, _for_patient(hook_request(
        "order-sign", [clopidogrel()], prefetch={"genotypes": searchset()}), patient)))
    assert [c["indicator"] for c in cards] == ["info"]
    assert "No CYP2C19 result on file" in cards[0]["summary"] and "clopidogrel" in cards[0]["summary"]
    assert "suggestions" not in cards[0]
    again = answered(post(cds, ehr_keys["ec"], SIGN, _for_patient(hook_request(
        "order-sign", [clopidogrel("mr-2nd")], prefetch={"genotypes": searchset()}), patient)))
    assert again == []  # offered once a day for that drug and patient


def test_order_select_judges_only_the_selections(cds, ehr_keys):
    codeine = medication_request("mr-cod", "993781", "acetaminophen 300 MG / codeine phosphate 30 MG Oral Tablet")
    body = hook_request("order-select", [clopidogrel("mr-c2"), codeine], selections=["MedicationRequest/mr-cod"],
                        prefetch={"genotypes": searchset(CYP2C19_PM, CYP2D6_PM)})
    cards = answered(post(cds, ehr_keys["ec"], SELECT, body))
    assert len(cards) == 1 and "Codeine" in cards[0]["summary"]
    assert cards[0]["extension"]["org.pgx-service.order"] == "MedicationRequest/mr-cod"


def test_order_sign_does_not_repeat_what_order_select_showed(cds, cds_app, ehr_keys):
    order = clopidogrel(f"mr-{uuid.uuid4().hex[:8]}")
    prefetch = {"genotypes": searchset(CYP2C19_PM)}
    shown = answered(post(cds, ehr_keys["ec"], SELECT, hook_request("order-select", [order], prefetch=prefetch)))
    assert len(shown) == 1
    again = answered(post(cds, ehr_keys["ec"], SIGN, hook_request("order-sign", [order], prefetch=prefetch)))
    assert again == []
    result = last_record(cds_app)["result"]
    result = json.loads(result) if isinstance(result, str) else result
    assert [s["uuid"] for s in result["suppressed"]] == [shown[0]["uuid"]]
    # the client may ask for every card again (PDDI-CDS configuration item)
    body = hook_request("order-sign", [order], prefetch=prefetch,
                        extension={"pddi-configuration-items": {"filter-out-repeated-alerts": False}})
    assert len(answered(post(cds, ehr_keys["ec"], SIGN, body))) == 1
    # another order of the same drug is advised on
    other = answered(post(cds, ehr_keys["ec"], SIGN, hook_request("order-sign", [clopidogrel("mr-other-x")],
                                                                   prefetch=prefetch)))
    assert len(other) == 1


def test_prefetch_with_an_error_operation_outcome(cds, ehr_keys):
    outcome = {"resourceType": "OperationOutcome", "id": "oo1",
               "issue": [{"severity": "error", "code": "exception", "diagnostics": "genomics archive down"}]}
    cards = answered(post(cds, ehr_keys["ec"], SIGN,
                          hook_request("order-sign", [clopidogrel()], prefetch={"genotypes": searchset(CYP2C19_PM, outcome)})))
    assert [c["indicator"] for c in cards] == ["info"]
    assert "not done" in cards[0]["summary"] and "genomics archive down" in cards[0]["detail"]


def test_412_without_prefetch_or_fhir_server(cds, cds_app, ehr_keys):
    resp = post(cds, ehr_keys["ec"], SIGN, hook_request("order-sign", [clopidogrel()]))
    assert resp.status_code == 412
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    assert "cards" not in resp.get_json()
    assert last_record(cds_app)["outcome"] == 412


def test_unauthenticated_hook_call_is_401_and_audited(cds, cds_app):
    body = hook_request("order-sign", [clopidogrel()], prefetch={"genotypes": searchset(CYP2C19_PM)})
    resp = cds.post(SIGN, json=body)
    assert resp.status_code == 401 and "cards" not in resp.get_json()
    record = last_record(cds_app)
    assert record["outcome"] == 401 and record["actor"] == "anonymous"


@pytest.mark.parametrize("mutate, fragment", [
    (lambda b: b.update(hook="patient-view"), "hook"),
    (lambda b: b["context"].pop("patientId"), "patientId"),
    (lambda b: b["context"].pop("draftOrders"), "draftOrders"),
    (lambda b: b.update(fhirAuthorization={"access_token": "x", "token_type": "Bearer"}), "fhirServer"),
])
def test_malformed_requests_are_400(cds, ehr_keys, mutate, fragment):
    body = hook_request("order-sign", [clopidogrel()], prefetch={"genotypes": searchset()})
    mutate(body)
    resp = post(cds, ehr_keys["ec"], SIGN, body)
    assert resp.status_code == 400 and fragment in resp.get_json()["issue"][0]["diagnostics"]


def test_unknown_service_and_bad_json(cds, ehr_keys):
    assert post(cds, ehr_keys["ec"], "/cds-services/nope", {}).status_code == 404
    path = SIGN
    resp = cds.post(path, data=b'{"hook": "order-sign", "hook": "x"}', content_type="application/json",
                    headers=bearer(ehr_keys["ec"].sign(claims(path))))
    assert resp.status_code == 400
    resp = cds.post(path, data=b"[" * 100000, content_type="application/json",
                    headers=bearer(ehr_keys["ec"].sign(claims(path))))
    assert resp.status_code == 400


def test_feedback_is_stored_and_audited(cds, cds_app, ehr_keys):
    cards = answered(post(cds, ehr_keys["ec"], SIGN, hook_request(
        "order-sign", [clopidogrel(f"mr-{uuid.uuid4().hex[:8]}")], prefetch={"genotypes": searchset(CYP2C19_PM)})))
    card = cards[0]
    path = SIGN + "/feedback"
    feedback = {"feedback": [
        {"card": card["uuid"], "outcome": "accepted",
         "acceptedSuggestions": [{"id": card["suggestions"][1]["uuid"]}], "outcomeTimestamp": "2026-12-04T10:05:31Z"},
        {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-12-04T10:06:00Z",
         "overrideReason": {"reason": card["overrideReasons"][0], "userComment": "discussed with cardiology"}},
    ]}
    resp = cds.post(path, json=feedback, headers=bearer(ehr_keys["ec"].sign(claims(path))))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    record = last_record(cds_app)
    assert record["action"] == f"POST {path}" and ISSUER in record["actor"]
    assert str(record["audit_id"]) == resp.get_json()["audit_id"]
    with cds_app.extensions["pgx.db"].read() as conn:
        rows = conn.execute(select(cds_feedback).where(cds_feedback.c.card_uuid == card["uuid"])
                            .order_by(cds_feedback.c.id)).mappings().all()
    assert [r["outcome"] for r in rows] == ["accepted", "overridden"]
    assert rows[1]["override_reason"]["reason"]["code"] == "benefit-outweighs-risk"
    assert "discussed" not in json.dumps(record["input"])  # free text stays out of the audit trail

    bad = {"feedback": [{"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-12-04T10:05:31Z"}]}
    resp = cds.post(path, json=bad, headers=bearer(ehr_keys["ec"].sign(claims(path))))
    assert resp.status_code == 400 and "acceptedSuggestions" in resp.get_json()["issue"][0]["diagnostics"]
