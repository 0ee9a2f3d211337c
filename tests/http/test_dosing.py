"""POST /v1/dosing/warfarin, warfarin among the drugs, and medications (phenoconversion) in
POST /v1/interpretations and GET /v1/lookup: answered and refused, audited, on both databases."""

from __future__ import annotations

import pytest
from guidance_helpers import assert_matches_schema, assert_problem, audit_count, audit_row

from service.http.dosing import WarfarinResponseSchema
from service.http.schemas import InterpretationSchema

URL = "/v1/dosing/warfarin"
BASE = {"age_years": 65, "height_cm": 170, "weight_kg": 75, "race": "white",
        "genotypes": [{"gene": "CYP2C9", "diplotype": "*1/*3"}, {"gene": "VKORC1", "diplotype": "rs9923231 CT"}]}


def test_warfarin_dose_is_answered_and_audited(app, client, auth):
    resp = client.post(URL, json={**BASE, "patient_ref": "MRN-7"}, headers=auth("clinician"))
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert_matches_schema(WarfarinResponseSchema, body)
    # IWPC: (5.6044 - 0.2614*6 + 0.0087*170 + 0.0128*75 - 0.8677 - 0.9357)^2
    expected = (5.6044 - 0.2614 * 6 + 0.0087 * 170 + 0.0128 * 75 - 0.8677 - 0.9357) ** 2
    assert body["weekly_dose_mg"] == pytest.approx(expected, abs=0.06)
    assert body["dose_range_mg_per_week"] == [body["weekly_dose_mg"]] * 2
    assert body["status"] == "ok" and body["release"]
    row = audit_row(app, body["audit_id"])
    assert row["action"] == "POST /v1/dosing/warfarin" and row["outcome"] == 200
    assert float(row["input"]["clinical"]["weight_kg"]) == 75
    assert float(row["result"]["warfarin"]["weekly_dose_mg"]) == body["weekly_dose_mg"]
    assert row["patient_ref"] != "MRN-7"  # pseudonymized


def test_medications_give_amiodarone(client, auth):
    plain = client.post(URL, json=BASE, headers=auth("pharmacy")).get_json()
    with_med = client.post(URL, json={**BASE, "medications": ["Pacerone"]}, headers=auth("pharmacy")).get_json()
    assert with_med["weekly_dose_mg"] < plain["weekly_dose_mg"]
    assert any("amiodarone" in w for w in with_med["warnings"])


def test_missing_genotype_is_the_unknown_term_with_a_warning(client, auth):
    body = client.post(URL, json={**BASE, "genotypes": [{"gene": "CYP2C9", "diplotype": "*1/*1"}]},
                       headers=auth("pharmacy")).get_json()
    assert any("VKORC1" in w and "unknown" in w for w in body["warnings"])


@pytest.mark.parametrize("change,field", [
    ({"weight_kg": -70}, "weight_kg"),
    ({"age_years": 200}, "age_years"),
    ({"height_cm": 1.7}, "height_cm"),
    ({"genotypes": [{"gene": "CYP2C9", "diplotype": "*1/*99"}]}, "genotypes.CYP2C9"),
])
def test_bad_inputs_are_422_naming_the_field_and_audited(app, client, auth, change, field):
    before = audit_count(app)
    resp = client.post(URL, json={**BASE, **change}, headers=auth("clinician"))
    problem = assert_problem(resp, 422)
    assert field in str(problem)
    assert audit_count(app) == before + 1


def test_missing_field_and_roles(client, auth):
    body = {k: v for k, v in BASE.items() if k != "age_years"}
    assert "age_years" in str(assert_problem(client.post(URL, json=body, headers=auth("pharmacy")), 422))
    assert client.post(URL, json=BASE, headers=auth("auditor")).status_code == 403


def test_warfarin_in_interpretations_and_lookup_points_to_dosing(client, auth):
    resp = client.post("/v1/interpretations", json={"genotypes": BASE["genotypes"], "drugs": ["warfarin"]},
                       headers=auth("pharmacy"))
    body = resp.get_json()
    assert resp.status_code == 200, body
    assert_matches_schema(InterpretationSchema, body)
    (g,) = body["drugs"]
    assert g["status"] == "needs_clinical_inputs" and g["direction"] == "decrease"
    assert "/v1/dosing/warfarin" in g["recommendation"]
    look = client.get("/v1/lookup?gene=CYP2C9&diplotype=*1/*3&drug=warfarin", headers=auth("clinician"))
    assert look.status_code == 200, look.get_json()
    (g,) = look.get_json()["drugs"]
    assert g["status"] == "missing_genes" and g["missing_genes"] == ["VKORC1"]


def test_phenoconversion_in_interpretations(app, client, auth):
    payload = {"genotypes": [{"gene": "CYP2D6", "diplotype": "*1/*1"}], "drugs": ["codeine", "ondansetron"],
               "medications": ["paroxetine", "unknown-thing"]}
    resp = client.post("/v1/interpretations", json=payload, headers=auth("pharmacy"))
    body = resp.get_json()
    assert resp.status_code == 200, body
    assert_matches_schema(InterpretationSchema, body)
    (gene,) = body["genes"]
    assert (gene["phenotype"], gene["activity_score"], gene["category"]) == ("Poor Metabolizer", "0.0", "slow")
    assert (gene["genotype_phenotype"], gene["genotype_activity_score"]) == ("Normal Metabolizer", "2.0")
    assert any("paroxetine" in w for w in gene["warnings"])
    drugs = {d["drug"]: d for d in body["drugs"]}
    assert drugs["codeine"]["direction"] == "alternative" and "paroxetine" in drugs["codeine"]["phenoconversion"]
    assert drugs["ondansetron"]["direction"] == "standard" and "no rule" in drugs["ondansetron"]["phenoconversion"]
    assert any("unknown-thing" in w for w in body["warnings"])
    row = audit_row(app, body["audit_id"])
    assert row["input"]["medications"] == ["paroxetine", "unknown-thing"]
    assert row["result"]["genes"][0]["phenotype"] == "Poor Metabolizer"


def test_phenoconversion_in_the_lookup(app, client, auth):
    resp = client.get("/v1/lookup?gene=CYP2D6&diplotype=*1/*1&drug=codeine&medications=duloxetine",
                      headers=auth("clinician"))
    body = resp.get_json()
    assert resp.status_code == 200, body
    assert (body["phenotype"], body["activity_score"], body["genotype_phenotype"]) == (
        "Intermediate Metabolizer", "1.0", "Normal Metabolizer")
    assert body["drugs"][0]["phenoconversion"] and body["drug"] == "codeine"
    assert audit_row(app, body["audit_id"])["input"]["medications"] == ["duloxetine"]
    plain = client.get("/v1/lookup?gene=CYP2D6&diplotype=*1/*1&drug=codeine", headers=auth("clinician")).get_json()
    assert plain["phenotype"] == "Normal Metabolizer" and "genotype_phenotype" not in plain
    bad = client.get("/v1/lookup?gene=CYP2D6&diplotype=*1/*999&medications=duloxetine", headers=auth("clinician"))
    assert assert_problem(bad, 422)
