"""Concomitant medications: the reviewed table (reference_tables/medications.yaml) and the
phenoconversion stage that runs between genotype -> phenotype and phenotype -> guidance.

A CYP2D6 normal metabolizer taking paroxetine behaves as a poor metabolizer. CPIC states how to
account for that only in its 2021 opioid guideline (strong inhibitor: activity score 0; moderate:
score x 0.5, then the score's phenotype); its other guidelines say no consensus exists. So:
- the gene result shows the converted phenotype, score and category, with the genotype's own
  result kept beside it;
- guidance follows the converted result only for the drugs the table's rule names; every other
  drug of that gene follows the genotype and says why;
- an inhibitor of a gene without a rule (CYP2C19, CYP2C9) is an interaction warning, no conversion;
- a converted score that falls between CPIC's lookup keys is looked up at the key below it, which
  is always in the same phenotype band (every band starts on a key); a range (a '>=' bin or a
  phenotype-only input) that spans two bands is not converted: the genotype's result stands.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from service.pgx.genes import TableError
from service.pgx.results import GeneResult, GenotypeEntry

STRENGTHS = ("strong", "moderate")
_name = fields.Str(validate=validate.Length(min=1))


class _Lists(Schema):
    class Meta:
        unknown = RAISE

    strong = fields.List(_name, required=True)
    moderate = fields.List(_name, required=True)


_bound = fields.Str(load_default=None, allow_none=True, validate=validate.Regexp(r"^\d+(\.\d+)?$"))


class _Band(Schema):
    """One phenotype's score interval: `from`/`to` inclusive, `above`/`below` exclusive."""

    class Meta:
        unknown = RAISE

    phenotype = fields.Str(required=True)
    from_ = fields.Str(data_key="from", load_default=None, allow_none=True)
    to = _bound
    above = _bound
    below = _bound


class _Rule(Schema):
    class Meta:
        unknown = RAISE

    factors = fields.Dict(keys=fields.Str(validate=validate.OneOf(STRENGTHS)),
                          values=fields.Str(validate=validate.Regexp(r"^\d+(\.\d+)?$")), required=True)
    guideline = fields.Str(required=True)
    url = fields.Url(required=True)
    drugs = fields.List(_name, required=True, validate=validate.Length(min=1))
    bands = fields.List(fields.Nested(_Band), required=True, validate=validate.Length(min=1))


class MedicationTableSchema(Schema):
    class Meta:
        unknown = RAISE

    reviewed = fields.Str(required=True)
    source = fields.Dict(required=True)
    phenoconversion = fields.Dict(keys=fields.Str(), values=fields.Nested(_Rule), required=True)
    inhibitors = fields.Dict(keys=fields.Str(), values=fields.Nested(_Lists), required=True)
    warfarin_enzyme_inducers = fields.List(_name, required=True)
    warfarin_amiodarone = fields.List(_name, required=True)
    brands = fields.Dict(keys=_name, values=_name, required=True)


