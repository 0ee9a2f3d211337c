"""Reading Genotype Observations and medication resources (service.fhir.genotypes / drugs)."""

from __future__ import annotations

import copy

import fhir_shapes as s
import pytest
from conftest import REFERENCE_TABLES

from service.fhir import genotypes as g
from service.fhir.drugs import DrugCodes, default_drug_codes, plain_name, read_medication
from service.fhir.errors import (
    ConflictingInput,
    MalformedBundle,
    NoGenotype,
    NotABundle,
    UninterpretableGenotype,
    UnreadableGenotype,
    UnreadableMedication,
    operation_outcome,
)
from service.pgx.knowledge import KnowledgeBase


def only_issue(exc_info):
    (issue,) = exc_info.value.issues
    return issue


# -- the IG's example shapes ----------------------------------------------------------------


def test_emerge_genotypes_clinvar_display_and_text_without_space():
    reading = g.read_bundle(s.emerge_bundle())
    assert reading.entries() == [
        {"gene": "CYP2C19", "diplotype": "*2/*2"},
        {"gene": "CYP2C9", "diplotype": "*1/*1"},
        {"gene": "VKORC1", "diplotype": "rs9923231 C/T"},
    ]
    assert reading.drugs is None  # no medication: every drug the genes affect
    assert reading.patient_ref == "Patient/CGPatientExample01"
    first = reading.genotypes[0]
    assert first.value_path == "Bundle.entry[1].resource.valueCodeableConcept.coding[0].display"
    assert first.resource == "http://example.org/fhir/Observation/Pgx-geno-1001"


def test_pgx_transaction_pharmvar_code_is_the_gene_display_the_diplotype():
    reading = g.read_bundle(s.pgx_transaction("CYP2C9 *2/*3"))
    assert reading.entries() == [{"gene": "CYP2C9", "diplotype": "*2/*3"}]  # haplotype/variant ignored
    assert reading.drugs == ("mercaptopurine",)
    assert reading.bundle_type == "transaction"


def test_hla_b_single_allele_is_read_as_carrier_with_a_warning():
    reading = g.read_bundle(s.hla_b_example())
    assert reading.entries() == [{"gene": "HLA-B", "diplotype": "*15:02 positive"}]
    assert reading.drugs == ("carbamazepine",)
    assert any("carrier of *15:02" in w for w in reading.warnings)


def test_hla_a_gl_string_typed_pair():
    assert g.read_bundle(s.hla_a_glstring()).entries() == [{"gene": "HLA-A", "diplotype": "*03:01:01:01/*30:01:01"}]


@pytest.mark.parametrize("code", ["hla#3.23.0#HLA-A*01:01/HLA-A*01:02+HLA-A*02:01",
                                  "hla#3.23.0#HLA-A*01:01+HLA-A*02:01|HLA-A*01:02+HLA-A*02:01",
                                  "hla#3.23.0#HLA-A*01:01~HLA-B*08:01"])
def test_ambiguous_gl_string_is_refused_not_guessed(code):
    with pytest.raises(UnreadableGenotype) as exc:
        g.read_bundle(s.hla_a_glstring(code))
    issue = only_issue(exc)
    assert issue.code == "not-supported"
    assert issue.expression == "Bundle.entry[0].resource.valueCodeableConcept.coding[0].code"


# -- real senders --------------------------------------------------------------------------


def test_genomics_operations_searchset_https_pharmvar_code_and_gene_id_system():
    reading = g.read_bundle(s.genomics_operations_searchset())
    assert reading.entries() == [{"gene": "CYP2D6", "diplotype": "*1/*41"}]
    assert reading.bundle_type == "searchset"


