"""Lab names for alleles (issue 13 item 4): read as CPIC's allele, with a warning saying as what;
a name that stands for alleles of different function is refused, never guessed."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from service.pgx.engine import PhenotypeEngine
from service.pgx.genes import TableError, load_gene_tables, validate_gene_table
from service.pgx.guidance import GuidanceMatcher
from service.pgx.guidelines import load_guidelines
from service.pgx.results import Direction, GeneStatus, GenotypeEntry, GuidanceStatus

TABLES = Path(__file__).resolve().parents[2] / "reference_tables"
A_MINUS = ("lab name 'A-' read as G6PD A-: any of A- 202A_376G, A- 680T_376G, A- 968C_376G, all III/Deficient, "
           "so the phenotype does not depend on which")


@pytest.fixture(scope="module")
def tables() -> dict:
    return load_gene_tables(TABLES / "genes")


@pytest.fixture(scope="module")
def engine(tables) -> PhenotypeEngine:
    return PhenotypeEngine.from_gene_tables(tables)


def _read(engine, gene, diplotype):
    return engine.interpret(GenotypeEntry(gene, diplotype=diplotype))


# G6PD 'A-': every shape a lab sends it in
A_MINUS_CASES = [
    ("A-", "A-", "Deficient"),  # male, hemizygous
    ("G6PD A-", "A-", "Deficient"),
    ("A-/B", "A-/B (reference)", "Variable"),  # heterozygous female
    ("B (wildtype)/A-", "A-/B (reference)", "Variable"),
    ("A-/A-", "A-/A-", "Deficient"),
    ("A-/A- 202A_376G", "A-/A- 202A_376G", "Deficient"),
    ("A-/Mediterranean", "A-/Mediterranean, Dallas, Panama, Sassari, Cagliari, Birmingham", "Deficient"),
    ("A+/A-", "A/A-", "Variable"),
]


@pytest.mark.parametrize(("text", "diplotype", "phenotype"), A_MINUS_CASES)
def test_g6pd_a_minus_is_read_and_warned(engine, text, diplotype, phenotype):
    r = _read(engine, "G6PD", text)
    assert (r.status, r.diplotype, r.phenotype) == (GeneStatus.OK, diplotype, phenotype), r.message
    assert A_MINUS in r.warnings


def test_a_minus_has_the_phenotype_of_each_cpic_a_minus_allele(engine):
    for allele in ("A- 202A_376G", "A- 680T_376G", "A- 968C_376G"):
        for other in ("", "/B (reference)", "/Mediterranean Haplotype"):
            named = _read(engine, "G6PD", allele + other)
            lab = _read(engine, "G6PD", "A-" + other)
            assert (lab.phenotype, lab.lookup_key, lab.status) == (named.phenotype, named.lookup_key, named.status)


# lab names that name exactly one CPIC allele: gene, input, normalized diplotype, phenotype, warning
SYNONYMS = [
    ("G6PD", "A+", "A", "Normal", "'A+' read as G6PD A"),
    ("G6PD", "B/B", "B (reference)/B (reference)", "Normal", "'B' read as G6PD B (reference)"),
    ("G6PD", "B (wildtype)/B (wildtype)", "B (reference)/B (reference)", "Normal",
     "'B (wildtype)' read as G6PD B (reference)"),
    ("G6PD", "Mediterranean", "Mediterranean, Dallas, Panama, Sassari, Cagliari, Birmingham", "Deficient",
     "'Mediterranean' read as G6PD Mediterranean, Dallas, Panama, Sassari, Cagliari, Birmingham"),
    ("G6PD", "Canton/B", "B (reference)/Canton, Taiwan-Hakka, Gifu-like, Agrigento-like", "Variable",
     "'Canton' read as G6PD Canton, Taiwan-Hakka, Gifu-like, Agrigento-like"),
    ("G6PD", "Kaiping", "Kaiping, Anant, Dhon, Sapporo-like, Wosera", "Deficient",
     "'Kaiping' read as G6PD Kaiping, Anant, Dhon, Sapporo-like, Wosera"),
    ("DPYD", "IVS14+1G>A/*1", "c.1905+1G>A (*2A)/Reference", "Intermediate Metabolizer",
     "'IVS14+1G>A' read as DPYD c.1905+1G>A (*2A)"),
    ("DPYD", "D949V/Reference", "c.2846A>T/Reference", "Intermediate Metabolizer", "'D949V' read as DPYD c.2846A>T"),
    ("DPYD", "p.Asp949Val/Reference", "c.2846A>T/Reference", "Intermediate Metabolizer",
     "'p.Asp949Val' read as DPYD c.2846A>T"),
    ("DPYD", "p.I560S/p.D949V", "c.1679T>G (*13)/c.2846A>T", "Poor Metabolizer",
     "'p.I560S' read as DPYD c.1679T>G (*13)"),
    ("DPYD", "p.Ile560Ser/Reference", "c.1679T>G (*13)/Reference", "Intermediate Metabolizer",
     "'p.Ile560Ser' read as DPYD c.1679T>G (*13)"),
    ("UGT1A1", "[*80 + *28]/*1", "*1/*80+*28", "Intermediate Metabolizer", "'[*80 + *28]' read as UGT1A1 *80+*28"),
    ("UGT1A1", "*1/[*80+*37]", "*1/*80+*37", "Intermediate Metabolizer", "'[*80+*37]' read as UGT1A1 *80+*37"),
]


@pytest.mark.parametrize(("gene", "text", "diplotype", "phenotype", "warning"), SYNONYMS)
def test_lab_synonyms_are_read_and_warned(engine, gene, text, diplotype, phenotype, warning):
    r = _read(engine, gene, text)
    assert (r.status, r.diplotype, r.phenotype) == (GeneStatus.OK, diplotype, phenotype), r.message
    assert warning in r.warnings


def test_a_minus_answers_the_g6pd_drugs_as_deficient(engine):
    matcher = GuidanceMatcher.from_guidelines(load_guidelines(TABLES / "guidelines"))
    lab = _read(engine, "G6PD", "A-")
    named = _read(engine, "G6PD", "A- 202A_376G")
    for drug in matcher.drugs_for_genes(["G6PD"]):
        got = matcher.guidance([drug], {"G6PD": lab})
        want = matcher.guidance([drug], {"G6PD": named})
        assert [(g.status, g.direction, g.recommendation_id) for g in got] == [
            (g.status, g.direction, g.recommendation_id) for g in want], drug
        assert all(g.status is not GuidanceStatus.NOT_IN_GUIDELINE for g in got)
    [rasburicase] = matcher.guidance(["rasburicase"], {"G6PD": lab})
    assert rasburicase.genes == {"G6PD": "Deficient"} and rasburicase.direction is not Direction.NONE


def _g6pd_with(tables, lab_name: dict) -> PhenotypeEngine:
    t = copy.deepcopy(tables)
    t["G6PD"]["lab_names"] = [lab_name]
    return PhenotypeEngine.from_gene_tables(t)


def test_a_lab_name_for_alleles_of_different_function_is_refused(tables):
    eng = _g6pd_with(tables, {"name": "Chinese", "alleles": ["Chinese-1", "Chinese-5"], "synonyms": [],
                              "reason": "a test: two alleles of different class"})
    for text in ("Chinese", "Chinese/B", "B/chinese"):
        r = _read(eng, "G6PD", text)
        assert r.status is GeneStatus.UNKNOWN_ALLELE and r.phenotype is None, text
        assert "is a lab name for G6PD alleles of different function" in r.message
        assert "Chinese-1: II/Deficient; Chinese-5: III/Deficient" in r.message


def test_a_lab_name_of_one_function_is_read_as_a_group(tables):
    eng = _g6pd_with(tables, {"name": "Chinese", "alleles": ["Chinese-1", "Canton, Taiwan-Hakka, Gifu-like, "
                                                             "Agrigento-like"], "synonyms": ["Chinese (II)"],
                              "reason": "a test: two alleles of one class"})
    r = _read(eng, "G6PD", "Chinese (II)/B")
    assert (r.status, r.diplotype, r.phenotype) == (GeneStatus.OK, "B (reference)/Chinese", "Variable")
    assert any(w.startswith("lab name 'Chinese (II)' read as G6PD Chinese: any of Chinese-1, Canton") for w in r.warnings)


def _g6pd_yaml() -> dict:
    return yaml.safe_load((TABLES / "genes/G6PD.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("lab_name", "reason"), [
    ({"name": "X", "alleles": ["A- 202A_376G", "Nowhere"], "reason": "names an allele CPIC lacks"}, "is not an allele"),
    ({"name": "X", "alleles": ["A- 202A_376G", "Mediterranean"], "reason": "a synonym is not an allele"},
     "is not an allele"),
    ({"name": "Canton", "alleles": ["A- 202A_376G", "A- 680T_376G"], "reason": "name taken by a synonym"},
     "already a spelling of"),
    ({"name": "a -", "alleles": ["A- 202A_376G", "A- 680T_376G"], "reason": "same key as the A- lab name"},
     "already a spelling of"),
    ({"name": "X", "alleles": ["A- 202A_376G"], "reason": "one allele is a synonym, not a lab name"}, "alleles"),
    ({"name": "X", "alleles": ["A- 202A_376G", "A- 680T_376G"], "reason": "short"}, "reason"),
])
def test_broken_lab_names_are_refused(lab_name, reason):
    t = _g6pd_yaml()
    t["lab_names"] = [*t["lab_names"], lab_name]
    with pytest.raises(TableError, match=reason):
        validate_gene_table(t, "G6PD.yaml")


# HLA as labs write it: the locus on every allele, and the pre-2010 names without colons (HLA-B*5701)
HLA_CASES = [
    ("HLA-B", "diplotype", "B*57:01 positive", "*57:01 positive", None),
    ("HLA-B", "diplotype", "HLA-B*57:01 negative; HLA-B*58:01 positive", "*57:01 negative; *58:01 positive", None),
    ("HLA-B", "phenotype", "B*57:01 positive", "*57:01 positive", None),
    ("HLA-B", "diplotype", "HLA-B*5701 positive", "*57:01 positive", "*5701"),
    ("HLA-B", "phenotype", "HLA-B*5701 positive", "*57:01 positive", "*5701"),
    ("HLA-B", "diplotype", "B*5801 negative", "*58:01 negative", "*5801"),
    ("HLA-A", "diplotype", "*3101 positive", "*31:01 positive", "*3101"),
    ("HLA-B", "diplotype", "*5701/*0702", "*07:02/*57:01", "*5701"),
]


@pytest.mark.parametrize(("gene", "kind", "text", "diplotype", "old"), HLA_CASES)
def test_hla_lab_spellings(engine, gene, kind, text, diplotype, old):
    r = engine.interpret(GenotypeEntry(gene, **{kind: text}))
    assert (r.status, r.diplotype) == (GeneStatus.OK, diplotype), r.message
    if old:
        new = f"*{old[1:3]}:{old[3:]}"
        assert f"{old} (HLA nomenclature before 2010, fields without colons) read as {new}" in r.warnings
    else:
        assert r.warnings == ()


def test_hla_typed_pair_from_old_names_gives_the_same_risk_as_new_ones(engine):
    old = engine.interpret(GenotypeEntry("HLA-B", diplotype="*5701/*0702"))
    new = engine.interpret(GenotypeEntry("HLA-B", diplotype="*57:01/*07:02"))
    assert old.allele_status == new.allele_status and old.phenotype == new.phenotype


@pytest.mark.parametrize(("gene", "text", "status", "named"), [
    ("HLA-B", "A*31:01 positive", GeneStatus.INVALID, "names an HLA-A allele, not HLA-B"),
    ("HLA-B", "*57:01 positive; A*31:01 negative", GeneStatus.INVALID, "names an HLA-A allele, not HLA-B"),
    # five digits without colons split more than one way (15:021 or 150:21): refused, not guessed
    ("HLA-B", "*15021 positive", GeneStatus.INVALID, "'*15021' is not an HLA allele"),
    ("HLA-B", "*570101/*0702", GeneStatus.INVALID, "'*570101' is not an HLA allele"),
])
def test_hla_spellings_that_are_refused(engine, gene, text, status, named):
    r = engine.interpret(GenotypeEntry(gene, diplotype=text))
    assert r.status is status and named in r.message
