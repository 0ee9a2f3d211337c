"""Replaying an audited input against another release (service.pgx.replay)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from service.pgx.knowledge import KnowledgeBase, load_release_directory
from service.pgx.replay import replay

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def payload() -> dict:
    return load_release_directory(ROOT / "reference_tables")


@pytest.fixture(scope="module")
def kb(payload) -> KnowledgeBase:
    return KnowledgeBase(payload)


def _with(payload, change) -> KnowledgeBase:
    new = copy.deepcopy(payload)
    change(new)
    return KnowledgeBase(new)


def _rec(payload, drug, lookup):
    doc = next(d for d in payload["guidelines"].values() if drug in d["drugs"])
    return next(r for r in doc["recommendations"] if r["lookup"] == lookup and drug in r["drugs"])


def test_same_release_replays_identically(kb):
    data = {"genotypes": [{"gene": "CYP2D6", "diplotype": "*1/*4"}], "drugs": None}
    assert replay(data, kb, kb) == []


def test_a_changed_recommendation_lists_exactly_that_drug(payload, kb):
    def change(p):
        r = _rec(p, "codeine", {"CYP2D6": "1.0"})
        r["classification"], r["direction"] = "Strong", "alternative"
    after = _with(payload, change)
    hit = {"genotypes": [{"gene": "CYP2D6", "diplotype": "*1/*4"}], "drugs": ["codeine", "tramadol"]}
    (d,) = replay(hit, kb, after)
    assert (d.drug, d.genes) == ("codeine", ("CYP2D6",))
    assert d.before["direction"] != "alternative" and d.after["direction"] == "alternative"
    assert d.after["genes"]["CYP2D6"]["activity_score"] == "1.0"
    miss = {"genotypes": [{"gene": "CYP2D6", "diplotype": "*1/*1"}], "drugs": ["codeine"]}
    assert replay(miss, kb, after) == []


def test_a_changed_allele_function_moves_every_drug_of_the_gene(payload, kb):
    def change(p):
        next(a for a in p["genes"]["CYP2C19"]["alleles"] if a["name"] == "*9")["function"] = "No function"
    after = _with(payload, change)
    data = {"genotypes": [{"gene": "CYP2C19", "diplotype": "*9/*9"}], "drugs": None}
    diffs = replay(data, kb, after)
    assert diffs and {d.before["genes"]["CYP2C19"]["phenotype"] for d in diffs} == {"Likely Intermediate Metabolizer"}
    assert {d.after["genes"]["CYP2C19"]["phenotype"] for d in diffs} == {"Poor Metabolizer"}
    assert "clopidogrel" in {d.drug for d in diffs}


def test_a_lookup_without_drugs_differs_by_its_gene_result(payload, kb):
    def change(p):
        next(a for a in p["genes"]["CYP2C19"]["alleles"] if a["name"] == "*9")["function"] = "No function"
    after = _with(payload, change)
    data = {"genotypes": [{"gene": "CYP2C19", "diplotype": "*9/*9"}], "drugs": []}
    (d,) = replay(data, kb, after)
    assert d.drug is None and d.after["genes"]["CYP2C19"]["phenotype"] == "Poor Metabolizer"


def test_dose_factor_change_is_a_difference(payload, kb):
    def change(p):
        _rec(p, "mercaptopurine", {"NUDT15": "Normal Metabolizer", "TPMT": "Intermediate Metabolizer"})[
            "dose_factor"] = "0.5"
    after = _with(payload, change)
    data = {"genotypes": [{"gene": "TPMT", "diplotype": "*1/*3A"}, {"gene": "NUDT15", "diplotype": "*1/*1"}],
            "drugs": ["mercaptopurine"]}
    (d,) = replay(data, kb, after)
    assert d.after["dose_factor"] == "0.5" and d.before["dose_factor"] != "0.5"
    assert d.genes == ("NUDT15", "TPMT")
