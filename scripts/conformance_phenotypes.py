"""Run every CPIC (and, where CPIC's file lacks a gene, PharmCAT) diplotype row through the engine.

Compares phenotype, activity score, EHR priority (where the source gives one) and the normalized
diplotype (CPIC's canonical spelling and order). Prints a per-gene agreement table and exits
non-zero on any disagreement not listed in reference_tables/conformance_exceptions.yaml.

    .venv/bin/python scripts/conformance_phenotypes.py [--show N]

The shared data lives in $PGX_SHARED_DIR (default: <repo>/../shared); without it the check skips.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from service.pgx.engine import PhenotypeEngine  # noqa: E402
from service.pgx.genes import load_gene_tables  # noqa: E402
from service.pgx.results import GenotypeEntry  # noqa: E402

# CPIC's SLCO1B1 CSV predates the 2025 update, and these genes have no CPIC CSV here: use PharmCAT.
PHARMCAT_GENES = ("SLCO1B1", "G6PD", "NAT2", "MT-RNR1", "RYR1", "CACNA1S", "ABCG2", "CFTR")
CPIC_GENE_NAMES = {"CYP2C cluster": "CYP2C"}


def shared_dir() -> Path:
    return Path(os.environ.get("PGX_SHARED_DIR", REPO.parent / "shared"))


@dataclass
class Row:
    gene: str
    diplotype: str
    phenotype: str
    activity_score: str | None
    ehr: str | None
    check_ehr: bool
    source: str


@dataclass
class GeneTally:
    rows: int = 0
    agree: int = 0
    explained: int = 0
    problems: list[str] = field(default_factory=list)


def _tsv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def load_rows(shared: Path) -> list[Row]:
    rd = shared / "reference-data"
    rows: list[Row] = []
    for r in _tsv(rd / "cpic/diplotype_phenotype.tsv"):
        cg = r["gene"]
        if cg == "SLCO1B1":
            continue
        gene = CPIC_GENE_NAMES.get(cg, cg)
        pheno = r["phenotype"]
        if cg == "HLA":
            gene = r["diplotype"].split("*")[0]
            pheno = pheno.removeprefix(gene)
        else:
            for prefix in (cg + " ", "CYP2C "):
                pheno = pheno.removeprefix(prefix)
        score = None if r["activity_score"] in ("n/a", "") else r["activity_score"]
        ehr = None if r["ehr_priority_notation"].lower() in ("none", "") else r["ehr_priority_notation"]
        rows.append(Row(gene, r["diplotype"], pheno, score, ehr, True, "cpic/diplotype_phenotype.tsv"))
    for r in _tsv(rd / "pharmcat/diplotype_phenotype.tsv"):
        if r["gene"] in PHARMCAT_GENES:
            rows.append(Row(r["gene"], r["diplotype"], r["phenotype"], r["activity_score"] or None, None, False,
                            "pharmcat/diplotype_phenotype.tsv"))
    return rows


def load_exceptions(path: Path = REPO / "reference_tables/conformance_exceptions.yaml") -> dict:
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {(e["gene"], e["diplotype"]): e for e in data.get("exceptions") or []}


def compare(engine: PhenotypeEngine, row: Row) -> list[str]:
    """Differences between our result and the source row (empty = agree)."""
    r = engine.interpret(GenotypeEntry(row.gene, diplotype=row.diplotype))
    diffs = []
    ours_pheno = r.phenotype
    want_pheno = row.phenotype
    if row.gene == "MT-RNR1":  # CONTRACT title-cases it; the lookup key keeps CPIC's lower case
        ours_pheno, want_pheno = r.lookup_key, row.phenotype
    if ours_pheno != want_pheno:
        diffs.append(f"phenotype {ours_pheno!r} != {want_pheno!r}")
    if r.activity_score != row.activity_score:
        diffs.append(f"activity score {r.activity_score!r} != {row.activity_score!r}")
    # CPIC's CYP2D6 file spells 'Normal/Routine/ Low Risk'; we emit one spelling for every gene
    if row.check_ehr and r.ehr_priority != (row.ehr.replace("/ ", "/") if row.ehr else None):
        diffs.append(f"EHR priority {r.ehr_priority!r} != {row.ehr!r}")
    want_diplo = row.diplotype.removeprefix(row.gene) if row.gene.startswith("HLA") else row.diplotype
    if r.diplotype != want_diplo:
        diffs.append(f"diplotype {r.diplotype!r} != {want_diplo!r}")
    want_status = "indeterminate" if row.phenotype == "Indeterminate" else "ok"
    if r.status.value != want_status:
        diffs.append(f"status {r.status.value} != {want_status} ({r.message})")
    return diffs


def run(shared: Path) -> tuple[dict[str, GeneTally], list[str]]:
    engine = PhenotypeEngine.from_gene_tables(load_gene_tables(REPO / "reference_tables/genes"))
    exceptions = load_exceptions()
    tally: dict[str, GeneTally] = defaultdict(GeneTally)
    unexplained: list[str] = []
    for row in load_rows(shared):
        t = tally[row.gene]
        t.rows += 1
        diffs = compare(engine, row)
        if not diffs:
            t.agree += 1
        elif (row.gene, row.diplotype) in exceptions:
            t.explained += 1
        else:
            msg = f"{row.gene} {row.diplotype}: " + "; ".join(diffs)
            t.problems.append(msg)
            unexplained.append(msg)
    return dict(tally), unexplained


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--show", type=int, default=20, help="how many disagreements to print")
    args = ap.parse_args(argv)
    shared = shared_dir()
    if not (shared / "reference-data").is_dir():
        print(f"conformance: shared reference data not found at {shared} (set PGX_SHARED_DIR); skipping")
        return 0
    tally, unexplained = run(shared)
    print(f"{'gene':<10} {'rows':>7} {'agree':>7} {'%':>8} {'excepted':>9}  source")
    total = GeneTally()
    for gene in sorted(tally):
        t = tally[gene]
        src = "pharmcat" if gene in PHARMCAT_GENES else "cpic"
        print(f"{gene:<10} {t.rows:>7} {t.agree:>7} {100 * t.agree / t.rows:>7.2f}% {t.explained:>9}  {src}")
        total.rows += t.rows
        total.agree += t.agree
        total.explained += t.explained
    print(f"{'TOTAL':<10} {total.rows:>7} {total.agree:>7} {100 * total.agree / total.rows:>7.2f}% "
          f"{total.explained:>9}")
    if unexplained:
        print(f"\n{len(unexplained)} unexplained disagreement(s):")
        for msg in unexplained[: args.show]:
            print("  " + msg)
        return 1
    print("\nall rows agree (or are documented exceptions)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
