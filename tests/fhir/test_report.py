"""The Genomic Report Bundle (service.fhir.report): valid R4, the IG's profile constraints, codes,
and agreement with the JSON answer it is built from."""

from __future__ import annotations

import dataclasses

import fhir_shapes as s
import pytest
from conftest import REFERENCE_TABLES
from fhir_validation import (
    assert_valid_report,
    fp,
    profile_problems,
    read_back,
    read_back_json,
    schema_errors,
)

from service.fhir import genotypes as g
from service.fhir.report import genomic_report
from service.pgx.knowledge import KnowledgeBase
from service.pgx.results import GenotypeEntry

IG = "http://hl7.org/fhir/uv/genomics-reporting/StructureDefinition/"


@pytest.fixture(scope="module")
def kb():
    return KnowledgeBase.from_directory(REFERENCE_TABLES)


def answer_of(kb, entries, drugs=None, patient_ref="pt-1", audit_id="0190-test"):
    """An interpretation answer as POST /v1/interpretations gives it (the domain core's results
    as dicts; the HTTP tests check the same against the real endpoint)."""
    genotype_entries = [GenotypeEntry(**e) for e in entries]
    results = [kb.interpret(e) for e in genotype_entries]
    guidance = kb.guidance(drugs, results)
    return {"patient_ref": patient_ref, "release": kb.release, "audit_id": audit_id, "audit_seq": 7,
            "genes": [dataclasses.asdict(r) for r in results],
            "drugs": [dataclasses.asdict(d) for d in guidance]}


CASES = {
    "cyp2c19 poor, clopidogrel": ([{"gene": "CYP2C19", "diplotype": "*2/*2"}], ["clopidogrel"]),
    "cyp2d6 ultrarapid, codeine": ([{"gene": "CYP2D6", "diplotype": "*1/*1x2"}], ["codeine"]),
    "two genes, one missing": ([{"gene": "CYP2C19", "diplotype": "*1/*17"}], ["amitriptyline"]),
    "hla-b typed pair, every drug": ([{"gene": "HLA-B", "diplotype": "*15:02/*57:01"}], None),
    "cyp2c9 + hla-b, phenytoin": ([{"gene": "CYP2C9", "diplotype": "*1/*3"},
                                   {"gene": "HLA-B", "diplotype": "*15:02 positive"}], ["phenytoin"]),
    "dpyd score input": ([{"gene": "DPYD", "activity_score": "1.0"}], ["fluorouracil", "capecitabine"]),
    "phenotype input": ([{"gene": "CYP3A5", "phenotype": "Normal Metabolizer"}], ["tacrolimus"]),
    "tpmt poor, thioguanine (frequency)": ([{"gene": "TPMT", "phenotype": "Poor Metabolizer"},
                                            {"gene": "NUDT15", "phenotype": "Normal Metabolizer"}], ["thioguanine"]),
    "no guideline drug": ([{"gene": "CYP2C19", "diplotype": "*1/*1"}], ["lisinopril"]),
    "emerge genes, every drug": ([{"gene": "CYP2C19", "diplotype": "*2/*2"}, {"gene": "CYP2C9", "diplotype": "*1/*1"},
                                  {"gene": "VKORC1", "diplotype": "rs9923231 C/T"}], None),
}


@pytest.mark.parametrize("name", list(CASES))
def test_every_report_validates_and_agrees_with_the_answer(kb, name):
    entries, drugs = CASES[name]
    answer = answer_of(kb, entries, drugs)
    bundle = genomic_report(answer, issued="2026-12-04T23:00:00Z")
    assert_valid_report(bundle)
    assert read_back(bundle) == read_back_json(answer)
    tasks = fp(bundle, "Bundle.entry.resource.where(resourceType = 'Task')")
    assert len(tasks) == sum(d["direction"] in ("alternative", "decrease", "increase") for d in answer["drugs"])


def test_codes_of_a_poor_metabolizer_on_clopidogrel(kb):
    bundle = genomic_report(answer_of(kb, *CASES["cyp2c19 poor, clopidogrel"]), issued="2026-12-04T23:00:00Z")
    genotype = fp(bundle, f"Bundle.entry.resource.where(meta.profile = '{IG}genotype')")[0]
    assert genotype["valueCodeableConcept"]["text"] == "CYP2C19 *2/*2"
    assert fp(genotype, "component.value.coding.where(system = 'http://www.genenames.org').code") == ["HGNC:2621"]
    implications = fp(bundle, f"Bundle.entry.resource.where(meta.profile = '{IG}therapeutic-implication')")
    assert implications, "clopidogrel has guidance"
    for imp in implications:
        assert fp(imp, "component.where(code.coding.code = 'therapeutic-implication').value.coding.code") == ["LA9657-3"]
        assert fp(imp, "component.where(code.coding.code = '51963-7').value.coding"
                       ".where(system = 'http://www.nlm.nih.gov/research/umls/rxnorm').code") == ["32968"]
        assert fp(imp, "component.where(code.coding.code = '93044-6').value.text") == ["CPIC Level A"]
        assert fp(imp, "extension.value.url") == ["https://cpicpgx.org/guidelines/guideline-for-clopidogrel-and-cyp2c19/"]
        assert fp(imp, "component.where(code.coding.code = 'conclusion-string').value")[0]
    tasks = fp(bundle, "Bundle.entry.resource.where(resourceType = 'Task')")
    assert {t["code"]["coding"][0]["code"] for t in tasks} == {"LA26421-0"}
    assert len(tasks) == len(implications)
    report = fp(bundle, "Bundle.entry.resource.where(resourceType = 'DiagnosticReport')")[0]
    ext = {e["url"].rsplit("/", 1)[-1]: e for e in report["extension"]}
    assert ext["knowledge-release"]["valueString"] == bundle_release(kb)
    assert ext["audit-id"]["valueString"] == "0190-test" == bundle["identifier"]["value"]
    assert ext["audit-seq"]["valueInteger"] == 7


