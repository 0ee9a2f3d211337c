"""Table-driven genotype -> phenotype cases per gene (expected values checked against CPIC's tables)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from service.pgx.engine import PhenotypeEngine
from service.pgx.genes import load_gene_tables
from service.pgx.results import Category, GenotypeEntry

GENES_DIR = Path(__file__).resolve().parents[2] / "reference_tables/genes"


@pytest.fixture(scope="module")
def engine() -> PhenotypeEngine:
    return PhenotypeEngine.from_gene_tables(load_gene_tables(GENES_DIR))


# gene, diplotype, status, normalized diplotype, phenotype, activity score, lookup key
DIPLOTYPES = [
    # CYP2D6: *4 is no function (0.0), so *1/*4 = 1.0 = Intermediate Metabolizer in current CPIC
    ("CYP2D6", "*1/*4", "ok", "*1/*4", "Intermediate Metabolizer", "1.0", "1.0"),
    ("CYP2D6", "*4/*1", "ok", "*1/*4", "Intermediate Metabolizer", "1.0", "1.0"),
    ("CYP2D6", "CYP2D6*1/CYP2D6*2", "ok", "*1/*2", "Normal Metabolizer", "2.0", "2.0"),
    ("CYP2D6", " *1 / *10 ", "ok", "*1/*10", "Normal Metabolizer", "1.25", "1.25"),
    ("CYP2D6", "*36+*10/*10", "ok", "*10/*36+*10", "Intermediate Metabolizer", "0.5", "0.5"),
    ("CYP2D6", "*1/*68+*4", "ok", "*1/*68+*4", "Intermediate Metabolizer", "1.0", "1.0"),
    ("CYP2D6", "*1/*1x2", "ok", "*1/*1x2", "Ultrarapid Metabolizer", "3.0", "3.0"),
    ("CYP2D6", "*2x2/*4", "ok", "*2x2/*4", "Normal Metabolizer", "2.0", "2.0"),
    ("CYP2D6", "*1/*1x3", "ok", "*1/*1x≥3", "Ultrarapid Metabolizer", "≥4.0", "≥4.0"),
    ("CYP2D6", "*1/*2x4", "ok", "*1/*2x≥3", "Ultrarapid Metabolizer", "≥4.0", "≥4.0"),
    ("CYP2D6", "*1x≥3/*41x3", "ok", "*1x≥3/*41x3", "Ultrarapid Metabolizer", "≥3.75", "≥3.75"),
    ("CYP2D6", "*4x≥3/*4", "ok", "*4/*4x≥3", "Poor Metabolizer", "0.0", "0.0"),
    ("CYP2D6", "*1/*1xN", "indeterminate", "*1/*1xN", "Indeterminate", None, "xN combinations"),
    ("CYP2D6", "*5/*5", "ok", "*5/*5", "Poor Metabolizer", "0.0", "0.0"),
    ("CYP2D6", "*1/*22", "indeterminate", "*1/*22", "Indeterminate", None, "n/a"),
    ("CYP2D6", "*13+*68x2+*4/*1", "ok", "*1/*13+*68x2+*4", "Intermediate Metabolizer", "1.0", "1.0"),
    # CYP2C19 / CYP2C9 / CYP2B6 / CYP3A5
    ("CYP2C19", "CYP2C19*1/*2", "ok", "*1/*2", "Intermediate Metabolizer", None, "Intermediate Metabolizer"),
    ("CYP2C19", "*17/*1", "ok", "*1/*17", "Rapid Metabolizer", None, "Rapid Metabolizer"),
    ("CYP2C19", "*2/*9", "ok", "*2/*9", "Likely Poor Metabolizer", None, "Likely Poor Metabolizer"),
    ("CYP2C19", "*1/*12", "indeterminate", "*1/*12", "Indeterminate", None, "Indeterminate"),
    ("CYP2C9", "*1/*3", "ok", "*1/*3", "Intermediate Metabolizer", "1.0", "1.0"),
    ("CYP2C9", "*2/*3", "ok", "*2/*3", "Poor Metabolizer", "0.5", "0.5"),
    ("CYP3A5", "*3/*3", "ok", "*3/*3", "Poor Metabolizer", None, "Poor Metabolizer"),
    ("UGT1A1", "*80+*28/*1", "ok", "*1/*80+*28", "Intermediate Metabolizer", None, "Intermediate Metabolizer"),
    ("TPMT", "*1/*3A", "ok", "*1/*3A", "Intermediate Metabolizer", None, "Intermediate Metabolizer"),
    ("NUDT15", "*3/*3", "ok", "*3/*3", "Poor Metabolizer", None, "Poor Metabolizer"),
    ("SLCO1B1", "*5/*1", "ok", "*1/*5", "Decreased Function", None, "Decreased Function"),
    ("NAT2", "*5/*5", "ok", "*5/*5", "Poor Metabolizer", None, "Poor Metabolizer"),
    # DPYD: names, synonyms, two-lowest rule
    ("DPYD", "c.1905+1G>A (*2A)/Reference", "ok", "c.1905+1G>A (*2A)/Reference", "Intermediate Metabolizer",
     "1.0", "1.0"),
    ("DPYD", "Reference/c.1905+1G>A", "ok", "c.1905+1G>A (*2A)/Reference", "Intermediate Metabolizer", "1.0",
     "1.0"),
    ("DPYD", "*2A/*2A", "ok", "c.1905+1G>A (*2A)/c.1905+1G>A (*2A)", "Poor Metabolizer", "0.0", "0.0"),
    ("DPYD", "HapB3/Reference", "ok", "c.1129-5923C>G, c.1236G>A (HapB3)/Reference", "Intermediate Metabolizer",
     "1.5", "1.5"),
    ("DPYD", "Reference/Reference", "ok", "Reference/Reference", "Normal Metabolizer", "2.0", "2.0"),
    ("DPYD", "c.2846A>T/c.1905+1G>A/Reference", "ok", "c.1905+1G>A (*2A)/c.2846A>T/Reference", "Poor Metabolizer",
     "0.5", "0.5"),
    # HLA typed pairs and carrier results
    ("HLA-B", "*15:02/*57:01", "ok", "*15:02/*57:01", None, None, None),
    ("HLA-B", "HLA-B*57:01/*08:01", "ok", "*08:01/*57:01", None, None, None),
    ("HLA-B", "*57:01 positive", "ok", "*57:01 positive", "*57:01 Increased Risk", None, "*57:01 positive"),
    ("HLA-B", "HLA-B*57:01 negative", "ok", "*57:01 negative", "*57:01 Normal Risk", None, "*57:01 negative"),
    ("HLA-A", "*31:01/*02:01", "ok", "*02:01/*31:01", None, None, None),
    # one-copy genes and single-SNP genes
    ("G6PD", "B (reference)", "ok", "B (reference)", "Normal", None, "Normal"),
    ("G6PD", "Mediterranean, Dallas, Panama, Sassari, Cagliari, Birmingham", "ok",
     "Mediterranean, Dallas, Panama, Sassari, Cagliari, Birmingham", "Deficient", None, "Deficient"),
    ("G6PD", "Mediterranean/B (reference)", "ok",
     "B (reference)/Mediterranean, Dallas, Panama, Sassari, Cagliari, Birmingham", "Variable", None, "Variable"),
    ("MT-RNR1", "m.1555A>G", "ok", "m.1555A>G", "Increased Risk of Aminoglycoside-Induced Hearing Loss", None,
     "increased risk of aminoglycoside-induced hearing loss"),
    ("MT-RNR1", "Reference", "ok", "Reference", "Normal Risk of Aminoglycoside-Induced Hearing Loss", None,
     "normal risk of aminoglycoside-induced hearing loss"),
    ("RYR1", "Reference/c.103T>C", "ok", "Reference/c.103T>C", "Malignant Hyperthermia Susceptibility", None,
     "Malignant Hyperthermia Susceptibility"),
    ("CACNA1S", "Reference/Reference", "ok", "Reference/Reference", "Uncertain Susceptibility", None,
     "Uncertain Susceptibility"),
    ("VKORC1", "rs9923231 CT", "ok", "Reference/rs9923231 (-1639G>A)", "Reduced Activity", None, "Reduced Activity"),
    ("VKORC1", "-1639 GA", "ok", "Reference/rs9923231 (-1639G>A)", "Reduced Activity", None, "Reduced Activity"),
    ("VKORC1", "rs9923231 TT", "ok", "rs9923231 (-1639G>A)/rs9923231 (-1639G>A)", "Low Activity", None,
     "Low Activity"),
    ("IFNL4", "rs12979860 CT", "ok", "rs12979860 CT", "Unfavorable Response", None, "Unfavorable Response"),
    ("IFNL3", "rs12979860 CC", "ok", "rs12979860 CC", "Favorable Response", None, "Favorable Response"),
    # spellings from PharmCAT's outside-call tests
    ("CYP2D6", "*1.001/*2.034", "ok", "*1/*2", "Normal Metabolizer", "2.0", "2.0"),
    ("CYP2D6", "*1/*1x7", "ok", "*1/*1x≥3", "Ultrarapid Metabolizer", "≥4.0", "≥4.0"),
    ("CYP2D6", "*1/*42x7", "ok", "*1/*42x7", "Intermediate Metabolizer", "1.0", "1.0"),
    ("CYP2D6", "*1/*41x7", "indeterminate", None, None, None, None),
    ("CYP2D6", "*1/*10x3", "indeterminate", None, None, None, None),
    ("HLA-A", "A*02:02:02/*03:02:01", "ok", "*02:02:02/*03:02:01", "*31:01 Normal Risk", None, None),
    ("HLA-B", "*02:01/B*04:05", "ok", "*02:01/*04:05", None, None, None),
    ("HLA-A", "B*02:02/*02:01", "invalid", None, None, None, None),
    ("G6PD", "B (wildtype)/B (wildtype)", "ok", "B (reference)/B (reference)", "Normal", None, "Normal"),
    ("MT-RNR1", "1555A>G", "ok", "m.1555A>G", "Increased Risk of Aminoglycoside-Induced Hearing Loss", None,
     "increased risk of aminoglycoside-induced hearing loss"),
    ("DPYD", "*1/*2A", "ok", "c.1905+1G>A (*2A)/Reference", "Intermediate Metabolizer", "1.0", "1.0"),
    ("ABCG2", "rs2231142 reference (G)/rs2231142 variant (T)", "ok",
     "rs2231142 reference (G)/rs2231142 variant (T)", "Decreased Function", None, "Decreased Function"),
]


@pytest.mark.parametrize(("gene", "diplotype", "status", "normalized", "phenotype", "score", "lookup"), DIPLOTYPES)
def test_diplotype(engine, gene, diplotype, status, normalized, phenotype, score, lookup):
    r = engine.interpret(GenotypeEntry(gene, diplotype=diplotype))
    assert r.status.value == status, r.message
    assert r.diplotype == normalized
    if phenotype is not None:
        assert r.phenotype == phenotype
    assert r.activity_score == score
    assert r.lookup_key == lookup
    assert r.input == diplotype
    if status != "ok":
        assert r.message


def test_hla_typed_pair_gives_every_risk_allele(engine):
    r = engine.interpret(GenotypeEntry("HLA-B", diplotype="*15:02/*57:01"))
    assert r.allele_status == {"*15:02": "*15:02 positive", "*57:01": "*57:01 positive", "*58:01": "*58:01 negative"}
    assert r.ehr_priority == "Abnormal/Priority/High Risk" and r.category is None
    r = engine.interpret(GenotypeEntry("HLA-B", diplotype="*57:01:01/*08:01"))
    assert r.allele_status["*57:01"] == "*57:01 positive"
    r = engine.interpret(GenotypeEntry("HLA-B", diplotype="*44:02/*08:01"))
    assert set(r.allele_status.values()) == {"*15:02 negative", "*57:01 negative", "*58:01 negative"}
    assert r.ehr_priority == "Normal/Routine/Low Risk"
    r = engine.interpret(GenotypeEntry("HLA-B", diplotype="*57/*08:01"))  # allele group only
    assert r.status.value == "indeterminate" and "*57:01" in r.message
    r = engine.interpret(GenotypeEntry("HLA-B", diplotype="*44:02 positive"))
    assert r.status.value == "unknown_allele" and "*44:02" in r.message


def test_categories_and_ehr(engine):
    r = engine.interpret(GenotypeEntry("CYP2C19", diplotype="*17/*17"))
    assert (r.phenotype, r.category, r.ehr_priority) == ("Ultrarapid Metabolizer", Category.FAST,
                                                         "Abnormal/Priority/High Risk")
    r = engine.interpret(GenotypeEntry("CYP2C19", diplotype="*1/*1"))
    assert r.category is Category.NORMAL and r.ehr_priority == "Normal/Routine/Low Risk"
    assert engine.interpret(GenotypeEntry("G6PD", diplotype="A")).category is None
    assert engine.interpret(GenotypeEntry("CYP2D6", diplotype="*1/*22")).category is None


def test_g6pd_single_allele_warns_hemizygous(engine):
    r = engine.interpret(GenotypeEntry("G6PD", diplotype="A"))
    assert r.ok and any("hemizygous" in w for w in r.warnings)


def test_reordering_and_synonyms_are_warned(engine):
    r = engine.interpret(GenotypeEntry("CYP2C19", diplotype="*2/*1"))
    assert "reordered alleles" in r.warnings
    r = engine.interpret(GenotypeEntry("DPYD", diplotype="*2A/Reference"))
    assert any("c.1905+1G>A (*2A)" in w for w in r.warnings)


PHENOTYPES = [
    ("CYP2D6", "EM", "Normal Metabolizer", True),
    ("CYP2D6", "extensive metabolizer", "Normal Metabolizer", True),
    ("CYP2C19", "Extensive Metaboliser", "Normal Metabolizer", True),
    ("CYP2C19", "PM", "Poor Metabolizer", True),
    ("CYP2C19", "IM", "Intermediate Metabolizer", True),
    ("CYP2C19", "UM", "Ultrarapid Metabolizer", True),
    ("CYP2C19", "RM", "Rapid Metabolizer", True),
    ("CYP2C19", "poor metabolizer", "Poor Metabolizer", True),
    ("CYP2C19", "Poor Metabolizer", "Poor Metabolizer", False),
    ("CYP2C19", "CYP2C19 Poor Metabolizer", "Poor Metabolizer", False),
    ("SLCO1B1", "decreased function", "Decreased Function", True),
]


@pytest.mark.parametrize(("gene", "text", "phenotype", "warned"), PHENOTYPES)
def test_phenotype_input(engine, gene, text, phenotype, warned):
    r = engine.interpret(GenotypeEntry(gene, phenotype=text))
    assert r.ok and r.phenotype == phenotype and r.diplotype is None
    assert bool(r.warnings) == warned


def test_phenotype_lookup_keys_only_when_the_score_is_implied(engine):
    assert engine.interpret(GenotypeEntry("CYP2C9", phenotype="NM")).lookup_key == "2.0"
    assert engine.interpret(GenotypeEntry("DPYD", phenotype="Normal Metabolizer")).lookup_key == "2.0"
    assert engine.interpret(GenotypeEntry("CYP2C9", phenotype="IM")).lookup_key is None
    assert engine.interpret(GenotypeEntry("CYP2D6", phenotype="UM")).lookup_key is None


def test_phenotype_lookup_keys(engine):
    # CYP2D6 PM is exactly AS 0.0; NM spans 1.25-2.25 so the lookup key is not guessed
    assert engine.interpret(GenotypeEntry("CYP2D6", phenotype="PM")).lookup_key == "0.0"
    nm = engine.interpret(GenotypeEntry("CYP2D6", phenotype="NM"))
    assert nm.lookup_key is None and any("activity score" in w for w in nm.warnings)
    assert engine.interpret(GenotypeEntry("CYP2C19", phenotype="IM")).lookup_key == "Intermediate Metabolizer"
    r = engine.interpret(GenotypeEntry("HLA-B", phenotype="*57:01 positive"))
    assert r.lookup_key == "*57:01 positive"
    r = engine.interpret(GenotypeEntry("CYP2C19", phenotype="Indeterminate"))
    assert r.status.value == "indeterminate"


SCORES = [
    ("CYP2D6", "1.5", "ok", "1.5", "Normal Metabolizer"),
    ("CYP2D6", "1", "ok", "1.0", "Intermediate Metabolizer"),
    ("CYP2D6", "0.25", "ok", "0.25", "Intermediate Metabolizer"),
    ("CYP2D6", "≥3.0", "ok", "≥3.0", "Ultrarapid Metabolizer"),
    ("CYP2D6", ">=3", "ok", "≥3.0", "Ultrarapid Metabolizer"),
    ("CYP2D6", "0", "ok", "0.0", "Poor Metabolizer"),
    ("CYP2C9", "1.5", "ok", "1.5", "Intermediate Metabolizer"),
    ("DPYD", "2", "ok", "2.0", "Normal Metabolizer"),
    ("DPYD", "0.5", "ok", "0.5", "Poor Metabolizer"),
    ("CYP2D6", "n/a", "indeterminate", None, "Indeterminate"),
    ("DPYD", "0.25", "invalid", None, None),
    ("DPYD", "3.0", "invalid", None, None),
    ("CYP2D6", "1.3", "invalid", None, None),
    ("CYP2D6", "fast", "invalid", None, None),
    ("CYP2C19", "1.0", "invalid", None, None),
]


@pytest.mark.parametrize(("gene", "text", "status", "score", "phenotype"), SCORES)
def test_activity_score_input(engine, gene, text, status, score, phenotype):
    r = engine.interpret(GenotypeEntry(gene, activity_score=text))
    assert r.status.value == status, r.message
    assert r.activity_score == score
    assert r.phenotype == phenotype
    if status == "ok":
        assert r.lookup_key == score


def test_a_cyp2d6_score_above_cpics_exact_keys_says_the_bin_decides(engine):
    r = engine.interpret(GenotypeEntry("CYP2D6", activity_score="4.5"))
    assert (r.status.value, r.phenotype, r.lookup_key) == ("ok", "Ultrarapid Metabolizer", "4.5")
    assert r.warnings == ("CPIC writes CYP2D6 scores above 4.0 only as '≥' bins; guidance for 4.5 follows "
                          "CPIC's highest bin at or below it",)


GARBAGE = [
    (GenotypeEntry("CYP2D6", diplotype="*1/*999"), "unknown_allele", "*999"),
    (GenotypeEntry("CYP2C19", diplotype="*1/*2/*3"), "invalid", "two alleles"),
    (GenotypeEntry("CYP2C19", diplotype="*1"), "invalid", "two alleles"),
    (GenotypeEntry("CYP2C19", diplotype="!!!/???"), "invalid", "notation"),
    (GenotypeEntry("CYP2C19", diplotype=""), "invalid", "exactly one"),
    (GenotypeEntry("CYP2C19"), "invalid", "exactly one"),
    (GenotypeEntry("CYP2C19", diplotype="*1/*2", phenotype="IM"), "invalid", "exactly one"),
    (GenotypeEntry("CYP9Z9", diplotype="*1/*1"), "invalid", "CYP9Z9"),
    (GenotypeEntry("", diplotype="*1/*1"), "invalid", "gene"),
    (GenotypeEntry("CYP2C19", phenotype="Hyper Metabolizer"), "unknown_allele", "Hyper Metabolizer"),
    (GenotypeEntry("DPYD", diplotype="c.1905+1G>A"), "invalid", "two alleles"),
    (GenotypeEntry("DPYD", diplotype="c.9999A>G/Reference"), "unknown_allele", "c.9999A>G"),
    (GenotypeEntry("MT-RNR1", diplotype="m.1555A>G/Reference"), "invalid", "one"),
    (GenotypeEntry("VKORC1", diplotype="rs9923231 GG"), "unknown_allele", "G"),
    (GenotypeEntry("HLA-B", diplotype="banana"), "invalid", "HLA"),
    (GenotypeEntry("CYP2D6", diplotype="*1x99/*1"), "invalid", "out of range"),
    (GenotypeEntry("CYP2D6", diplotype="*10x≥3/*1"), "indeterminate", "*10x≥3"),
    (GenotypeEntry("G6PD", diplotype="A- 202/B"), "unknown_allele", "did you mean: A- 202A_376G"),
]


@pytest.mark.parametrize(("entry", "status", "named"), GARBAGE)
def test_bad_input_is_answered_not_raised(engine, entry, status, named):
    r = engine.interpret(entry)
    assert r.status.value == status, r.message
    assert named in (r.message or ""), r.message
    assert r.phenotype is None or status == "indeterminate"


def test_non_string_values_do_not_raise(engine):
    r = engine.interpret(GenotypeEntry("CYP2D6", diplotype=12))  # type: ignore[arg-type]
    assert r.status.value == "invalid"
    r = engine.interpret(GenotypeEntry(None, diplotype="*1/*1"))  # type: ignore[arg-type]
    assert r.status.value == "invalid"
    r = engine.interpret(GenotypeEntry("CYP2D6", diplotype=["*1"]))  # type: ignore[arg-type]
    assert r.status.value == "invalid"


def test_describe_and_gene_names_are_json(engine):
    assert "CYP2D6" in engine.gene_names and "HLA-B" in engine.gene_names
    d = engine.describe("cyp2d6")
    json.dumps(d, ensure_ascii=False)
    assert d["method"] == "activity_score" and d["derivation"]
    star1 = next(a for a in d["alleles"] if a["name"] == "*1")
    assert star1 == {"name": "*1", "function": "Normal function", "activity_value": "1.0"}
    assert engine.describe("IFNL3")["gene"] == "IFNL4"
    with pytest.raises(KeyError):
        engine.describe("NOPE")


def test_results_are_json_serialisable(engine):
    r = engine.interpret(GenotypeEntry("HLA-B", diplotype="*15:02/*57:01"))
    json.dumps(asdict(r), ensure_ascii=False)