@pytest.mark.parametrize("component, value, expected", [
    (s.gene_component("CYP2C19", None), {"text": "*1/*17"}, "CYP2C19"),  # symbol as the code
    (s.gene_component(None, None, text="CYP2C19"), {"text": "*1/*17"}, "CYP2C19"),  # text only
    (s.gene_component("HGNC:2621", "CYP2C19", system="https://www.genenames.org"), {"text": "*1/*17"}, "CYP2C19"),
    (None, {"text": "CYP2C19 *1/*17"}, "CYP2C19"),  # no component: the text's prefix
    (None, {"coding": [{"system": "https://www.pharmvar.org", "code": "CYP2C19 *1/*17"}]}, "CYP2C19"),
])
def test_gene_from_component_or_prefix(component, value, expected):
    obs = s.genotype(value, components=[component] if component else [])
    (reading,) = g.read_bundle(s.bundle(obs)).genotypes
    assert (reading.gene, reading.diplotype) == (expected, "*1/*17")


def test_text_wins_over_display_and_per_allele_prefixes_are_removed():
    obs = s.genotype({"text": "CYP2C19*2/CYP2C19*17",
                      "coding": [{"system": "http://www.pharmvar.org", "code": "CYP2C19", "display": "*1/*1"}]})
    assert g.read_bundle(s.bundle(obs)).entries() == [{"gene": "CYP2C19", "diplotype": "*2/*17"}]


def test_observation_claiming_the_profile_without_the_code_is_a_genotype():
    obs = s.genotype({"text": "CYP2C19 *1/*1"}, code=False)
    assert g.read_bundle(s.bundle(obs)).entries() == [{"gene": "CYP2C19", "diplotype": "*1/*1"}]


def test_entered_in_error_is_skipped_and_duplicates_read_once():
    a = s.text_genotype("CYP2C19 *2/*2", rid="a")
    b = s.text_genotype("CYP2C19 *1/*1", rid="b", status="entered-in-error")
    c = s.text_genotype("CYP2C19 *2/*2", rid="c")
    reading = g.read_bundle(s.bundle(a, b, c, type_="searchset"))
    assert reading.entries() == [{"gene": "CYP2C19", "diplotype": "*2/*2"}]
    assert any("entered-in-error" in w for w in reading.warnings)


def test_searchset_without_genotypes_is_empty_when_not_required():
    assert g.read_genotypes(s.bundle(type_="searchset"), require=False) == ()


# -- refusals, each naming resource and element ----------------------------------------------


def test_not_a_bundle():
    with pytest.raises(NotABundle) as exc:
        g.read_bundle(s.text_genotype("CYP2C19 *1/*1"))
    assert "got a Observation" in only_issue(exc).message
    with pytest.raises(NotABundle):
        g.read_bundle([1, 2])


@pytest.mark.parametrize("mutate, expression", [
    (lambda b: b.update(type="document"), "Bundle.type"),
    (lambda b: b.update(entry={"resource": {}}), "Bundle.entry"),
    (lambda b: b["entry"].append("x"), "Bundle.entry[1]"),
    (lambda b: b["entry"].append({"fullUrl": "urn:uuid:1"}), "Bundle.entry[1]"),
    (lambda b: b["entry"].append({"resource": {"id": "x"}}), "Bundle.entry[1].resource"),
])
def test_malformed_bundle(mutate, expression):
    b = s.bundle(s.text_genotype("CYP2C19 *1/*1"))
    mutate(b)
    with pytest.raises(MalformedBundle) as exc:
        g.read_bundle(b)
    assert only_issue(exc).expression == expression


def test_no_genotype_observation():
    with pytest.raises(NoGenotype) as exc:
        g.read_bundle(s.bundle({"resourceType": "Patient", "id": "p1"}))
    assert "84413-4" in only_issue(exc).message


def test_no_gene_anywhere_names_the_value():
    obs = s.genotype({"text": "*2/*2"}, components=[])
    with pytest.raises(UnreadableGenotype) as exc:
        g.read_bundle(s.bundle(obs))
    issue = only_issue(exc)
    assert issue.expression == "Bundle.entry[0].resource.valueCodeableConcept.text"
    assert issue.resource == "http://example.org/fhir/Observation/geno-1"
    assert "no gene" in issue.message


