"""Sweep every gene result the engine can derive against every drug of that gene.

The results swept, gene by gene:

- every activity score in 0.25 steps from 0 to the highest score the engine derives for the gene
  (CYP2C9, DPYD: twice the largest allele value; CYP2D6: the top copy-number bin, ``≥6.0``, plus
  2.0 more, since a lab that counts copies can report a higher exact score), written both exactly
  (``3.25``) and, where the gene has CPIC's copy-number bins, as a bin (``≥3.25``); scores the
  engine refuses (``0.25`` for CYP2C9, whose values are multiples of 0.5) are counted, not run;
- every phenotype of the gene's table as a lab-called phenotype (HLA: each risk allele's
  ``positive`` / ``negative`` carrier result, run only against the drugs keyed on that allele);
- every diplotype of CPIC's diplotype -> phenotype tables (PharmCAT's where the conformance run
  of phenotypes uses it), needing ``<shared>/reference-data``; without it that part is skipped,
  saying so.

Each result is run against every drug whose guideline uses the gene. A drug that needs a second
gene gets that gene's normal result (two copies of its first normal-function allele; HLA: every
risk allele negative; single-SNP genes: no variant copy), so the swept gene is the one that
decides the row. An answer fails when, for a result the engine called ``ok``:

- its status is ``not_in_guideline`` (a result the engine derives must map to a CPIC row), or
  ``missing_genes`` (every gene was given);
- its direction is ``none`` while CPIC's row makes a recommendation (CPIC's own "No
  recommendation" rows, told apart by their classification, or, with the shared data, by CPIC's
  text beginning "No recommendation", are ``none`` legitimately).

``indeterminate`` answers (a lab-called phenotype that spans activity scores with different
recommendations, so the answer asks for the score) are counted and listed, not failed.

    .venv/bin/python scripts/conformance_sweep.py [--show N]

Exit status 1 on any failure; the shared data is looked for in $PGX_SHARED_DIR (default
``<repo>/../shared``).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for p in (REPO, REPO / "scripts"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from conformance_phenotypes import load_rows, shared_dir  # noqa: E402

from service.pgx.knowledge import KnowledgeBase  # noqa: E402
from service.pgx.notation import format_score, parse_activity_score  # noqa: E402
from service.pgx.results import Direction, GeneResult, GeneStatus, GenotypeEntry, GuidanceStatus  # noqa: E402

NO_RECOMMENDATION = "No Recommendation"
OPEN_TOP_MARGIN = 8  # quarters x 4: 2.0 above the top bin for genes whose top band is open


@dataclass
class Tally:
    results: Counter = field(default_factory=Counter)  # kind -> results run
    not_run: Counter = field(default_factory=Counter)  # gene status -> results not ok
    answers: int = 0
    passed: int = 0
    indeterminate: int = 0
    failures: list[str] = field(default_factory=list)
    indeterminate_examples: list[str] = field(default_factory=list)


def _quarters(value: str) -> int:
    parsed = parse_activity_score(value)
    assert isinstance(parsed, tuple), value
    return parsed[0]


def score_inputs(table: dict[str, Any]) -> list[str]:
    """Every activity score in 0.25 steps up to the gene's highest derivable score (see above)."""
    values = [_quarters(a["activity_value"]) for a in table["alleles"] if a.get("activity_value")]
    top = 2 * max(values)
    cn = table.get("copy_number")
    if cn:  # CPIC's '≥' bins: the top one is two alleles of the highest value at bin_from copies
        top = 2 * max(values) * cn["bin_from"] + OPEN_TOP_MARGIN
    out = [format_score(q) for q in range(top + 1)]
    if cn:
        out += [format_score(q, True) for q in range(4 * cn["bin_from"], top + 1)]
    return out