def load_medication_table(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        table = MedicationTableSchema().load(raw)
    except yaml.YAMLError as e:
        raise TableError(path.name, "yaml", str(e).replace("\n", " ")) from None
    except ValidationError as e:
        raise TableError(path.name, "table", str(e.messages)) from None
    generics = {n for lists in table["inhibitors"].values() for s in STRENGTHS for n in lists[s]}
    generics |= set(table["warfarin_enzyme_inducers"]) | set(table["warfarin_amiodarone"])
    for brand, generic in table["brands"].items():
        if generic not in generics:
            raise TableError(path.name, f"brands.{brand}", f"{generic!r} is not a medication of this table")
    return table


@dataclass(frozen=True)
class Medication:
    given: str
    generic: str | None  # None: not known to this release
    inhibits: dict[str, str]  # enzyme (gene) -> strong | moderate


@dataclass(frozen=True)
class Conversion:
    """What an inhibitor did to one gene result."""

    gene: str
    genotype: GeneResult  # the genotype's own result
    result: GeneResult  # what the guidance of the rule's drugs uses (== genotype if not converted)
    inhibitors: tuple[str, ...]
    strength: str
    converted: bool
    rule_drugs: frozenset[str]
    rule: str


class MedicationTable:
    def __init__(self, table: dict[str, Any], drug_names: list[str] | tuple[str, ...] = ()):
        self.table = table
        self._brands = {b.lower(): g for b, g in table["brands"].items()}
        self._inhibits: dict[str, dict[str, str]] = {}
        for gene, lists in table["inhibitors"].items():
            for strength in STRENGTHS:
                for name in lists[strength]:
                    self._inhibits.setdefault(name, {})[gene] = strength
        self._known = set(self._inhibits) | set(table["warfarin_enzyme_inducers"]) \
            | set(table["warfarin_amiodarone"]) | {d.lower() for d in drug_names}
        self.rules = table["phenoconversion"]

    def read(self, name: str) -> Medication:
        key = name.strip().lower()
        generic = self._brands.get(key, key)
        if generic not in self._known:
            return Medication(name, None, {})
        return Medication(name, generic, self._inhibits.get(generic, {}))

    def is_enzyme_inducer(self, med: Medication) -> bool:
        return med.generic in self.table["warfarin_enzyme_inducers"]

    def is_amiodarone(self, med: Medication) -> bool:
        return med.generic in self.table["warfarin_amiodarone"]


def _fmt(score: float) -> str:
    text = f"{score:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


class Phenoconverter:
    """Applies the table's rules with the engine that produced the results."""

    def __init__(self, engine: Any, table: MedicationTable):
        self.engine = engine
        self.table = table

    def convert(self, results: list[GeneResult], meds: list[Medication]) -> tuple[list[Conversion], list[str]]:
        """Conversions per gene, and warnings (interactions without a rule, unknown names)."""
        warnings = [f"medication '{m.given}' is not in this release's interaction table; "
                    "no interaction was checked for it" for m in meds if m.generic is None]
        conversions: list[Conversion] = []
        for r in results:
            hits = [(m, m.inhibits[r.gene]) for m in meds if r.gene in m.inhibits]
            if not hits:
                continue
            if not r.ok:
                warnings.append(f"{r.gene}: {', '.join(m.generic for m, _ in hits)} inhibit {r.gene}; "
                                "the genotype gives no phenotype to convert")
                continue
            rule = self.table.rules.get(r.gene)
            names = tuple(f"{m.generic} ({s})" for m, s in hits)
            if rule is None:
                warnings.append(f"{r.gene}: {', '.join(names)} inhibit{'s' if len(hits) == 1 else ''} "
                                f"{r.gene}; CPIC has no consensus rule to adjust the phenotype, so it is "
                                "not converted: expect lower enzyme activity than the genotype predicts")
                continue
            conversions.append(self._apply(r, hits, rule, names, warnings))
        return conversions, warnings

    def _apply(self, r: GeneResult, hits: list[tuple[Medication, str]], rule: dict[str, Any],
               names: tuple[str, ...], warnings: list[str]) -> Conversion:
        strength = "strong" if any(s == "strong" for _, s in hits) else "moderate"
        moderates = [m.generic for m, s in hits if s == "moderate"]
        if strength == "moderate" and len(moderates) > 1:
            warnings.append(f"{r.gene}: several moderate inhibitors ({', '.join(moderates)}); the rule is "
                            "applied once (CPIC gives no rule for combining them)")
        factor = float(rule["factors"][strength])
        drugs = frozenset(rule["drugs"])
        cited = f"{rule['guideline']}: activity score x {rule['factors'][strength]} for a {strength} inhibitor"
        converted = self._converted(r, factor)
        if converted is None:
            warnings.append(f"{r.gene}: {', '.join(names)}; the adjusted activity score spans more than one "
                            f"phenotype ({r.phenotype}, score {r.activity_score or 'not given'}), so the "
                            "genotype's result is kept")
            return Conversion(r.gene, r, r, names, strength, False, drugs, cited)
        if converted.phenotype == r.phenotype and converted.activity_score == r.activity_score:
            return Conversion(r.gene, r, r, names, strength, False, drugs, cited)
        note = (f"{r.gene} phenoconversion: {', '.join(names)} -> {converted.phenotype} "
                f"(activity score {converted.activity_score}; genotype: {r.phenotype}, {r.activity_score}) "
                f"by {cited}")
        converted = dataclasses.replace(converted, diplotype=r.diplotype, input=r.input,
                                        warnings=(*r.warnings, note))
        return Conversion(r.gene, r, converted, names, strength, True, drugs, cited)

    def _converted(self, r: GeneResult, factor: float) -> GeneResult | None:
        bands = [_Interval.of(b) for b in self.table.rules[r.gene]["bands"]]
        score = r.activity_score
        if factor == 0:
            low = high = 0.0
        elif score and score.lower() != "n/a" and not score.startswith("≥"):
            low = high = float(score) * factor
        else:  # a '>=' bin, or a phenotype without a score: the band, scaled, must land in one band
            if score and score.startswith("≥"):
                low, high = float(score[1:]) * factor, math.inf
            else:
                own = [b for b in bands if b.phenotype == r.phenotype]
                if not own:
                    return None
                low, high = own[0].low * factor, own[0].high * factor
        hit = [b for b in bands if b.meets(low, high)]
        if len(hit) != 1:
            return None
        if low != high:
            res = self.engine.interpret(GenotypeEntry(gene=r.gene, phenotype=hit[0].phenotype))
            return res if res.ok else None
        return self._at_score(r.gene, low, hit[0])

    def _at_score(self, gene: str, score: float, band: _Interval) -> GeneResult | None:
        """The result for `score`, looked up at the nearest lookup key inside its band."""
        for key in (math.floor(score / _STEP + 1e-9) * _STEP, math.ceil(score / _STEP - 1e-9) * _STEP):
            if band.contains(key):
                res = self.engine.interpret(GenotypeEntry(gene=gene, activity_score=_fmt(key)))
                if res.ok and res.phenotype == band.phenotype:
                    return dataclasses.replace(res, activity_score=_fmt(score), warnings=())
        return None


_STEP = 0.25  # CPIC's activity values are quarters, so every lookup key is


@dataclass(frozen=True)
class _Interval:
    phenotype: str
    low: float
    high: float
    low_open: bool
    high_open: bool

    @classmethod
    def of(cls, band: dict[str, Any]) -> _Interval:
        low = band.get("from_") if band.get("from_") is not None else band.get("above")
        high = band.get("to") if band.get("to") is not None else band.get("below")
        return cls(band["phenotype"], float(low) if low is not None else -math.inf,
                   float(high) if high is not None else math.inf,
                   band.get("above") is not None, band.get("below") is not None)

    def contains(self, x: float) -> bool:
        above = x > self.low if self.low_open else x >= self.low
        below = x < self.high if self.high_open else x <= self.high
        return above and below

    def meets(self, low: float, high: float) -> bool:
        """Whether [low, high] shares a point with this band."""
        if low == high:
            return self.contains(low)
        return not (high < self.low or (high == self.low and self.low_open)
                    or low > self.high or (low == self.high and self.high_open))


__all__ = ["Conversion", "Medication", "MedicationTable", "Phenoconverter", "load_medication_table"]
