"""/v1/genes, /v1/drugs, /v1/releases on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from guidance_helpers import assert_matches_schema, assert_problem

from service.http.knowledge import DrugListSchema, DrugSchema, GeneListSchema, GeneSchema, ReleaseListSchema

ROLES = ("pharmacy", "clinician", "auditor", "admin")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", ["/v1/genes", "/v1/genes/CYP2D6", "/v1/drugs", "/v1/drugs/codeine", "/v1/releases"])
def test_any_role_may_read_the_knowledge_and_nobody_without_a_key(client, auth, role, path):
    assert client.get(path, headers=auth(role)).status_code == 200
    assert_problem(client.get(path), 401)


def test_genes_with_alleles_function_activity_and_derivation(client, auth):
    resp = client.get("/v1/genes", headers=auth("clinician"))
    body = resp.get_json()
    assert_matches_schema(GeneListSchema, body)
    genes = {g["gene"]: g for g in body["genes"]}
    assert {"CYP2D6", "CYP2C19", "CYP2C9", "DPYD", "TPMT", "NUDT15", "HLA-B", "HLA-A", "G6PD", "SLCO1B1"} <= set(genes)
    cyp2d6 = genes["CYP2D6"]
    assert cyp2d6["method"] == "activity_score" and cyp2d6["derivation"]
    alleles = {a["name"]: a for a in cyp2d6["alleles"]}
    assert alleles["*4"]["function"] == "No function" and alleles["*4"]["activity_value"] == "0.0"
    assert alleles["*10"]["activity_value"] == "0.25"
    assert "codeine" in cyp2d6["drugs"]
    assert body["release"]


def test_one_gene_case_insensitively_and_404_for_an_unknown_one(client, auth):
    body = client.get("/v1/genes/cyp2c19", headers=auth("pharmacy")).get_json()
    assert_matches_schema(GeneSchema, body)
    assert body["gene"] == "CYP2C19"
    assert {p["name"] for p in body["phenotypes"]} >= {"Poor Metabolizer", "Rapid Metabolizer"}
    problem = assert_problem(client.get("/v1/genes/CYP9Z9", headers=auth("pharmacy")), 404)
    assert "CYP9Z9" in problem["detail"]


def test_drugs_with_their_genes_and_guidance_tables(client, auth):
    body = client.get("/v1/drugs", headers=auth("pharmacy")).get_json()
    assert_matches_schema(DrugListSchema, body)
    drugs = {d["drug"]: d for d in body["drugs"]}
    assert len(drugs) == 78
    assert drugs["amitriptyline"]["genes"] == ["CYP2C19", "CYP2D6"]
    assert drugs["codeine"]["genes"] == ["CYP2D6"] and drugs["codeine"]["rows"] > 0
    assert "guidance" not in drugs["codeine"]
    full = client.get("/v1/drugs?guidance=true", headers=auth("pharmacy")).get_json()
    assert all(len(d["guidance"]) == d["rows"] for d in full["drugs"])


def test_one_drug_with_its_guidance_table(client, auth):
    body = client.get("/v1/drugs/codeine", headers=auth("clinician")).get_json()
    assert_matches_schema(DrugSchema, body)
    assert body["source"]["url"].startswith("https://cpicpgx.org/")
    rows = {(tuple(r["lookup"].items()), r["population"]): r for r in body["guidance"]}
    strong = rows[((("CYP2D6", "≥3.0"),), "general")]
    assert (strong["direction"], strong["classification"]) == ("alternative", "Strong")
    assert_problem(client.get("/v1/drugs/aspirin", headers=auth("clinician")), 404)


def test_releases_say_which_one_is_active_and_served(client, auth):
    body = client.get("/v1/releases", headers=auth("auditor")).get_json()
    assert_matches_schema(ReleaseListSchema, body, dump=False)
    active = [r for r in body["releases"] if r["is_active"]]
    assert len(active) == 1
    assert body["active"] == active[0]["label"] == body["serving"]
    assert active[0]["manifest"]["drug_count"] == 78
    assert len(active[0]["digest"]) == 64
    lookup = client.get("/v1/lookup?gene=CYP2D6&diplotype=*1/*1", headers=auth("clinician")).get_json()
    assert lookup["release"] == body["active"]
