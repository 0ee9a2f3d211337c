"""POST /v1/interpretations on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from guidance_helpers import assert_matches_schema, assert_problem, audit_count, audit_row

from service.http.schemas import InterpretationSchema

URL = "/v1/interpretations"


def _by_drug(body: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for d in body["drugs"]:
        out.setdefault(d["drug"], []).append(d)
    return out


def test_interprets_genes_and_advises_on_every_affected_drug(app, client, auth):
    payload = {
        "patient_ref": "MRN-1001",
        "genotypes": [
            {"gene": "CYP2C19", "diplotype": "*2/*2"},
            {"gene": "CYP2D6", "diplotype": "*1/*1x2"},
        ],
    }
    resp = client.post(URL, json=payload, headers=auth("pharmacy"))
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert_matches_schema(InterpretationSchema, body)
    assert [g["gene"] for g in body["genes"]] == ["CYP2C19", "CYP2D6"]
    assert [g["phenotype"] for g in body["genes"]] == ["Poor Metabolizer", "Ultrarapid Metabolizer"]
    assert [g["category"] for g in body["genes"]] == ["slow", "fast"]
    drugs = _by_drug(body)
    assert {"clopidogrel", "codeine", "amitriptyline", "voriconazole"} <= set(drugs)
    assert {d["direction"] for d in drugs["codeine"]} == {"alternative"}
    # amitriptyline needs both genes: both were given, so it is answered in full
    assert {d["status"] for d in drugs["amitriptyline"]} == {"ok"}
    assert drugs["amitriptyline"][0]["genes"] == {"CYP2C19": "Poor Metabolizer", "CYP2D6": "3.0"}
    assert body["release"] and body["audit_id"]
    assert body["patient_ref"] == "MRN-1001"

    record = audit_row(app, body["audit_id"])
    assert (record["action"], record["outcome"], record["role"]) == ("POST /v1/interpretations", 200, "pharmacy")
    assert record["patient_ref"] and record["patient_ref"] != "MRN-1001"
    assert "MRN-1001" not in record["canonical"]
    assert "|CYP2C19|" in record["genes"] and "|clopidogrel|" in record["drugs"]
    assert record["input"]["genotypes"][0] == {"gene": "CYP2C19", "diplotype": "*2/*2"}


def test_frequency_is_its_own_field_and_documented(client, auth):
    """TPMT poor metabolizer + thioguanine: a tenth of the daily dose, 3 times a week (not a factor 0.1 alone)."""
    payload = {"genotypes": [{"gene": "TPMT", "phenotype": "Poor Metabolizer"},
                             {"gene": "NUDT15", "phenotype": "Normal Metabolizer"}],
               "drugs": ["thioguanine", "azathioprine"]}
    resp = client.post(URL, json=payload, headers=auth("pharmacy"))
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert_matches_schema(InterpretationSchema, body)
    for d in body["drugs"]:
        assert (d["dose_factor"], d["frequency"]) == ("0.1", "3 times a week"), d
    resp = client.post(URL, json={"genotypes": [{"gene": "CYP2C19", "diplotype": "*2/*2"}], "drugs": ["clopidogrel"]},
                       headers=auth("pharmacy"))
    assert {d["frequency"] for d in resp.get_json()["drugs"]} == {None}
    spec = client.get("/openapi.json").get_json()["components"]["schemas"]
    assert "per administration" in spec["DrugGuidance"]["properties"]["dose_factor"]["description"].replace(
        "at each administration", "per administration")
    assert "frequency" in spec["DrugGuidance"]["properties"]


def test_only_the_drugs_asked_for(client, auth):
    payload = {"genotypes": [{"gene": "CYP2C19", "diplotype": "*1/*17"}], "drugs": ["clopidogrel"]}
    resp = client.post(URL, json=payload, headers=auth("clinician"))
    assert resp.status_code == 200
    body = resp.get_json()
    assert set(_by_drug(body)) == {"clopidogrel"}
    assert body["genes"][0]["phenotype"] == "Rapid Metabolizer"


def test_a_drug_whose_genes_were_not_all_given_says_missing_genes(client, auth):
    payload = {"genotypes": [{"gene": "CYP2D6", "diplotype": "*4/*4"}], "drugs": ["amitriptyline", "codeine"]}
    resp = client.post(URL, json=payload, headers=auth("clinician"))
    assert resp.status_code == 200
    drugs = _by_drug(resp.get_json())
    assert {d["status"] for d in drugs["amitriptyline"]} == {"missing_genes"}
    assert all(d["missing_genes"] == ["CYP2C19"] for d in drugs["amitriptyline"])
    assert {d["status"] for d in drugs["codeine"]} == {"ok"}
    assert {d["direction"] for d in drugs["codeine"]} == {"alternative"}


@pytest.mark.parametrize(("score", "key"), [("3.25", "≥3.25"), ("4.5", "≥4.0"), ("6.0", "≥6.0"), ("7.0", "≥6.0")])
def test_a_lab_score_cpic_has_no_key_for_takes_cpics_bin(client, auth, score, key):
    payload = {"genotypes": [{"gene": "CYP2D6", "activity_score": score}], "drugs": ["codeine", "tramadol"]}
    resp = client.post(URL, json=payload, headers=auth("clinician"))
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["genes"][0]["phenotype"] == "Ultrarapid Metabolizer"
    for d in body["drugs"]:
        assert (d["status"], d["direction"], d["genes"]) == ("ok", "alternative", {"CYP2D6": key}), d
        assert f"CPIC's bin {key}" in d["message"]


def test_a_g6pd_lab_name_is_read_and_the_answer_says_as_what(client, auth):
    payload = {"genotypes": [{"gene": "G6PD", "diplotype": "A-/B"}], "drugs": ["rasburicase"]}
    resp = client.post(URL, json=payload, headers=auth("clinician"))
    assert resp.status_code == 200, resp.get_json()
    [g6pd] = resp.get_json()["genes"]
    assert (g6pd["status"], g6pd["diplotype"], g6pd["phenotype"]) == ("ok", "A-/B (reference)", "Variable")
    assert any(w.startswith("lab name 'A-' read as G6PD A-: any of A- 202A_376G") for w in g6pd["warnings"])
    [rasburicase] = resp.get_json()["drugs"]
    assert rasburicase["status"] == "ok" and rasburicase["genes"] == {"G6PD": "Variable"}


def test_a_drug_without_a_guideline_is_not_in_guideline(client, auth):
    payload = {"genotypes": [{"gene": "CYP2D6", "diplotype": "*1/*1"}], "drugs": ["aspirin"]}
    resp = client.post(URL, json=payload, headers=auth("clinician"))
    assert resp.status_code == 200
    [aspirin] = resp.get_json()["drugs"]
    assert (aspirin["status"], aspirin["direction"]) == ("not_in_guideline", "none")


def test_a_bad_gene_entry_is_answered_per_gene_and_does_not_spoil_the_others(app, client, auth):
    payload = {
        "genotypes": [
            {"gene": "CYP2C19", "diplotype": "*1/*1"},
            {"gene": "CYP2D6", "diplotype": "*1/*999"},
            {"gene": "NOTAGENE", "diplotype": "*1/*1"},
            {"gene": "TPMT", "diplotype": "*1/*1", "phenotype": "Normal Metabolizer"},
        ],
        "drugs": ["clopidogrel", "codeine"],
    }
    resp = client.post(URL, json=payload, headers=auth("pharmacy"))
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    genes = body["genes"]
    assert genes[0]["status"] == "ok" and genes[0]["phenotype"] == "Normal Metabolizer"
    assert genes[1]["status"] == "unknown_allele" and "*999" in genes[1]["message"]
    assert genes[2]["status"] == "invalid" and "NOTAGENE" in genes[2]["message"]
    assert genes[3]["status"] == "invalid" and "exactly one" in genes[3]["message"]
    drugs = _by_drug(body)
    assert {d["direction"] for d in drugs["clopidogrel"]} == {"standard"}
    # codeine depends on the bad CYP2D6 entry: treated as not tested, never guessed
    assert {d["status"] for d in drugs["codeine"]} == {"missing_genes"}
    assert audit_row(app, body["audit_id"])["outcome"] == 200


@pytest.mark.parametrize(
    "payload, where",
    [
        ({}, "genotypes"),
        ({"genotypes": []}, "genotypes"),
        ({"genotypes": "CYP2D6 *1/*1"}, "genotypes"),
        ({"genotypes": [{"diplotype": "*1/*1"}]}, "gene"),
        ({"genotypes": [{"gene": "CYP2D6", "diplotype": 12}]}, "diplotype"),
        ({"genotypes": [{"gene": "CYP2D6", "diplotype": "*1/*1"}], "drugs": "codeine"}, "drugs"),
        ({"genotypes": [{"gene": "CYP2D6", "diplotype": "*1/*1"}], "colour": "blue"}, "colour"),
        ({"genotypes": [{"gene": "CYP2D6", "diplotype": "*1/*1"}, {"gene": "cyp2d6", "diplotype": "*4/*4"}]},
         "more than once"),
    ],
)
def test_a_malformed_body_is_422_and_audited(app, client, auth, payload, where):
    before = audit_count(app)
    resp = client.post(URL, json=payload, headers=auth("pharmacy"))
    body = assert_problem(resp, 422)
    assert where in str(body["errors"])
    assert audit_count(app) == before + 1


def test_not_json_is_refused(client, auth):
    resp = client.post(URL, data="genotypes=CYP2D6", headers={**auth("pharmacy"), "Content-Type": "text/plain"})
    assert resp.status_code in (400, 415, 422)
    assert resp.mimetype == "application/problem+json"


def test_roles(client, auth):
    payload = {"genotypes": [{"gene": "CYP2D6", "diplotype": "*1/*1"}]}
    assert client.post(URL, json=payload, headers=auth("clinician")).status_code == 200
    assert_problem(client.post(URL, json=payload, headers=auth("auditor")), 403)
    assert_problem(client.post(URL, json=payload), 401)


def test_purpose_from_the_body(app, client, auth):
    payload = {"genotypes": [{"gene": "CYP2D6", "diplotype": "*1/*1"}], "purpose": "TREAT"}
    body = client.post(URL, json=payload, headers=auth("pharmacy")).get_json()
    assert audit_row(app, body["audit_id"])["purpose"] == "TREAT"


def test_when_the_audit_cannot_be_written_no_answer_leaves(app, client, auth, monkeypatch):
    from service.audit import get_committer

    def broken(conn, events, **_kw):
        raise RuntimeError("lock timeout")

    monkeypatch.setattr(get_committer(app), "append", broken)
    payload = {"genotypes": [{"gene": "CYP2D6", "diplotype": "*1/*1x2"}]}
    resp = client.post(URL, json=payload, headers=auth("pharmacy"))
    assert_problem(resp, 503)
    assert "Ultrarapid" not in resp.get_data(as_text=True)


def test_control_characters_are_refused(client, auth):
    payload = {"genotypes": [{"gene": "CYP2D6", "diplotype": "*1\x00/*1"}]}
    body = assert_problem(client.post(URL, json=payload, headers=auth("pharmacy")), 422)
    assert "Control characters" in str(body["errors"])


def test_a_drug_asked_twice_is_answered_once(client, auth):
    payload = {"genotypes": [{"gene": "CYP2D6", "diplotype": "*1/*1"}], "drugs": ["codeine", "tramadol", "Codeine"]}
    body = client.post(URL, json=payload, headers=auth("clinician")).get_json()
    assert [d["drug"] for d in body["drugs"]] == ["codeine", "tramadol"]
