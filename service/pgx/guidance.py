"""Gene results -> per-drug dose guidance, from the validated guideline tables.

``GuidanceMatcher.from_guidelines`` builds dict indexes once per knowledge release; a lookup is
then a few dict probes per drug and population, never a table scan and never disk access.

How a gene's lookup value is chosen (CPIC keys recommendations on it):
- activity-score genes (CYP2D6, CYP2C9, DPYD): ``GeneResult.lookup_key`` (the score as CPIC
  writes it, "n/a", "xN combinations"), else ``activity_score``. A lab-called phenotype without a
  score is accepted only if every score CPIC maps to that phenotype gives the same guidance for
  the drug and population; otherwise the answer is ``indeterminate`` and asks for the score. A
  score the table has no key for (a lab's exact 3.25 or 7.0, or ``≥4.25``) takes the row of
  CPIC's highest ``≥`` bin at or below it inside the score's phenotype band, else the band's rows
  under the phenotype rule (``_unkeyed_score``); the answer's message says which;
- HLA-A / HLA-B: ``GeneResult.allele_status[risk allele]`` for the allele the guideline keys on
  ("*57:01 positive");
- every other gene: ``lookup_key``, else the phenotype.
A gene not given, or given with status invalid/unknown_allele, is "not tested": CPIC's
``No Result`` row is used where the table has one (status ``missing_genes``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import product
from typing import Any

from service.pgx.results import (
    Direction,
    DrugGuidance,
    GeneResult,
    GeneStatus,
    GuidanceStatus,
    Source,
)

NO_RESULT = "No Result"
INDETERMINATE_VALUES = frozenset({"n/a", "Indeterminate", "xN combinations"})
HLA_GENES = frozenset({"HLA-A", "HLA-B"})

# CPIC's cut-offs from activity score to phenotype (lowest, highest), inclusive.
_INF = float("inf")
SCORE_PHENOTYPES: dict[str, dict[str, tuple[float, float]]] = {
    "CYP2D6": {"Poor Metabolizer": (0.0, 0.0), "Intermediate Metabolizer": (0.25, 1.0),
               "Normal Metabolizer": (1.25, 2.25), "Ultrarapid Metabolizer": (2.5, _INF)},
    "CYP2C9": {"Poor Metabolizer": (0.0, 0.5), "Intermediate Metabolizer": (1.0, 1.5),
               "Normal Metabolizer": (2.0, 2.0)},
    "DPYD": {"Poor Metabolizer": (0.0, 0.5), "Intermediate Metabolizer": (1.0, 1.5),
             "Normal Metabolizer": (2.0, 2.0)},
}
_SCORE = re.compile(r"^(≥)?(\d+(?:\.\d+)?)$")
_ALLELE_STATUS = re.compile(r"^(\*\d+:\d+) (positive|negative)$")


def _score_in(value: str, low: float, high: float) -> bool:
    m = _SCORE.match(value)
    if not m:
        return False
    score = float(m[2])
    if m[1]:  # "≥3.0": every score from 3.0 up
        return score >= low and high == _INF
    return low <= score <= high


@dataclass(frozen=True, slots=True)
class _Rec:
    id: str
    population: str
    classification: str
    direction: Direction
    dose_factor: str | None
    frequency: str | None
    alternatives: tuple[str, ...]
    recommendation: str

    @property
    def same_advice(self) -> tuple:
        return (self.classification, self.direction, self.dose_factor, self.frequency, self.alternatives,
                self.recommendation)


@dataclass(slots=True)
class _Drug:
    name: str
    guideline_id: str
    genes: tuple[str, ...]  # sorted
    source: Source
    populations: tuple[str, ...]  # in table order, "general" first when present
    answer_populations: tuple[str, ...]  # populations reported when nothing matches
    index: dict[tuple[str, tuple[str, ...]], _Rec]  # (population, values in gene order) -> rec
    values: dict[str, frozenset[str]]  # gene -> every lookup value the table uses
    hla_alleles: dict[str, tuple[str, ...]]  # HLA gene -> risk alleles the table keys on
    table: list[dict[str, Any]]  # for describe()


class GuidanceMatcher:
    """Per-drug guidance for one knowledge release (read-only after construction)."""

    def __init__(self, drugs: dict[str, _Drug]):
        self._drugs = drugs
        self.drugs: list[str] = sorted(drugs)
        by_gene: dict[str, set[str]] = {}
        for d in drugs.values():
            for g in d.genes:
                by_gene.setdefault(g, set()).add(d.name)
        self._by_gene = {g: sorted(v) for g, v in by_gene.items()}

    @classmethod
    def from_guidelines(cls, guidelines: Mapping[str, Mapping[str, Any]]) -> GuidanceMatcher:
        drugs: dict[str, _Drug] = {}
        for doc in guidelines.values():
            genes = tuple(sorted(doc["genes"]))
            source = Source(name=doc["name"], url=doc["url"], version=f"{doc['version']} ({doc['date']})")
            for drug in doc["drugs"]:
                index: dict[tuple[str, tuple[str, ...]], _Rec] = {}
                values: dict[str, set[str]] = {g: set() for g in genes}
                pops: list[str] = []
                table = []
                for r in doc["recommendations"]:
                    if drug not in r["drugs"]:
                        continue
                    key = tuple(r["lookup"][g] for g in genes)
                    rec = _Rec(r["id"], r["population"], r["classification"], Direction(r["direction"]),
                               r["dose_factor"], r.get("frequency"), tuple(r["alternatives"]),
                               r["recommendation"])
                    index[(r["population"], key)] = rec
                    for g, v in zip(genes, key, strict=True):
                        values[g].add(v)
                    if r["population"] not in pops:
                        pops.append(r["population"])
                    table.append({"lookup": dict(r["lookup"]), "population": r["population"],
                                  "classification": r["classification"], "direction": r["direction"],
                                  "dose_factor": r["dose_factor"], "frequency": r.get("frequency"),
                                  "alternatives": list(r["alternatives"]),
                                  "recommendation": r["recommendation"], "recommendation_id": r["id"]})
                # A population holding only rows keyed on an unresolvable value (CYP2D6 "xN
                # combinations" rows have no population in CPIC's data) is not reported on its own.
                real = [p for p in pops if any(
                    not (set(k) & INDETERMINATE_VALUES) for (pp, k) in index if pp == p)]
                hla = {g: tuple(sorted({m[1] for v in values[g] if (m := _ALLELE_STATUS.match(v))}))
                       for g in genes if g in HLA_GENES}
                drugs[drug] = _Drug(drug, doc["id"], genes, source, tuple(pops), tuple(real or pops), index,
                                    {g: frozenset(v) for g, v in values.items()}, hla, table)
        return cls(drugs)

    # -- catalogue -------------------------------------------------------------------------------

    def _get(self, drug: str) -> _Drug | None:
        return self._drugs.get(drug) or self._drugs.get(drug.strip().lower())

    def genes_for(self, drug: str) -> list[str]:
        d = self._get(drug)
        if d is None:
            raise KeyError(drug)
        return list(d.genes)

    def drugs_for_genes(self, genes: Iterable[str]) -> list[str]:
        out: set[str] = set()
        for g in genes:
            out.update(self._by_gene.get(g, ()))
        return sorted(out)

    def describe(self, drug: str) -> dict[str, Any]:
        d = self._get(drug)
        if d is None:
            raise KeyError(drug)
        return {
            "drug": d.name,
            "genes": list(d.genes),
            "populations": list(d.answer_populations),
            "source": {"name": d.source.name, "url": d.source.url, "version": d.source.version,
                       "guideline_id": d.guideline_id},
            "guidance": [dict(row, lookup=dict(row["lookup"]), alternatives=list(row["alternatives"]))
                         for row in d.table],
        }

    # -- matching --------------------------------------------------------------------------------

    def guidance(self, drugs: list[str] | None, results: Mapping[str, GeneResult]) -> list[DrugGuidance]:
        if drugs is None:
            drugs = self.drugs_for_genes(results)
        out: list[DrugGuidance] = []
        for name in drugs:
            d = self._get(name)
            if d is None:
                out.append(DrugGuidance(drug=name, status=GuidanceStatus.NOT_IN_GUIDELINE, genes={},
                                        direction=Direction.NONE,
                                        message=f"no CPIC guideline for {name!r} in this knowledge release"))
                continue
            out.extend(self._drug_guidance(d, results))
        return out

    def _gene_values(self, d: _Drug, gene: str, r: GeneResult | None, notes: list[str]
                     ) -> tuple[list[str] | None, str | None, bool]:
        """-> (candidate lookup values or None if not tested, value shown in `genes`, from_phenotype)."""
        table_values = d.values[gene]
        if r is not None and r.status in (GeneStatus.INVALID, GeneStatus.UNKNOWN_ALLELE):
            why = f": {r.message}" if r.message else ""
            notes.append(f"{gene} result is {r.status.value}{why}; treated as not tested.")
            r = None
        if r is None:
            return None, None, False
        if gene in HLA_GENES:
            alleles = d.hla_alleles.get(gene, ())
            for allele in alleles:
                status = r.allele_status.get(allele)
                if status:
                    return [status], status, False
            if r.lookup_key in table_values and r.lookup_key != NO_RESULT:
                return [r.lookup_key], r.lookup_key, False
            if r.status is GeneStatus.INDETERMINATE:
                label = r.lookup_key or r.phenotype or "Indeterminate"
                return [label], label, False
            notes.append(f"{gene} result does not state {' or '.join(alleles) or 'the risk allele'} carrier "
                         "status; treated as not tested.")
            return None, None, False
        value = r.lookup_key or (r.activity_score if gene in SCORE_PHENOTYPES else None)
        if value:
            if gene in SCORE_PHENOTYPES and value not in table_values:
                return self._unkeyed_score(d, gene, value, r.phenotype, notes)
            return [value], value, False
        phenotype = r.phenotype
        if not phenotype:
            return None, None, False
        if gene in SCORE_PHENOTYPES:
            if phenotype == "Indeterminate":
                return ["n/a"], phenotype, False
            rng = SCORE_PHENOTYPES[gene].get(phenotype)
            if rng is None:
                return [phenotype], phenotype, False  # will not match: reported as not in guideline
            scores = sorted(v for v in table_values if _score_in(v, *rng))
            return scores, phenotype, True
        return [phenotype], phenotype, False

    @staticmethod
    def _unkeyed_score(d: _Drug, gene: str, value: str, phenotype: str | None, notes: list[str]
                       ) -> tuple[list[str], str, bool]:
        """An activity score CPIC's table has no key for (a lab's exact 3.25, 4.5, 7.0, or '≥4.25'):
        the row of CPIC's highest '≥' bin at or below it, when that bin lies in the score's own
        phenotype band; else every score CPIC maps to that phenotype, used only when they all give
        the same advice (as for a lab-called phenotype)."""
        m = _SCORE.match(value)
        if not m:
            return [value], value, False
        score = float(m[2])
        band = next(((p, rng) for p, rng in SCORE_PHENOTYPES[gene].items() if rng[0] <= score <= rng[1]), None)
        if band is None or (phenotype and band[0] != phenotype):
            return [value], value, False  # not a score CPIC places in a phenotype: not in guideline
        name, (low, high) = band
        bins = [(float(b[2]), v) for v in d.values[gene] if (b := _SCORE.match(v)) and b[1]]
        covering = [(t, v) for t, v in bins if t <= score and _score_in(v, low, high)]
        if covering:
            _, key = max(covering)
            notes.append(f"{gene} activity score {value} is not one of CPIC's lookup keys; CPIC's bin {key} "
                         f"(every score from {key[1:]} up, {name}) applies.")
            return [key], key, False
        scores = sorted(v for v in d.values[gene] if _score_in(v, low, high))
        notes.append(f"{gene} activity score {value} is not one of CPIC's lookup keys; read by its phenotype "
                     f"band ({name}, CPIC scores {', '.join(scores)}).")
        return scores, value, True

    def _drug_guidance(self, d: _Drug, results: Mapping[str, GeneResult]) -> list[DrugGuidance]:
        notes: list[str] = []
        candidates: list[list[str]] = []
        shown: dict[str, str] = {}
        missing: list[str] = []
        from_phenotype: list[str] = []
        unanswerable_missing = False
        indeterminate = False
        for gene in d.genes:
            r = results.get(gene)
            values, label, via_phenotype = self._gene_values(d, gene, r, notes)
            if values is None:
                missing.append(gene)
                if NO_RESULT in d.values[gene]:
                    values, label = [NO_RESULT], NO_RESULT
                else:
                    unanswerable_missing = True
                    values = []
            if label is not None:
                shown[gene] = label
            if via_phenotype:
                from_phenotype.append(gene)
            if (r is not None and r.status is GeneStatus.INDETERMINATE) or set(values) & INDETERMINATE_VALUES:
                indeterminate = True
            candidates.append(values)
        if missing:
            notes.append(f"not tested: {', '.join(missing)}" + (
                "" if unanswerable_missing else " (CPIC's recommendation for an untested gene is used)"))

        combos = list(product(*candidates)) if not unanswerable_missing else []
        answers: list[DrugGuidance] = []
        for population in d.populations:
            found = [d.index.get((population, combo)) for combo in combos]
            hits = [f for f in found if f is not None]
            if not hits:
                continue
            base = dict(drug=d.name, genes=dict(shown), missing_genes=tuple(missing), population=population,
                        source=d.source, guideline_id=d.guideline_id)
            if len(hits) < len(found) or len({h.same_advice for h in hits}) > 1:
                # only possible when a phenotype stood for several activity scores
                answers.append(DrugGuidance(
                    status=GuidanceStatus.INDETERMINATE, direction=Direction.NONE, **base,
                    message=self._join(notes + [
                        f"{', '.join(from_phenotype) or 'the'} phenotype covers activity scores with "
                        f"different {d.name} recommendations; give the activity score or the diplotype."])))
                continue
            rec = hits[0]
            extra = []
            if from_phenotype:
                extra.append(f"{', '.join(from_phenotype)} given as a phenotype: every activity score CPIC "
                             f"assigns to it gives this {d.name} recommendation.")
            if missing:
                status = GuidanceStatus.MISSING_GENES
            elif rec.direction is Direction.NONE:
                status = GuidanceStatus.NO_RECOMMENDATION
            else:
                status = GuidanceStatus.OK
            answers.append(DrugGuidance(
                status=status, direction=rec.direction, classification=rec.classification,
                recommendation=rec.recommendation, dose_factor=rec.dose_factor, frequency=rec.frequency,
                alternatives=rec.alternatives,
                recommendation_id=rec.id, message=self._join(notes + extra), **base))
        if answers:
            return answers
        # nothing matched in any population
        if unanswerable_missing:
            status, msg = GuidanceStatus.MISSING_GENES, f"{d.name} needs {', '.join(d.genes)}"
        elif indeterminate:
            status, msg = GuidanceStatus.INDETERMINATE, "a phenotype could not be assigned; no CPIC row applies"
        else:
            shown_txt = ", ".join(f"{g}={v}" for g, v in shown.items())
            status, msg = GuidanceStatus.NOT_IN_GUIDELINE, f"CPIC has no {d.name} recommendation for {shown_txt}"
        return [DrugGuidance(drug=d.name, status=status, genes=dict(shown), missing_genes=tuple(missing),
                             direction=Direction.NONE, population=p, source=d.source,
                             guideline_id=d.guideline_id, message=self._join(notes + [msg]))
                for p in d.answer_populations]

    @staticmethod
    def _join(parts: list[str]) -> str | None:
        return " ".join(parts) if parts else None
