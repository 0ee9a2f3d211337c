"""Table-driven tests of the guidance matcher on the committed guideline tables."""

from __future__ import annotations

import copy
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
     ("ok", "decrease", "Strong", "0.1")),
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
    # 1.1 lies between CPIC's intermediate (up to 1.0) and normal (from 1.25) bands: no row, no guess
    g = one(matcher, "codeine", gene("CYP2D6", lookup_key="1.1"))
    assert g.status is GuidanceStatus.NOT_IN_GUIDELINE and g.direction is Direction.NONE
    assert "1.1" in g.message


class TestScoresCpicHasNoKeyFor:
    """A lab's score that is not one of CPIC's keys takes the row of CPIC's highest '≥' bin at or
    below it (within the score's phenotype band), else the band's rows when they all agree."""

    @pytest.mark.parametrize(("score", "key"), [
        ("3.25", "≥3.25"), ("3.5", "≥3.5"), ("3.75", "≥3.75"), ("4.25", "≥4.0"), ("4.75", "≥4.0"),
        ("5.0", "≥5.0"), ("5.75", "≥5.0"), ("6.0", "≥6.0"), ("7.5", "≥6.0"), ("≥4.25", "≥4.0"), ("≥7.0", "≥6.0"),
    ])
    def test_exact_and_binned_scores_take_cpics_bin(self, matcher, score, key):
        r = gene("CYP2D6", phenotype="Ultrarapid Metabolizer", activity_score=score, lookup_key=score)
        for drug in ("codeine", "tramadol", "hydrocodone", "tamoxifen", "ondansetron", "atomoxetine"):
            binned = run(matcher, drug, gene("CYP2D6", lookup_key=key))
            for g, want in zip(run(matcher, drug, r), binned, strict=True):
                assert g.status is not GuidanceStatus.NOT_IN_GUIDELINE, (drug, g)
                assert (g.status, g.direction, g.recommendation_id, g.population) == (
                    want.status, want.direction, want.recommendation_id, want.population)
                assert g.genes == {"CYP2D6": key}
                assert f"activity score {score} is not one of CPIC's lookup keys; CPIC's bin {key}" in g.message
        g = one(matcher, "codeine", r)
        assert (g.status, g.direction, g.classification) == (GuidanceStatus.OK, Direction.ALTERNATIVE, "Strong")

    def test_cpics_own_keys_are_used_as_they_are(self, matcher):
        g = one(matcher, "codeine", gene("CYP2D6", lookup_key="4.0"))
        assert g.genes == {"CYP2D6": "4.0"} and g.message is None

    def test_a_bin_outside_the_scores_phenotype_band_is_not_used(self):
        """A hypothetical table whose only '≥' bin is below the score's band: the bin is not used; the
        band's own rows answer when they agree, and the answer says it was read by the band."""
        guidelines = load_guidelines(GUIDELINES)
        doc = copy.deepcopy(next(d for d in guidelines.values() if d["drugs"] == ["codeine"]))
        doc["recommendations"] = [r for r in doc["recommendations"] if not r["lookup"]["CYP2D6"].startswith("≥")]
        m = GuidanceMatcher.from_guidelines({"codeine": doc})
        g = one(m, "codeine", gene("CYP2D6", lookup_key="3.25", phenotype="Ultrarapid Metabolizer"))
        assert (g.status, g.direction) == (GuidanceStatus.OK, Direction.ALTERNATIVE)
        assert g.genes == {"CYP2D6": "3.25"}
        assert "read by its phenotype band (Ultrarapid Metabolizer, CPIC scores 2.5, 2.75, 3.0, 4.0)" in g.message
        # the band's rows disagree: asked for more, never guessed
        for r in doc["recommendations"]:
            if r["lookup"]["CYP2D6"] == "2.5":
                r["direction"], r["recommendation"] = "caution", "different advice"
        m = GuidanceMatcher.from_guidelines({"codeine": doc})
        g = one(m, "codeine", gene("CYP2D6", lookup_key="3.25", phenotype="Ultrarapid Metabolizer"))
        assert (g.status, g.direction) == (GuidanceStatus.INDETERMINATE, Direction.NONE)

    def test_a_score_whose_phenotype_disagrees_with_cpics_band_is_not_matched(self, matcher):
        g = one(matcher, "codeine", gene("CYP2D6", lookup_key="3.25", phenotype="Normal Metabolizer"))
        assert g.status is GuidanceStatus.NOT_IN_GUIDELINE


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


@pytest.mark.parametrize("drug", ["azathioprine", "mercaptopurine", "thioguanine"])
def test_tpmt_poor_metabolizer_gets_a_tenth_three_times_a_week(matcher, drug):
    """CPIC: a 10-fold lower daily dose AND thrice weekly instead of daily (dose_factor is per dose)."""
    g = one(matcher, drug, gene("TPMT", lookup_key="Poor Metabolizer"), gene("NUDT15", lookup_key="Normal Metabolizer"))
    assert (g.dose_factor, g.frequency) == ("0.1", "3 times a week")
    text = g.recommendation
    assert all(part in text for part in ("a tenth", "3 times a week instead of daily", "myelosuppression",
                                         "4-6 weeks", "Non-malignant conditions: consider a non-thiopurine")), text


def test_nudt15_poor_metabolizer_keeps_the_daily_interval(matcher):
    g = one(matcher, "azathioprine", gene("TPMT", lookup_key="Normal Metabolizer"),
            gene("NUDT15", lookup_key="Poor Metabolizer"))
    assert (g.dose_factor, g.frequency) == ("0.1", None)
