"""GET /v1/lookup on SQLite and PostgreSQL: answers, refusals, and the audit record behind each."""

from __future__ import annotations

import pytest
from guidance_helpers import assert_matches_schema, assert_problem, audit_count, audit_row

from service.http.schemas import LookupResponseSchema


def test_done_when_cyp2d6_duplication_with_codeine(app, client, auth):
    resp = client.get("/v1/lookup?gene=CYP2D6&diplotype=*1/*1x2&drug=codeine", headers=auth("clinician"))
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["gene"] == "CYP2D6"
    assert body["diplotype"] == "*1/*1x2"
    assert body["phenotype"] == "Ultrarapid Metabolizer"
    assert body["category"] == "fast"
    assert body["activity_score"] == "3.0"
    assert body["status"] == "ok"
    [codeine] = body["drugs"]
    assert codeine["drug"] == "codeine"
    assert codeine["direction"] == "alternative"
    assert codeine["classification"] == "Strong"
    assert codeine["status"] == "ok"
    assert codeine["source"]["url"].startswith("https://cpicpgx.org/")
    assert body["release"].startswith("pgx-tables-")
    assert body["audit_id"]
    assert body["genes"][0]["phenotype"] == "Ultrarapid Metabolizer"
    assert_matches_schema(LookupResponseSchema, body)

    record = audit_row(app, body["audit_id"])
    assert record["seq"] == body["audit_seq"]
    assert record["entry_hash"] == body["audit_entry_hash"]
    assert record["action"] == "GET /v1/lookup"
    assert record["outcome"] == 200
    assert record["release"] == body["release"]
    assert record["role"] == "clinician"
    assert "|CYP2D6|" in record["genes"] and "|codeine|" in record["drugs"]
    assert record["result"]["genes"][0]["phenotype"] == "Ultrarapid Metabolizer"
    assert record["result"]["drugs"][0]["direction"] == "alternative"


def test_pharmacy_may_look_up_too_and_without_a_drug_gets_no_guidance(client, auth):
    resp = client.get("/v1/lookup?gene=CYP2C19&diplotype=*2/*2", headers=auth("pharmacy"))
    assert resp.status_code == 200
    body = resp.get_json()
    assert (body["phenotype"], body["category"], body["drugs"], body["drug"]) == (
        "Poor Metabolizer", "slow", [], None)


@pytest.mark.parametrize(
    "query, phenotype, category",
    [
        ("gene=CYP2D6&activity_score=0.0", "Poor Metabolizer", "slow"),
        ("gene=CYP2D6&activity_score=1.0", "Intermediate Metabolizer", "slow"),
        ("gene=CYP2C19&phenotype=Rapid%20Metabolizer", "Rapid Metabolizer", "fast"),
        ("gene=cyp2c19&diplotype=CYP2C19*1/*1", "Normal Metabolizer", "normal"),
    ],
)
def test_phenotype_and_activity_score_instead_of_a_diplotype(client, auth, query, phenotype, category):
    resp = client.get(f"/v1/lookup?{query}", headers=auth("clinician"))
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert (body["phenotype"], body["category"]) == (phenotype, category)


def test_a_lab_synonym_is_normalized_with_a_warning(client, auth):
    resp = client.get("/v1/lookup?gene=CYP2D6&phenotype=PM&drug=codeine", headers=auth("clinician"))
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["phenotype"] == "Poor Metabolizer"
    assert body["warnings"], "a synonym is normalized and said so"
    assert {d["direction"] for d in body["drugs"]} == {"alternative"}


@pytest.mark.parametrize(
    "query, field, named",
    [
        ("gene=CYP9Z9&diplotype=*1/*1", "gene", "CYP9Z9"),
        ("gene=CYP2D6&diplotype=*1/*999", "diplotype", "*999"),
        ("gene=CYP2D6&diplotype=*1//*2", "diplotype", ""),  # wording is the engine's
        ("gene=CYP2D6", "diplotype", "exactly one"),
        ("gene=CYP2D6&diplotype=*1/*1&phenotype=PM", "diplotype", "exactly one"),
        ("gene=CYP2D6&diplotype=*1/*1&drug=codiene", "drug", "codiene"),
    ],
)
def test_bad_input_is_422_naming_the_offending_part_and_audited(app, client, auth, query, field, named):
    resp = client.get(f"/v1/lookup?{query}", headers={**auth("clinician"), "X-Patient-Ref": "MRN-0042"})
    body = assert_problem(resp, 422)
    assert body["field"] == field
    assert body["detail"] and named in body["detail"]
    assert "phenotype" not in body and "drugs" not in body  # a refusal carries no clinical answer
    record = audit_row(app, body["audit_id"])
    assert (record["outcome"], record["action"]) == (422, "GET /v1/lookup")
    assert record["patient_ref"] and record["patient_ref"] != "MRN-0042"  # pseudonymized