def test_unknown_hgnc_code_is_refused_not_read_from_its_display():
    obs = s.genotype({"text": "*2/*2"}, components=[s.gene_component("HGNC:262", "CYP2C19")])  # the IG's typo
    with pytest.raises(UnreadableGenotype) as exc:
        g.read_bundle(s.bundle(obs))
    assert only_issue(exc).expression == "Bundle.entry[0].resource.component[0].valueCodeableConcept.coding[0].code"


def test_gene_component_and_text_prefix_disagree():
    obs = s.genotype({"text": "CYP2C9 *2/*2"})  # component says CYP2C19
    with pytest.raises(UnreadableGenotype) as exc:
        g.read_bundle(s.bundle(obs))
    assert only_issue(exc).code == "conflict"


def test_hgnc_code_and_display_disagree():
    obs = s.genotype({"text": "*2/*2"}, components=[s.gene_component("HGNC:2623", "CYP2C19")])
    with pytest.raises(UnreadableGenotype) as exc:
        g.read_bundle(s.bundle(obs))
    assert "CYP2C9" in only_issue(exc).message


def test_no_value_and_codes_that_are_no_genotype():
    with pytest.raises(UnreadableGenotype) as exc:
        g.read_bundle(s.bundle(s.genotype(None)))
    assert only_issue(exc).expression == "Bundle.entry[0].resource"
    only_gene_code = s.genotype({"coding": [{"system": "http://www.pharmvar.org", "code": "CYP2C19"}]})
    with pytest.raises(UnreadableGenotype) as exc:
        g.read_bundle(s.bundle(only_gene_code))
    assert only_issue(exc).expression == "Bundle.entry[0].resource.valueCodeableConcept"


def test_every_bad_observation_is_named_at_once():
    b = s.bundle(s.genotype({"text": "*2/*2"}, components=[], rid="x"), s.genotype(None, rid="y"))
    with pytest.raises(UnreadableGenotype) as exc:
        g.read_bundle(b)
    assert [i.resource for i in exc.value.issues] == ["http://example.org/fhir/Observation/x",
                                                      "http://example.org/fhir/Observation/y"]
    outcome = operation_outcome(exc.value.issues)
    assert outcome["resourceType"] == "OperationOutcome"
    assert [i["expression"] for i in outcome["issue"]] == [
        ["Bundle.entry[0].resource.valueCodeableConcept.text"], ["Bundle.entry[1].resource"]]


def test_two_genotypes_for_one_gene_and_two_patients():
    with pytest.raises(ConflictingInput):
        g.read_bundle(s.bundle(s.text_genotype("CYP2C19 *2/*2", rid="a"), s.text_genotype("CYP2C19 *1/*1", rid="b")))
    other = s.text_genotype("CYP2D6 *1/*1", "HGNC:2625", "CYP2D6", rid="b", subject="Patient/p2")
    with pytest.raises(ConflictingInput) as exc:
        g.read_bundle(s.bundle(s.text_genotype("CYP2C19 *2/*2", rid="a"), other))
    assert "Patient/p2" in only_issue(exc).message


def test_an_error_outcome_in_a_searchset_refuses():
    outcome = {"resourceType": "OperationOutcome",
               "issue": [{"severity": "error", "code": "too-costly", "diagnostics": "search timed out"}]}
    with pytest.raises(MalformedBundle) as exc:
        g.read_bundle(s.bundle(s.text_genotype("CYP2C19 *2/*2"), outcome, type_="searchset"))
    assert "search timed out" in only_issue(exc).message


def test_refusals_map_core_results_to_their_element():
    reading = g.read_bundle(s.bundle(s.text_genotype("CYP2C19 *2/*99")))
    results = [{"gene": "CYP2C19", "status": "unknown_allele", "message": "unknown CYP2C19 allele '*99'"}]
    with pytest.raises(UninterpretableGenotype) as exc:
        g.refuse_uninterpretable(reading.genotypes, results)
    issue = only_issue(exc)
    assert (issue.code, issue.expression) == ("code-invalid", "Bundle.entry[0].resource.valueCodeableConcept.text")
    assert "'*99'" in issue.message
    g.refuse_uninterpretable(reading.genotypes, [{"gene": "CYP2C19", "status": "indeterminate"}])