def phenotype_inputs(table: dict[str, Any]) -> list[GenotypeEntry]:
    gene = table["gene"]
    if table["method"] == "carrier_status":
        return [GenotypeEntry(gene, diplotype=f"{r['allele']} {s}")
                for r in table["risk_alleles"] for s in ("positive", "negative")]
    display = table.get("phenotype_display", {})
    return [GenotypeEntry(gene, phenotype=display.get(p["name"], p["name"])) for p in table["phenotypes"]]


def normal_entry(table: dict[str, Any]) -> GenotypeEntry:
    """The gene's normal result, given beside a swept gene for a two-gene drug."""
    gene, method = table["gene"], table["method"]
    if method == "carrier_status":
        return GenotypeEntry(gene, diplotype="; ".join(f"{r['allele']} negative" for r in table["risk_alleles"]))
    if method == "rsid_genotype":
        return GenotypeEntry(gene, diplotype=next(g["diplotype"] for g in table["genotypes"]
                                                   if g["variant_copies"] == 0))
    allele = next(a["name"] for a in table["alleles"] if a["function"].lower() in ("normal function", "iv/normal"))
    return GenotypeEntry(gene, diplotype=allele if method == "single_allele" else f"{allele}/{allele}")


def cpic_none_ids(shared: Path) -> set[str]:
    """recommendation ids (per drug) whose CPIC text makes no recommendation."""
    path = shared / "reference-data/cpic/recommendations.tsv"
    with path.open(encoding="utf-8", newline="") as f:
        return {f"{r['recommendation_id']}:{r['drug']}" for r in csv.DictReader(f, delimiter="\t")
                if r["recommendation_text"].strip().lower().startswith("no recommendation")}


class Sweep:
    def __init__(self, kb: KnowledgeBase, none_ids: set[str]):
        self.kb = kb
        self.none_ids = none_ids
        self.tables = kb.payload["genes"]
        self.normal: dict[str, GeneResult] = {}
        for drug in kb.matcher.drugs:
            for gene in kb.matcher.genes_for(drug) if len(kb.matcher.genes_for(drug)) > 1 else ():
                r = kb.interpret(normal_entry(self.tables[gene]))
                if r.status is not GeneStatus.OK:
                    raise SystemExit(f"sweep: the normal {gene} result ({r.input}) is {r.status.value}: {r.message}")
                self.normal[gene] = r
        self.tally: dict[str, Tally] = defaultdict(Tally)
        self._memo: dict[tuple, list[tuple[str, str, str | None]]] = {}

    def run(self, gene: str, kind: str, entry: GenotypeEntry) -> None:
        t = self.tally[gene]
        r = self.kb.interpret(entry)
        if r.status is not GeneStatus.OK:
            t.not_run[r.status.value] += 1
            return
        t.results[kind] += 1
        key = (gene, r.phenotype, r.activity_score, r.lookup_key, tuple(sorted(r.allele_status.items())))
        verdicts = self._memo.get(key)
        if verdicts is None:
            verdicts = self._memo[key] = self._judge(gene, r)
        shown = f"{gene} {kind} {r.input!r}"
        for verdict, drug, why in verdicts:
            t.answers += 1
            if verdict == "pass":
                t.passed += 1
            elif verdict == "indeterminate":
                t.indeterminate += 1
                t.indeterminate_examples.append(f"{shown} + {drug}: {why}")
            else:
                t.failures.append(f"{shown} + {drug}: {why}")

    def _states(self, gene: str, r: GeneResult, drug: str) -> bool:
        """False for an HLA carrier result that does not state the risk allele the drug is keyed on
        ('*15:02 positive' says nothing of abacavir's *57:01): not a result for that drug."""
        if not r.allele_status or len(r.allele_status) == len(self.tables[gene]["risk_alleles"]):
            return True
        keys = {row["lookup"][gene] for row in self.kb.matcher.describe(drug)["guidance"]}
        return bool(keys & set(r.allele_status.values()))

    def _judge(self, gene: str, r: GeneResult) -> list[tuple[str, str, str | None]]:
        out = []
        for drug in self.kb.matcher.drugs_for_genes([gene]):
            if not self._states(gene, r, drug):
                continue
            given = [r] + [self.normal[g] for g in self.kb.matcher.genes_for(drug) if g != gene]
            for d in self.kb.guidance([drug], given):
                label = f"{drug} ({d.population})"
                if d.status in (GuidanceStatus.NOT_IN_GUIDELINE, GuidanceStatus.MISSING_GENES):
                    out.append(("fail", label, f"{d.status.value}, direction {d.direction.value}: {d.message}"))
                elif d.status is GuidanceStatus.INDETERMINATE:
                    out.append(("indeterminate", label, d.message))
                elif d.direction is Direction.NONE and not (
                        d.classification == NO_RECOMMENDATION or f"{d.recommendation_id}:{drug}" in self.none_ids):
                    out.append(("fail", label, f"direction none where CPIC recommends ({d.classification}, "
                                               f"row {d.recommendation_id}, looked up by {d.genes})"))
                else:
                    out.append(("pass", label, None))
        return out