def test_a_query_that_does_not_validate_is_422_and_audited(app, client, auth):
    before = audit_count(app)
    resp = client.get("/v1/lookup?diplotype=*1/*1", headers=auth("clinician"))
    body = assert_problem(resp, 422)
    assert "gene" in str(body["errors"])
    assert audit_count(app) == before + 1


def test_control_characters_are_refused(client, auth):
    resp = client.get("/v1/lookup", query_string={"gene": "CYP2D6", "diplotype": "*1\x00/*1"},
                      headers=auth("clinician"))
    assert "Control characters" in str(assert_problem(resp, 422)["errors"])


def test_no_key_is_401_and_a_role_that_may_not_is_403(client, auth):
    assert_problem(client.get("/v1/lookup?gene=CYP2D6&diplotype=*1/*1"), 401)
    assert_problem(client.get("/v1/lookup?gene=CYP2D6&diplotype=*1/*1", headers=auth("auditor")), 403)
    assert_problem(client.get("/v1/lookup?gene=CYP2D6&diplotype=*1/*1", headers=auth("admin")), 403)


def test_patient_ref_in_the_query_is_accepted_too(app, client, auth):
    resp = client.get("/v1/lookup?gene=CYP2D6&diplotype=*1/*1&patient_ref=MRN-77", headers=auth("clinician"))
    assert resp.status_code == 200
    record = audit_row(app, resp.get_json()["audit_id"])
    assert record["patient_ref"] and record["patient_ref"] != "MRN-77" and "MRN-77" not in record["canonical"]


def test_purpose_of_use_header_is_recorded(app, client, auth):
    resp = client.get("/v1/lookup?gene=TPMT&diplotype=*1/*3A",
                      headers={**auth("pharmacy"), "X-Purpose-Of-Use": "TREAT"})
    assert resp.status_code == 200
    assert audit_row(app, resp.get_json()["audit_id"])["purpose"] == "TREAT"


def test_when_the_audit_cannot_be_written_no_answer_leaves(app, client, auth, monkeypatch):
    from service.audit import get_committer

    def broken(conn, events, **_kw):
        raise RuntimeError("disk full")

    monkeypatch.setattr(get_committer(app), "append", broken)
    resp = client.get("/v1/lookup?gene=CYP2D6&diplotype=*1/*1x2&drug=codeine", headers=auth("clinician"))
    body = assert_problem(resp, 503)
    text = resp.get_data(as_text=True)
    assert "Ultrarapid" not in text and "codeine" not in text and "disk full" not in text
    assert "audit_id" not in body


def test_arbitrary_input_never_crashes_and_never_answers_without_saying_so(client, auth):
    """Any gene / diplotype text: a 200 gene result or a 422 problem, never a 5xx."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    headers = auth("clinician")
    genes = st.sampled_from(["CYP2D6", "CYP2C19", "HLA-B", "DPYD", "G6PD", "UGT1A1"]) | st.text(max_size=12)
    texts = st.text(alphabet=st.sampled_from(list("*/+x0123456789ACGTN:. ≥ab-")), max_size=20) | st.text(max_size=20)

    @settings(max_examples=60, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(gene=genes, diplotype=texts)
    def run(gene, diplotype):
        resp = client.get("/v1/lookup", query_string={"gene": gene, "diplotype": diplotype, "drug": "codeine"},
                          headers=headers)
        assert resp.status_code in (200, 422), (gene, diplotype, resp.status_code)
        body = resp.get_json()
        if resp.status_code == 200:
            assert body["status"] in ("ok", "indeterminate") and body["audit_id"]
        else:
            assert resp.mimetype == "application/problem+json" and body.get("detail")

    run()
