"""Warfarin pathway (service.pgx.warfarin): the IWPC equation term by term, CPIC's adjustments,
the failure cases, and a cross-check against an independent transcription of the equation."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.pgx import warfarin as w
from service.pgx.knowledge import KnowledgeBase
from service.pgx.results import GenotypeEntry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.from_directory(ROOT / "reference_tables")


def genes(kb, **diplotypes):
    return {g: kb.interpret(GenotypeEntry(gene=g, diplotype=d)) for g, d in diplotypes.items()}


VK = {"G/G": "rs9923231 CC", "A/G": "rs9923231 CT", "A/A": "rs9923231 TT"}


def independent_iwpc(age, height, weight, vkorc1, cyp2c9, race, enzyme_inducer=False, amiodarone=False):
    """IWPC pharmacogenetic equation, typed again from the paper's table (NEJM 2009;360:753)."""
    s = 5.6044 - 0.2614 * math.floor(age / 10) + 0.0087 * height + 0.0128 * weight
    s += {"A/G": -0.8677, "A/A": -1.6974, "unknown": -0.4854}.get(vkorc1, 0.0)
    s += {"*1/*2": -0.5211, "*1/*3": -0.9357, "*2/*2": -1.0616, "*2/*3": -1.9206, "*3/*3": -2.3312,
          "unknown": -0.2188}.get(cyp2c9, 0.0)
    s += {"asian": -0.1092, "black": -0.2760, "unknown": -0.1032}.get(race, 0.0)
    s += 1.1816 * enzyme_inducer - 0.5503 * amiodarone
    return s * s


def answer(kb, age=65, height=170, weight=75, race="white", vkorc1="G/G", cyp2c9="*1/*1", **kw):
    g = {}
    if vkorc1 is not None:
        g["VKORC1"] = VK[vkorc1]
    if cyp2c9 is not None:
        g["CYP2C9"] = cyp2c9
    extra = kw.pop("genes", {})
    g.update(extra)
    return w.dose(w.ClinicalInputs(age, height, weight, race, **kw), genes(kb, **g))


# Worked examples computed from the coefficients (research brief A1c, age decade = floor).
@pytest.mark.parametrize("age,height,weight,vkorc1,cyp2c9,race,extra,expected", [
    (65, 170, 75, "G/G", "*1/*1", "white", {}, 41.93),
    (65, 170, 75, "A/G", "*1/*1", "white", {}, 31.44),
    (65, 170, 75, "A/A", "*1/*1", "white", {}, 22.83),
    (65, 170, 75, "G/G", "*1/*3", "white", {}, 30.68),
    (50, 180, 90, "A/G", "*1/*2", "white", {}, 31.66),
    (72, 160, 60, "A/G", "*1/*1", "asian", {}, 24.58),
    (65, 170, 75, None, None, "unknown", {}, 32.12),
    (65, 170, 75, "G/G", "*1/*1", "white", {"enzyme_inducer": True}, 58.62),
    (65, 170, 75, "G/G", "*1/*1", "white", {"amiodarone": True}, 35.10),
    (69, 170, 75, "G/G", "*1/*1", "white", {}, 41.93),
])
def test_iwpc_worked_examples(kb, age, height, weight, vkorc1, cyp2c9, race, extra, expected):
    a = answer(kb, age, height, weight, race, vkorc1, cyp2c9, **extra)
    assert a.weekly_dose_mg == pytest.approx(expected, abs=0.06)
    assert a.weekly_dose_mg == pytest.approx(
        independent_iwpc(age, height, weight, vkorc1 or "unknown", cyp2c9 or "unknown", race, **extra), abs=0.06)


def test_output_is_the_square_not_the_exponential(kb):
    a = answer(kb)
    root = sum(t.contribution for t in a.terms)
    assert a.weekly_dose_mg == pytest.approx(root ** 2, abs=0.05)
    assert a.weekly_dose_mg < 100  # exp(6.47) would be ~650 mg/week


def test_each_term_moves_the_dose_as_the_paper_says(kb):
    base = answer(kb).weekly_dose_mg
    assert answer(kb, age=75).weekly_dose_mg < base  # older: less
    assert answer(kb, height=190).weekly_dose_mg > base
    assert answer(kb, weight=95).weekly_dose_mg > base
    assert answer(kb, race="asian").weekly_dose_mg < base
    assert answer(kb, race="black", african_ancestry=False).weekly_dose_mg < base
    assert answer(kb, race="unknown").weekly_dose_mg < base
    assert answer(kb, enzyme_inducer=True).weekly_dose_mg > base
    assert answer(kb, amiodarone=True).weekly_dose_mg < base
    terms = {t.name: t for t in answer(kb, vkorc1="A/A", cyp2c9="*2/*3").terms}
    assert terms["VKORC1 -1639G>A"].contribution == -1.6974
    assert terms["CYP2C9"].contribution == -1.9206
    assert terms["age in decades"].value == 6


