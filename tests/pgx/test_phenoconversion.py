"""Phenoconversion (service.pgx.medications): CYP2D6 inhibitors convert the phenotype by CPIC's
opioid rule; the opioids follow the converted result, other drugs the genotype; genes without a
rule get an interaction warning only."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.pgx.genes import TableError
from service.pgx.knowledge import KnowledgeBase
from service.pgx.medications import load_medication_table
from service.pgx.results import Direction, GenotypeEntry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.from_directory(ROOT / "reference_tables")


def run(kb, gene, meds, drugs=None, **entry):
    results = [kb.interpret(GenotypeEntry(gene=gene, **entry))]
    conversions, warnings = kb.phenoconvert(results, kb.read_medications(meds))
    return results[0], conversions, warnings, kb.guidance(drugs, results, conversions)


def by_drug(guidance):
    return {g.drug: g for g in guidance if g.population in (None, "general")}


def test_strong_inhibitor_makes_a_poor_metabolizer(kb):
    r, conv, _, guid = run(kb, "CYP2D6", ["paroxetine"], ["codeine"], diplotype="*1/*1")
    assert r.phenotype == "Normal Metabolizer"
    (c,) = conv
    assert c.converted and c.strength == "strong"
    assert c.result.phenotype == "Poor Metabolizer" and c.result.activity_score == "0.0"
    assert c.genotype.phenotype == "Normal Metabolizer" and c.genotype.activity_score == "2.0"
    assert any("paroxetine" in w for w in c.result.warnings)
    codeine = by_drug(guid)["codeine"]
    assert codeine.direction is Direction.ALTERNATIVE
    assert "paroxetine" in codeine.phenoconversion
    alone = by_drug(run(kb, "CYP2D6", [], ["codeine"], diplotype="*1/*1")[3])["codeine"]
    assert alone.direction is Direction.STANDARD and alone.phenoconversion is None


def test_moderate_inhibitor_halves_the_score(kb):
    _, (c,), _, guid = run(kb, "CYP2D6", ["duloxetine"], ["codeine", "tramadol"], diplotype="*1/*1")
    assert c.strength == "moderate"
    assert c.result.activity_score == "1.0" and c.result.phenotype == "Intermediate Metabolizer"
    assert {g.drug for g in guid if g.phenoconversion} == {"codeine", "tramadol"}


def test_a_halved_score_between_keys_stays_in_its_band(kb):
    # *1/*41: 1.25 (NM) -> 0.625, an IM score no genotype gives; looked up at 0.5 (IM too)
    _, (c,), _, _ = run(kb, "CYP2D6", ["mirabegron"], None, diplotype="*1/*41")
    assert c.genotype.activity_score == "1.25"
    assert c.result.activity_score == "0.625" and c.result.phenotype == "Intermediate Metabolizer"
    assert c.result.lookup_key == "0.5"
    # 0.25 -> 0.125: CPIC's IM band is above 0, so not a poor metabolizer
    _, (c,), _, _ = run(kb, "CYP2D6", ["mirabegron"], None, activity_score="0.25")
    assert c.result.phenotype == "Intermediate Metabolizer" and c.result.lookup_key == "0.25"


def test_a_range_spanning_two_phenotypes_is_not_converted(kb):
    _, (c,), warnings, _ = run(kb, "CYP2D6", ["duloxetine"], None, diplotype="*1/*1x≥3")
    assert not c.converted and c.result is c.genotype
    assert any("spans more than one phenotype" in w for w in warnings)


def test_phenotype_only_input_converts_by_band(kb):
    _, (c,), _, _ = run(kb, "CYP2D6", ["duloxetine"], None, phenotype="Normal Metabolizer")
    assert c.converted and c.result.phenotype == "Intermediate Metabolizer"


def test_other_cyp2d6_drugs_follow_the_genotype_and_say_so(kb):
    _, _, _, guid = run(kb, "CYP2D6", ["fluoxetine"], ["ondansetron", "codeine"], diplotype="*1/*1")
    ond = by_drug(guid)["ondansetron"]
    assert ond.direction is Direction.STANDARD  # the genotype's NM row
    assert "no rule" in ond.phenoconversion and "fluoxetine" in ond.phenoconversion


def test_a_poor_metabolizer_stays_one(kb):
    _, (c,), _, _ = run(kb, "CYP2D6", ["paroxetine"], None, diplotype="*4/*4")
    assert not c.converted


def test_strong_beats_moderate_and_two_moderates_do_not_compound(kb):
    _, (c,), _, _ = run(kb, "CYP2D6", ["duloxetine", "bupropion"], None, diplotype="*1/*1")
    assert c.strength == "strong" and c.result.phenotype == "Poor Metabolizer"
    _, (c,), warnings, _ = run(kb, "CYP2D6", ["duloxetine", "mirabegron"], None, diplotype="*1/*1")
    assert c.result.activity_score == "1.0"
    assert any("several moderate inhibitors" in w for w in warnings)


def test_brand_names_and_unknown_names(kb):
    _, (c,), warnings, _ = run(kb, "CYP2D6", ["Paxil", "metformin-xyz"], None, diplotype="*1/*1")
    assert c.converted and "paroxetine (strong)" in c.inhibitors
    assert any("metformin-xyz" in w and "not in this release" in w for w in warnings)


def test_cyp2c19_inhibitor_is_a_warning_without_conversion(kb):
    r, conv, warnings, guid = run(kb, "CYP2C19", ["fluvoxamine"], ["clopidogrel"], diplotype="*1/*1")
    assert conv == []
    assert any("fluvoxamine" in w and "CYP2C19" in w and "not converted" in w for w in warnings)
    rows = [g for g in guid if g.drug == "clopidogrel"]
    assert rows and all(g.phenoconversion is None for g in rows)


def test_the_table_is_validated(tmp_path):
    bad = (ROOT / "reference_tables" / "medications.yaml").read_text().replace("Paxil: paroxetine",
                                                                              "Paxil: paroxetin")
    (tmp_path / "m.yaml").write_text(bad)
    with pytest.raises(TableError, match="paroxetin"):
        load_medication_table(tmp_path / "m.yaml")
