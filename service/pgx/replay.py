"""Replaying an answered input against two knowledge releases, to say what a new release changes.

An audit record keeps the normalized input (gene entries as given, the drugs asked, the patient's
medications, the guideline sources) and the release that answered it. `replay` answers that input
again with the record's own release (the "before": every stored release is kept, so a past answer
is reproduced exactly, dose factor included) and with the release under review (the "after"), and
returns one `Difference` per drug and population whose answer moved (its status, direction,
classification, dose factor, frequency, or the guideline row that answered; a gene result that
moved without changing a drug's answer is context, not a difference). An answer that asked for no
drug differs when a gene result moved. Pure: knowledge bases and the input in, differences out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.pgx.knowledge import KnowledgeBase
from service.pgx.results import DrugGuidance, GeneResult, GenotypeEntry

ENTRY_KEYS = ("diplotype", "phenotype", "activity_score")


@dataclass(frozen=True)
class Difference:
    genes: tuple[str, ...]
    drug: str | None
    population: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def _entries(data: dict[str, Any]) -> list[GenotypeEntry]:
    out = []
    for e in data.get("genotypes") or ():
        given = {k: e[k] for k in ENTRY_KEYS if e.get(k) is not None}
        out.append(GenotypeEntry(gene=e.get("gene", ""), **given))
    return out


def _gene_view(r: GeneResult) -> dict[str, Any]:
    return {"phenotype": r.phenotype, "activity_score": r.activity_score,
            "category": r.category.value if r.category else None, "status": r.status.value}


def _answer(kb: KnowledgeBase, data: dict[str, Any]) -> tuple[dict[str, dict], dict[tuple, dict]]:
    results = [kb.interpret(e) for e in _entries(data)]
    conversions: list = []
    if data.get("medications"):
        conversions, _ = kb.phenoconvert(results, kb.read_medications(list(data["medications"])))
    shown = {c.gene: c.result for c in conversions if c.converted}
    genes = {r.gene: _gene_view(shown.get(r.gene, r)) for r in results}
    rows: dict[tuple, dict] = {}
    guidance: list[DrugGuidance] = kb.guidance(data.get("drugs"), results, conversions)
    for g in guidance:
        involved = sorted(g.genes) or sorted(genes)
        rows[(g.drug, g.population)] = {
            "genes": {n: genes[n] for n in involved if n in genes},
            "looked_up_by": dict(g.genes),
            "recommendation_id": g.recommendation_id,
            "status": g.status.value, "direction": g.direction.value,
            "classification": g.classification, "dose_factor": g.dose_factor,
            "frequency": getattr(g, "frequency", None),
        }
    return genes, rows


def _decision(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the prescriber was told for the drug: the gene views beside it are context."""
    return None if row is None else {k: v for k, v in row.items() if k not in ("genes", "looked_up_by")}


def replay(data: dict[str, Any], before: KnowledgeBase, after: KnowledgeBase) -> list[Difference]:
    genes_a, rows_a = _answer(before, data)
    genes_b, rows_b = _answer(after, data)
    out: list[Difference] = []
    for key in [*rows_a, *(k for k in rows_b if k not in rows_a)]:
        a, b = rows_a.get(key), rows_b.get(key)
        if _decision(a) != _decision(b):
            names = tuple(sorted(set((a or {}).get("genes", {})) | set((b or {}).get("genes", {}))))
            out.append(Difference(names, key[0], key[1], a, b))
    if not rows_a and not rows_b and genes_a != genes_b:
        out.append(Difference(tuple(sorted(set(genes_a) | set(genes_b))), None, None,
                              {"genes": genes_a}, {"genes": genes_b}))
    return out


__all__ = ["Difference", "replay"]