def test_age_is_taken_in_whole_decades(kb):
    assert w.age_decades(60) == w.age_decades(69.9) == 6
    assert w.age_decades(70) == 7
    assert answer(kb, age=60).weekly_dose_mg == answer(kb, age=69).weekly_dose_mg
    assert answer(kb, age=70).weekly_dose_mg < answer(kb, age=69).weekly_dose_mg


@settings(max_examples=60, deadline=None)
@given(age=st.integers(18, 100), height=st.integers(140, 200), weight=st.integers(40, 150))
def test_dose_falls_with_each_vkorc1_a_and_cyp2c9_variant(kb, age, height, weight):
    by_vk = [answer(kb, age, height, weight, vkorc1=v).weekly_dose_mg for v in ("G/G", "A/G", "A/A")]
    assert by_vk[0] > by_vk[1] > by_vk[2]
    chain = ["*1/*1", "*1/*2", "*2/*2", "*2/*3", "*3/*3"]
    by_cyp = [answer(kb, age, height, weight, cyp2c9=c).weekly_dose_mg for c in chain]
    assert all(a > b for a, b in zip(by_cyp, by_cyp[1:], strict=False))
    assert answer(kb, age, height, weight, cyp2c9="*1/*3").weekly_dose_mg < by_cyp[1]


def test_missing_genotype_is_the_unknown_term_with_a_warning(kb):
    a = answer(kb, vkorc1=None)
    assert any("VKORC1" in x and "unknown" in x for x in a.warnings)
    assert {t.name: t.value for t in a.terms}["VKORC1 -1639G>A"] == "unknown"
    assert a.weekly_dose_mg != answer(kb).weekly_dose_mg


def test_cyp2c9_poor_metabolizer_considers_an_alternative(kb):
    a = answer(kb, cyp2c9="*3/*3")
    assert a.status == "consider_alternative" and a.classification == "Strong"
    assert a.weekly_dose_mg is not None
    assert any(x.step == "cyp2c9_poor_metabolizer" and "might" in x.reason for x in a.adjustments)
    b = answer(kb, race="black", cyp2c9="*2/*3", cyp2c9_variants_tested=True)
    assert any(x.step == "cyp2c9_poor_metabolizer" and "should" in x.reason for x in b.adjustments)


def test_star5_reduces_by_a_range(kb):
    a = answer(kb, cyp2c9="*1/*5")
    ref = answer(kb).weekly_dose_mg  # *5 is not in the equation: the *1/*1 term
    assert a.weekly_dose_mg == ref
    assert a.dose_range_mg_per_week == (round(ref * 0.70, 1), round(ref * 0.85, 1))
    both = answer(kb, cyp2c9="*2/*5")
    assert both.dose_range_mg_per_week[0] == pytest.approx(both.weekly_dose_mg * 0.60, abs=0.1)


def test_cyp4f2_star3_increases_outside_african_ancestry_only(kb):
    a = answer(kb, genes={"CYP4F2": "*1/*3"})
    assert a.dose_range_mg_per_week == (round(a.weekly_dose_mg * 1.05, 1), round(a.weekly_dose_mg * 1.10, 1))
    b = answer(kb, race="black", cyp2c9_variants_tested=True, genes={"CYP4F2": "*1/*3"})
    assert b.dose_range_mg_per_week == (b.weekly_dose_mg, b.weekly_dose_mg)


def test_rs12777823_reduces_in_african_ancestry(kb):
    a = answer(kb, race="black", cyp2c9_variants_tested=True, genes={"CYP2C": "rs12777823 GA"})
    assert any(x.step == "rs12777823_african_american" for x in a.adjustments)
    assert a.dose_range_mg_per_week[1] == pytest.approx(a.weekly_dose_mg * 0.90, abs=0.1)
    non = answer(kb, genes={"CYP2C": "rs12777823 GA"})
    assert non.dose_range_mg_per_week == (non.weekly_dose_mg, non.weekly_dose_mg)
    assert any("rs12777823" in x for x in non.warnings)


