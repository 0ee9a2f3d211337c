"""Table-driven tests of the guidance matcher on the committed guideline tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.pgx.guidance import GuidanceMatcher
from service.pgx.guidelines import load_guidelines
from service.pgx.results import Direction, GeneResult, GeneStatus, GuidanceStatus

GUIDELINES = Path(__file__).resolve().parents[2] / "reference_tables" / "guidelines"


@pytest.fixture(scope="module")
def matcher() -> GuidanceMatcher:
    return GuidanceMatcher.from_guidelines(load_guidelines(GUIDELINES))


def gene(name: str, status: GeneStatus = GeneStatus.OK, **kw) -> GeneResult:
    return GeneResult(gene=name, input=kw.pop("input", "test"), status=status, **kw)


def run(matcher, drug, *results):
    return matcher.guidance([drug], {r.gene: r for r in results})


def one(matcher, drug, *results):
    out = run(matcher, drug, *results)
    assert len(out) == 1, out
    return out[0]


# drug, gene results, expected (status, direction, classification, dose_factor)
CASES = [
    ("codeine", [gene("CYP2D6", lookup_key="≥3.0")], ("ok", "alternative", "Strong", None)),
    ("codeine", [gene("CYP2D6", lookup_key="3.0")], ("ok", "alternative", "Strong", None)),
    ("codeine", [gene("CYP2D6", activity_score="3.0")], ("ok", "alternative", "Strong", None)),
    ("codeine", [gene("CYP2D6", lookup_key="0.0")], ("ok", "alternative", "Strong", None)),
    ("codeine", [gene("CYP2D6", lookup_key="1.0")], ("ok", "standard", "Moderate", None)),
    ("codeine", [gene("CYP2D6", lookup_key="2.0")], ("ok", "standard", "Strong", None)),
    ("codeine", [gene("CYP2D6", lookup_key="n/a")], ("no_recommendation", "none", "No Recommendation", None)),
    ("codeine", [gene("CYP2D6", lookup_key="xN combinations")],
     ("no_recommendation", "none", "No Recommendation", None)),
    ("abacavir", [gene("HLA-B", allele_status={"*57:01": "*57:01 positive"})], ("ok", "alternative", "Strong", None)),
    ("abacavir", [gene("HLA-B", allele_status={"*57:01": "*57:01 negative", "*58:01": "*58:01 positive"})],
     ("ok", "standard", "Strong", None)),
    ("allopurinol", [gene("HLA-B", allele_status={"*57:01": "*57:01 negative", "*58:01": "*58:01 positive"})],
     ("ok", "alternative", "Strong", None)),
    ("azathioprine", [gene("TPMT", lookup_key="Normal Metabolizer"), gene("NUDT15", lookup_key="Normal Metabolizer")],
     ("ok", "standard", "Strong", None)),
    ("azathioprine", [gene("TPMT", lookup_key="Intermediate Metabolizer"),
                      gene("NUDT15", lookup_key="Normal Metabolizer")], ("ok", "decrease", "Strong", "0.3-0.8")),
    ("azathioprine", [gene("TPMT", lookup_key="Poor Metabolizer"), gene("NUDT15", lookup_key="Normal Metabolizer")],
     ("ok", "alternative", "Strong", "0.1")),
    ("mercaptopurine", [gene("TPMT", lookup_key="Poor Metabolizer"),
                        gene("NUDT15", lookup_key="Normal Metabolizer")], ("ok", "decrease", "Strong", "0.1")),
    ("thioguanine", [gene("TPMT", lookup_key="Intermediate Metabolizer"),
                     gene("NUDT15", lookup_key="Normal Metabolizer")], ("ok", "decrease", "Moderate", "0.5-0.8")),
    ("thioguanine", [gene("TPMT", lookup_key="Normal Metabolizer"), gene("NUDT15", lookup_key="Poor Metabolizer")],
     ("ok", "decrease", "Strong", "0.25")),
    ("capecitabine", [gene("DPYD", lookup_key="1.5")], ("ok", "decrease", "Moderate", "0.5")),
    ("capecitabine", [gene("DPYD", lookup_key="0.0")], ("ok", "alternative", "Strong", None)),
    ("tacrolimus", [gene("CYP3A5", lookup_key="Normal Metabolizer")], ("ok", "increase", "Strong", "1.5-2")),
    ("omeprazole", [gene("CYP2C19", lookup_key="Ultrarapid Metabolizer")], ("ok", "increase", "Optional", "2")),
    ("tamoxifen", [gene("CYP2D6", lookup_key="2.0")], ("ok", "standard", "Strong", None)),
    ("simvastatin", [gene("SLCO1B1", lookup_key="Poor Function")], ("ok", "alternative", "Strong", None)),
    ("atorvastatin", [gene("SLCO1B1", lookup_key="Poor Function")], ("ok", "decrease", "Moderate", None)),
    ("ivacaftor", [gene("CFTR", lookup_key="ivacaftor non-responsive in CF patients")],
     ("ok", "alternative", "Moderate", None)),
    ("gentamicin", [gene("MT-RNR1", lookup_key="increased risk of aminoglycoside-induced hearing loss")],
     ("ok", "alternative", "Strong", None)),
]


@pytest.mark.parametrize(("drug", "results", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_table(matcher, drug, results, expected):
    g = one(matcher, drug, *results)
    assert (g.status.value, g.direction.value, g.classification, g.dose_factor) == expected, g.message
    assert g.source is not None and g.source.url.startswith("https://")
    assert g.recommendation and g.recommendation_id and g.guideline_id


def test_codeine_reports_value_looked_up(matcher):
    g = one(matcher, "codeine", gene("CYP2D6", lookup_key="≥3.0"))
    assert g.genes == {"CYP2D6": "≥3.0"}
    assert "codeine" in g.recommendation.lower()


def test_clopidogrel_poor_metabolizer_every_population_alternative(matcher):
    out = run(matcher, "clopidogrel", gene("CYP2C19", lookup_key="Poor Metabolizer"))
    assert {g.population for g in out} == {"CVI ACS PCI", "CVI non-ACS non-PCI", "NVI"}
    assert all(g.direction is Direction.ALTERNATIVE and g.status is GuidanceStatus.OK for g in out)
    acs = next(g for g in out if g.population == "CVI ACS PCI")
    assert acs.classification == "Strong"
    assert set(acs.alternatives) == {"prasugrel", "ticagrelor"}


@pytest.mark.parametrize(("drug", "populations"), [
    ("voriconazole", {"adults", "pediatrics"}),
    ("atomoxetine", {"adults", "pediatrics"}),
    ("carbamazepine", {"CBZ naive", "CBZ use >3mos", "CBZ-no alternatives"}),
])
def test_multi_population_drugs_answer_per_population(matcher, drug, populations):
    genes = {"voriconazole": [gene("CYP2C19", lookup_key="Normal Metabolizer")],
             "atomoxetine": [gene("CYP2D6", lookup_key="1.0")],
             "carbamazepine": [gene("HLA-A", allele_status={"*31:01": "*31:01 negative"}),
                               gene("HLA-B", allele_status={"*15:02": "*15:02 positive"})]}[drug]
    out = run(matcher, drug, *genes)
    assert {g.population for g in out} == populations
    assert len(out) == len(populations)


def test_carbamazepine_hla_b_positive_depends_on_population(matcher):
    out = run(matcher, "carbamazepine", gene("HLA-A", allele_status={"*31:01": "*31:01 negative"}),
              gene("HLA-B", allele_status={"*15:02": "*15:02 positive"}))
    by_pop = {g.population: g.direction for g in out}
    assert by_pop["CBZ naive"] is Direction.ALTERNATIVE
    assert by_pop["CBZ use >3mos"] is Direction.CAUTION


class TestPhenytoinNeedsBothGenes:
    def test_both_given(self, matcher):
        out = run(matcher, "phenytoin", gene("CYP2C9", lookup_key="1.0"),
                  gene("HLA-B", allele_status={"*15:02": "*15:02 negative"}))
        assert {g.status for g in out} == {GuidanceStatus.OK}
        assert {g.direction for g in out} == {Direction.DECREASE}
        assert {g.dose_factor for g in out} == {"0.75"}

    def test_hla_b_missing_uses_no_result_row(self, matcher):
        out = run(matcher, "phenytoin", gene("CYP2C9", lookup_key="1.0"))
        assert len(out) == 2
        for g in out:
            assert g.status is GuidanceStatus.MISSING_GENES
            assert g.missing_genes == ("HLA-B",)
            assert g.genes == {"CYP2C9": "1.0", "HLA-B": "No Result"}

    def test_cyp2c9_missing(self, matcher):
        out = run(matcher, "phenytoin", gene("HLA-B", allele_status={"*15:02": "*15:02 positive"}))
        for g in out:
            assert g.status is GuidanceStatus.MISSING_GENES
            assert g.missing_genes == ("CYP2C9",)
        naive = next(g for g in out if g.population == "PHT naive")
        assert naive.direction is Direction.ALTERNATIVE

    def test_carrier_result_for_other_allele_is_not_enough(self, matcher):
        out = run(matcher, "phenytoin", gene("CYP2C9", lookup_key="2.0"),
                  gene("HLA-B", allele_status={"*57:01": "*57:01 negative"}))
        for g in out:
            assert g.status is GuidanceStatus.MISSING_GENES
            assert g.missing_genes == ("HLA-B",)
            assert "*15:02" in g.message

    def test_invalid_result_counts_as_not_given(self, matcher):
        out = run(matcher, "phenytoin", gene("CYP2C9", status=GeneStatus.UNKNOWN_ALLELE, message="*99 unknown"),
                  gene("HLA-B", allele_status={"*15:02": "*15:02 negative"}))
        for g in out:
            assert g.status is GuidanceStatus.MISSING_GENES
            assert g.missing_genes == ("CYP2C9",)
            assert "unknown_allele" in g.message and "*99 unknown" in g.message


def test_missing_gene_without_no_result_row(matcher):
    g = one(matcher, "codeine")
    assert g.status is GuidanceStatus.MISSING_GENES
    assert g.missing_genes == ("CYP2D6",)
    assert g.direction is Direction.NONE and g.recommendation is None


class TestPhenotypeOnlyInput:
    def test_cyp2d6_ultrarapid_codeine_is_unambiguous(self, matcher):
        g = one(matcher, "codeine", gene("CYP2D6", phenotype="Ultrarapid Metabolizer"))
        assert (g.status, g.direction, g.classification) == (GuidanceStatus.OK, Direction.ALTERNATIVE, "Strong")
        assert g.genes == {"CYP2D6": "Ultrarapid Metabolizer"}
        assert "phenotype" in g.message

    def test_cyp2d6_intermediate_atomoxetine_is_ambiguous(self, matcher):
        out = run(matcher, "atomoxetine", gene("CYP2D6", phenotype="Intermediate Metabolizer"))
        assert {g.status for g in out} == {GuidanceStatus.INDETERMINATE}
        assert all("activity score" in g.message for g in out)

    def test_cyp2c9_phenotype(self, matcher):
        g = one(matcher, "celecoxib", gene("CYP2C9", phenotype="Normal Metabolizer"))
        assert g.direction is Direction.STANDARD
        g = one(matcher, "celecoxib", gene("CYP2C9", phenotype="Poor Metabolizer"))
        assert (g.direction, g.dose_factor) == (Direction.DECREASE, "0.25-0.5")

    def test_indeterminate_phenotype(self, matcher):
        g = one(matcher, "codeine", gene("CYP2D6", status=GeneStatus.INDETERMINATE, phenotype="Indeterminate"))
        assert g.status is GuidanceStatus.NO_RECOMMENDATION and g.direction is Direction.NONE


def test_value_with_no_row_is_not_in_guideline(matcher):
    g = one(matcher, "codeine", gene("CYP2D6", lookup_key="7.5"))
    assert g.status is GuidanceStatus.NOT_IN_GUIDELINE
    assert "7.5" in g.message


def test_indeterminate_without_row(matcher):
    g = one(matcher, "abacavir", gene("HLA-B", status=GeneStatus.INDETERMINATE, lookup_key="Indeterminate"))
    assert g.status is GuidanceStatus.INDETERMINATE


def test_unknown_drug(matcher):
    g = one(matcher, "unobtainium")
    assert g.status is GuidanceStatus.NOT_IN_GUIDELINE and g.direction is Direction.NONE
    assert g.genes == {} and "unobtainium" in g.message


def test_catalogue(matcher):
    assert len(matcher.drugs) == 78 and matcher.drugs == sorted(matcher.drugs)
    assert matcher.genes_for("amitriptyline") == ["CYP2C19", "CYP2D6"]
    assert matcher.genes_for("phenytoin") == ["CYP2C9", "HLA-B"]
    assert "codeine" in matcher.drugs_for_genes(["CYP2D6"])
    assert "clopidogrel" not in matcher.drugs_for_genes(["CYP2D6"])
    assert set(matcher.drugs_for_genes(["RYR1"])) == {
        "desflurane", "enflurane", "halothane", "isoflurane", "methoxyflurane", "sevoflurane", "succinylcholine"}
    with pytest.raises(KeyError):
        matcher.genes_for("unobtainium")


def test_guidance_without_drug_list_covers_affected_drugs(matcher):
    out = matcher.guidance(None, {"CYP2C19": gene("CYP2C19", lookup_key="Normal Metabolizer")})
    assert {g.drug for g in out} == set(matcher.drugs_for_genes(["CYP2C19"]))


def test_describe_is_json(matcher):
    d = matcher.describe("codeine")
    assert json.loads(json.dumps(d)) == d
    assert d["genes"] == ["CYP2D6"] and d["source"]["url"].startswith("https://cpicpgx.org/")
    assert len(d["guidance"]) == 23