# -- medications ---------------------------------------------------------------------------


@pytest.mark.parametrize("code, display, text, expected", [
    ("32968", "clopidogrel", None, ("clopidogrel",)),  # ingredient
    ("309362", "clopidogrel 75 MG Oral Tablet", None, ("clopidogrel",)),  # SCD
    ("213169", None, None, ("clopidogrel",)),  # SBD, no display
    ("993781", "acetaminophen 300 MG / codeine phosphate 30 MG Oral Tablet", None, ("codeine",)),  # combination
    ("999999999", "Clopidogrel 75 MG Oral Tablet", None, ("clopidogrel",)),  # unknown code: the display
    (None, None, "Tylenol with Codeine #3", ("codeine",)),  # text naming our drug
    (None, None, "Lisinopril 10 MG Oral Tablet", ("lisinopril",)),  # a drug without guideline, by name
    (None, None, "methylene blue 10 MG/ML Injectable Solution", ("methylene blue",)),
])
def test_medication_codes_and_names(code, display, text, expected):
    res = s.medication(code=code, display=display, text=text)
    assert read_medication(res, "Bundle.entry[0].resource", "MedicationRequest/med-1").drugs == expected


def test_medication_reference_to_a_bundle_medication_and_contained():
    med = {"resourceType": "Medication", "id": "m1",
           "code": {"coding": [{"system": s.RXNORM, "code": "2670", "display": "codeine"}]}}
    req = s.medication()
    del req["medicationCodeableConcept"]
    req["medicationReference"] = {"reference": "Medication/m1"}
    reading = g.read_bundle(s.bundle(s.text_genotype("CYP2C19 *1/*1"), med, req))
    assert reading.drugs == ("codeine",)
    req["contained"] = [dict(med, id="c1")]
    req["medicationReference"] = {"reference": "#c1"}
    assert read_medication(req, "X", "Y").drugs == ("codeine",)


def test_unreadable_medication_names_its_element():
    res = s.medication(code="999999999", display=None)
    b = s.bundle(s.text_genotype("CYP2C19 *1/*1"), res)
    with pytest.raises(UnreadableMedication) as exc:
        g.read_bundle(b)
    assert only_issue(exc).expression == "Bundle.entry[1].resource.medicationCodeableConcept"
    res = s.medication()
    del res["medicationCodeableConcept"]
    with pytest.raises(UnreadableMedication):
        read_medication(res, "X", "Y")


def test_rxnorm_codings_naming_different_drugs_conflict():
    res = s.medication()
    res["medicationCodeableConcept"]["coding"].append({"system": s.RXNORM, "code": "2670"})
    with pytest.raises(ConflictingInput):
        read_medication(res, "X", "Y")


def test_drug_codes_cover_every_guideline_drug_and_products_name_known_ingredients():
    kb = KnowledgeBase.from_directory(REFERENCE_TABLES)
    codes = default_drug_codes()
    assert set(codes.rxcui_of) == {*kb.drug_names, "warfarin"}
    assert all(kb.knows_drug(d) for d in codes.rxcui_of)
    assert codes.drugs_of_code("11289") == ("warfarin",)
    assert codes.rxcui_of["clopidogrel"] == "32968"
    assert codes.drugs_of_code("309362") == ("clopidogrel",)
    with pytest.raises(ValueError):
        DrugCodes([{"drug": "codeine", "rxcui": "2670"}],
                  [{"rxcui": "1", "tty": "SCD", "name": "x", "ingredients": ["nope"], "source": "t"}])


def test_plain_name():
    assert plain_name("Warfarin Sodium 5 MG Oral Tablet") == "warfarin"
    assert plain_name("  ") is None


def test_reading_does_not_change_the_bundle():
    b = s.emerge_bundle()
    before = copy.deepcopy(b)
    g.read_bundle(b)
    assert b == before