def run(kb: KnowledgeBase, shared: Path | None) -> Sweep:
    """Sweep scores and phenotypes, and CPIC's diplotypes when `shared` is given."""
    sweep = Sweep(kb, cpic_none_ids(shared) if shared else set())
    for gene, table in sorted(sweep.tables.items()):
        if table["method"] == "activity_score":
            for score in score_inputs(table):
                sweep.run(gene, "score", GenotypeEntry(gene, activity_score=score))
        for entry in phenotype_inputs(table):
            sweep.run(gene, "phenotype", entry)
    if shared:
        for row in load_rows(shared):
            sweep.run(row.gene, "diplotype", GenotypeEntry(row.gene, diplotype=row.diplotype))
    return sweep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--show", type=int, default=20, help="how many failures to print")
    args = ap.parse_args(argv)
    shared = shared_dir()
    have_shared = (shared / "reference-data").is_dir()
    if not have_shared:
        print(f"sweep: shared reference data not found at {shared} (set PGX_SHARED_DIR); CPIC's diplotypes "
              "are not swept, only activity scores and phenotypes")
    sweep = run(KnowledgeBase.from_directory(REPO / "reference_tables"), shared if have_shared else None)

    print(f"{'gene':<9} {'scores':>7} {'phenos':>7} {'diplos':>7} {'not ok':>7} {'answers':>8} {'pass':>8} "
          f"{'indet':>6} {'FAIL':>6}")
    total = Tally()
    for gene in sorted(sweep.tally):
        t = sweep.tally[gene]
        print(f"{gene:<9} {t.results['score']:>7} {t.results['phenotype']:>7} {t.results['diplotype']:>7} "
              f"{sum(t.not_run.values()):>7} {t.answers:>8} {t.passed:>8} {t.indeterminate:>6} "
              f"{len(t.failures):>6}")
        total.results.update(t.results)
        total.not_run.update(t.not_run)
        total.answers += t.answers
        total.passed += t.passed
        total.indeterminate += t.indeterminate
        total.failures += t.failures
        total.indeterminate_examples += t.indeterminate_examples
    print(f"{'TOTAL':<9} {total.results['score']:>7} {total.results['phenotype']:>7} "
          f"{total.results['diplotype']:>7} {sum(total.not_run.values()):>7} {total.answers:>8} "
          f"{total.passed:>8} {total.indeterminate:>6} {len(total.failures):>6}")
    print("not ok results (not run against drugs): "
          + (", ".join(f"{k} {v}" for k, v in sorted(total.not_run.items())) or "none"))
    if total.indeterminate_examples:
        print(f"\n{total.indeterminate} indeterminate answer(s), e.g.:")
        for msg in dict.fromkeys(total.indeterminate_examples[: args.show]):
            print("  " + msg)
    if total.failures:
        print(f"\n{len(total.failures)} failing answer(s) for results the engine called ok:")
        for msg in total.failures[: args.show]:
            print("  " + msg)
        return 1
    print("\nevery ok result maps to a CPIC row for every drug of its gene")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