def bundle_release(kb):
    return kb.release


def test_hla_risk_allele_found_is_high_risk_and_not_found_low_risk(kb):
    bundle = genomic_report(answer_of(kb, [{"gene": "HLA-B", "diplotype": "*57:01/*44:02"}], ["abacavir", "allopurinol"]))
    values = {}
    for imp in fp(bundle, f"Bundle.entry.resource.where(meta.profile = '{IG}therapeutic-implication')"):
        drug = fp(imp, "component.where(code.coding.code = '51963-7').value.text")[0]
        values[drug] = fp(imp, "component.where(code.coding.code = 'therapeutic-implication').value.coding.code")
    assert values == {"abacavir": ["LA19541-4"], "allopurinol": ["LA19542-2"]}


def test_decrease_and_increase_tasks(kb):
    directions = {}
    for entries, drugs in (([{"gene": "DPYD", "activity_score": "1.0"}], ["fluorouracil"]),
                           ([{"gene": "CYP3A5", "diplotype": "*1/*1"}], ["tacrolimus"])):
        answer = answer_of(kb, entries, drugs)
        bundle = genomic_report(answer)
        for t in fp(bundle, "Bundle.entry.resource.where(resourceType = 'Task')"):
            directions[t["code"]["coding"][0]["code"]] = t["description"]
    assert {"LA26422-8", "LA26423-6"} <= set(directions)


def test_a_changed_interval_reaches_the_report(kb):
    """TPMT poor metabolizer + thioguanine: the implication carries the per-dose factor AND the interval."""
    answer = answer_of(kb, [{"gene": "TPMT", "phenotype": "Poor Metabolizer"},
                            {"gene": "NUDT15", "phenotype": "Normal Metabolizer"}], ["thioguanine"])
    bundle = genomic_report(answer)
    imp = fp(bundle, f"Bundle.entry.resource.where(meta.profile = '{IG}therapeutic-implication')")[0]
    assert fp(imp, "component.where(code.coding.code = 'dose-factor').value") == ["0.1"]
    assert fp(imp, "component.where(code.coding.code = 'frequency').value") == ["3 times a week"]


def test_missing_gene_implication_points_nowhere_but_says_so(kb):
    answer = answer_of(kb, [{"gene": "CYP2C9", "diplotype": "*1/*1"}], ["codeine"])
    bundle = genomic_report(answer)
    assert_valid_report(bundle)
    (imp,) = fp(bundle, f"Bundle.entry.resource.where(meta.profile = '{IG}therapeutic-implication')")
    assert fp(imp, "derivedFrom.reference") == []
    assert "CYP2D6" in fp(imp, "derivedFrom.display")[0]


def test_same_answer_same_bundle_and_no_patient(kb):
    answer = answer_of(kb, *CASES["cyp2c19 poor, clopidogrel"], patient_ref=None)
    one, two = genomic_report(answer, issued="2026-12-04T23:00:00Z"), genomic_report(answer, issued="2026-12-04T23:00:00Z")
    assert one == two
    assert fp(one, "Bundle.entry.resource.where(resourceType = 'Patient')") == []
    assert_valid_report(one)


def test_the_validators_catch_what_they_should(kb):
    bundle = genomic_report(answer_of(kb, *CASES["cyp2c19 poor, clopidogrel"]))
    bundle["entry"][-1]["resource"]["status"] = "bogus"
    assert schema_errors(bundle)
    bundle = genomic_report(answer_of(kb, *CASES["cyp2c19 poor, clopidogrel"]))
    bundle["entry"][0]["resource"]["result"].append({"reference": "urn:uuid:not-here"})
    assert "every reference resolves inside the Bundle" in profile_problems(bundle)


@pytest.mark.parametrize("shape", ["emerge_bundle", "hla_b_example", "hla_a_glstring", "genomics_operations_searchset"])
def test_ig_shapes_in_and_report_out(kb, shape):
    reading = g.read_bundle(getattr(s, shape)())
    answer = answer_of(kb, reading.entries(), list(reading.drugs) if reading.drugs is not None else None,
                       patient_ref=reading.patient_ref)
    assert not g.refusals(reading.genotypes, answer["genes"])
    bundle = genomic_report(answer)
    assert_valid_report(bundle)
    assert read_back(bundle) == read_back_json(answer)


def test_warfarin_guidance_is_coded_by_rxnorm(kb):
    bundle = genomic_report(answer_of(kb, [{"gene": "CYP2C9", "diplotype": "*1/*3"},
                                           {"gene": "VKORC1", "diplotype": "rs9923231 C/T"}], ["warfarin"]))
    assert_valid_report(bundle)
    (imp,) = fp(bundle, f"Bundle.entry.resource.where(meta.profile = '{IG}therapeutic-implication')")
    assert fp(imp, "component.where(code.coding.code = '51963-7').value.coding.code") == ["11289"]