def test_african_ancestry_untested_doses_clinically(kb):
    a = answer(kb, race="black")
    assert a.status == "dose_clinically" and a.weekly_dose_mg is None and a.dose_range_mg_per_week is None
    # a found *5/*6/*8/*11 shows they were tested
    b = answer(kb, race="black", cyp2c9="*1/*8")
    assert b.status == "ok" and b.weekly_dose_mg is not None


def test_children_get_no_adult_figure(kb):
    a = answer(kb, age=10, height=140, weight=30)
    assert a.status == "pediatric" and a.weekly_dose_mg is None


def test_alleles_outside_the_algorithm_are_not_guessed(kb):
    a = answer(kb, cyp2c9="*1/*13")
    assert a.status == "not_computable" and a.weekly_dose_mg is None
    assert "*13" in a.recommendation


@pytest.mark.parametrize("field,kw", [
    ("weight_kg", {"weight": -70}),
    ("age_years", {"age": 200}),
    ("height_cm", {"height": 1.75}),
    ("race", {"race": "martian"}),
])
def test_out_of_range_inputs_name_the_field(kb, field, kw):
    with pytest.raises(w.WarfarinInputError) as e:
        answer(kb, **kw)
    assert e.value.field == field
    if field == "height_cm":
        assert "metres" in e.value.message


def test_unknown_allele_is_refused_naming_it(kb):
    with pytest.raises(w.WarfarinInputError) as e:
        answer(kb, cyp2c9="*1/*99")
    assert e.value.field == "genotypes.CYP2C9" and "*99" in e.value.message


def test_gage_algorithm(kb):
    a = answer(kb, algorithm="gage")
    # exp(...) mg/day for 65 y, 170 cm, 75 kg, wild type, INR 2.5 (research brief A2): 6.114 mg/day
    assert a.weekly_dose_mg == pytest.approx(42.8, abs=0.1)
    assert answer(kb, algorithm="gage", vkorc1="A/A").weekly_dose_mg == pytest.approx(22.4, abs=0.1)
    assert answer(kb, algorithm="gage", vkorc1="A/A", cyp2c9="*3/*3").weekly_dose_mg == pytest.approx(10.05, abs=0.1)
    with pytest.raises(w.WarfarinInputError):
        answer(kb, algorithm="gage", vkorc1=None)


def test_warfarin_among_the_drugs_is_genotype_level_guidance(kb):
    def guide(**d):
        results = [kb.interpret(GenotypeEntry(gene=g, diplotype=v)) for g, v in d.items()]
        return [g for g in kb.guidance(None, results) if g.drug == "warfarin"]

    (g,) = guide(CYP2C9="*1/*3", VKORC1="rs9923231 CT")
    assert g.status.value == "needs_clinical_inputs" and g.direction.value == "decrease"
    assert "/v1/dosing/warfarin" in g.recommendation and g.source.url == w.GUIDELINE_URL
    (g,) = guide(CYP2C9="*3/*3", VKORC1="rs9923231 CC")
    assert g.direction.value == "alternative" and g.classification == "Strong"
    (g,) = guide(CYP2C9="*1/*1", VKORC1="rs9923231 CC")
    assert g.direction.value == "standard"
    (g,) = guide(CYP2C9="*1/*1")
    assert g.status.value == "missing_genes" and g.missing_genes == ("VKORC1",)
    named = kb.guidance(["warfarin"], [kb.interpret(GenotypeEntry(gene="CYP2D6", diplotype="*1/*1"))])
    assert [x.status.value for x in named] == ["missing_genes"]


def test_amiodarone_and_inducers_follow_from_the_medication_list(kb):
    entries = [GenotypeEntry(gene="CYP2C9", diplotype="*1/*1"),
               GenotypeEntry(gene="VKORC1", diplotype="rs9923231 CT")]
    base, _, _ = kb.dose_warfarin(w.ClinicalInputs(65, 170, 75, "white"), entries)
    ami, _, notes = kb.dose_warfarin(w.ClinicalInputs(65, 170, 75, "white"), entries, ["Cordarone"])
    assert ami.weekly_dose_mg < base.weekly_dose_mg and "amiodarone taken from the medication list" in notes
    ind, _, _ = kb.dose_warfarin(w.ClinicalInputs(65, 170, 75, "white"), entries, ["rifampicin"])
    assert ind.weekly_dose_mg > base.weekly_dose_mg
