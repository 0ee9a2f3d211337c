"""The engine's quick path ('A/B' with canonical names) must answer exactly as the full parser.

`PhenotypeEngine.interpret` tries `_Gene.quick` first; `PhenotypeEngine._interpret` is the full
parser and never takes the quick path, so comparing the two on every field is the check.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import FrozenInstanceError, asdict, replace
from pathlib import Path

import pytest

from service.pgx.engine import PhenotypeEngine
from service.pgx.genes import load_gene_tables
from service.pgx.results import Category, GeneResult, GeneStatus, GenotypeEntry, build_gene_result

GENES_DIR = Path(__file__).resolve().parents[2] / "reference_tables/genes"


@pytest.fixture(scope="module")
def engine() -> PhenotypeEngine:
    return PhenotypeEngine.from_gene_tables(load_gene_tables(GENES_DIR))


def test_built_result_is_a_plain_frozen_gene_result():
    args = ("CYP2D6", "*1/*4", GeneStatus.OK, "*1/*4", "Intermediate Metabolizer", "1.0", Category.SLOW, "1.0",
            {}, "Abnormal/Priority/High Risk", ("w",), None)
    built, plain = build_gene_result(*args), GeneResult(*args)
    assert type(built) is GeneResult
    assert built == plain and asdict(built) == asdict(plain) and repr(built) == repr(plain)
    with pytest.raises(FrozenInstanceError):
        built.phenotype = "Poor Metabolizer"  # type: ignore[misc]
    assert replace(built, input="x").input == "x" and built.input == "*1/*4"


def _pairs(names: list[str], rng: random.Random, limit: int = 1500) -> list[tuple[str, str]]:
    every = list(itertools.product(names, repeat=2))
    return every if len(every) <= limit else rng.sample(every, limit)


@pytest.mark.parametrize("gene", ["CYP2D6", "CYP2C9", "CYP2C19", "CYP2B6", "DPYD", "TPMT", "NUDT15", "UGT1A1",
                                  "SLCO1B1", "NAT2", "G6PD", "CFTR", "RYR1", "CACNA1S", "ABCG2", "CYP3A5", "CYP4F2"])
def test_quick_path_answers_exactly_as_the_full_parser(engine, gene):
    g = engine._genes[gene]
    assert g.fast, f"{gene} has no quick path"
    rng = random.Random(gene)
    names = sorted(g.fast)
    if g.tandem_parts:  # tandems of two or three parts ('*36+*10', '*13+*1x2+*4')
        parts = sorted(g.tandem_parts)
        names += ["+".join(rng.sample(parts, rng.choice((2, 3)))) for _ in range(300)]
    answered = 0
    for a, b in _pairs(names, rng):
        entry = GenotypeEntry(gene, diplotype=f"{a}/{b}")
        quick = g.quick(entry.diplotype)
        full = engine._interpret(entry)
        if quick is not None:
            answered += 1
            assert asdict(quick) == asdict(full), entry
        assert asdict(engine.interpret(entry)) == asdict(full), entry
    assert answered > 0


def test_quick_path_leaves_everything_else_to_the_full_parser(engine):
    g = engine._genes["CYP2D6"]
    assert g.quick("*1/*36+*10") is not None  # a tandem of known parts
    for text in ("*1 /*2", "*1/*2/*4", "CYP2D6*1/*2", "*1/*1xN", "*1", "*1/", "/*1", "*1/*999",
                 "*1/*1x5", " *1/*2", "*1/*2 ", "*1//*2"):
        assert g.quick(text) is None, text
    g6pd = engine._genes["G6PD"]
    assert g6pd.quick("Telti/Kobe") is None  # one allele whose name holds a '/'
    assert g6pd.quick("A") is not None  # one allele of an X-linked gene: hemizygous


def test_memo_keeps_an_answer_from_the_second_sighting_on():
    fresh = PhenotypeEngine.from_gene_tables(load_gene_tables(GENES_DIR))
    entry = GenotypeEntry("CYP2D6", diplotype="*1/*4")
    first, second, third = (fresh.interpret(GenotypeEntry("CYP2D6", diplotype="*1/*4")) for _ in range(3))
    assert first == second == third and first.phenotype == "Intermediate Metabolizer"
    assert first is not second  # the first sighting only noted the key
    assert third is second  # from the second on: the memo's answer
    assert fresh.interpret(entry) is second
    # unhashable field values are answered, never memoized
    odd = fresh.interpret(GenotypeEntry("CYP2D6", diplotype=["*1/*4"]))  # type: ignore[arg-type]
    assert odd.status is GeneStatus.INVALID
