"""A knowledge release in memory: the phenotype engine and the guidance matcher built once from
one release's tables, then shared read-only by every request of a worker.

A release's identity is a digest of its canonical JSON, so any past answer names the exact
tables that produced it and can be reproduced from the stored release.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from service.pgx import warfarin
from service.pgx.engine import PhenotypeEngine
from service.pgx.genes import load_gene_tables
from service.pgx.guidance import GuidanceMatcher
from service.pgx.guidelines import load_guidelines
from service.pgx.medications import (
    Conversion,
    Medication,
    MedicationTable,
    Phenoconverter,
    load_medication_table,
)
from service.pgx.results import DrugGuidance, GeneResult, GenotypeEntry
from service.pgx.vcf.definitions import GeneDefinition, load_allele_tables
from service.pgx.vcf.panel import build_definitions


def canonical_json(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def release_digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def load_release_directory(path: str | Path) -> dict[str, Any]:
    """Read and validate a reference_tables directory into a release payload (JSON-able)."""
    root = Path(path)
    manifest_file = root / "release.yaml"
    manifest = yaml.safe_load(manifest_file.read_text()) if manifest_file.exists() else {}
    payload = {
        "manifest": manifest or {},
        "genes": load_gene_tables(root / "genes"),
        "guidelines": load_guidelines(root / "guidelines"),
    }
    if (root / "medications.yaml").exists():
        payload["medications"] = load_medication_table(root / "medications.yaml")
    if (root / "alleles").is_dir():
        payload["alleles"] = load_allele_tables(root / "alleles")
    return payload


def release_label(payload: dict[str, Any]) -> str:
    """`<name>-<version>+<digest12>`: readable, and unique for different content."""
    manifest = payload.get("manifest") or {}
    name = manifest.get("name", "pgx-tables")
    version = manifest.get("version", "0")
    return f"{name}-{version}+{release_digest(payload)[:12]}"


class KnowledgeBase:
    """Genotype -> phenotype -> guidance for one knowledge release."""

    def __init__(self, payload: dict[str, Any], release: str | None = None):
        self.payload = payload
        self.release = release or release_label(payload)
        self.engine = PhenotypeEngine.from_gene_tables(payload["genes"])
        self.matcher = GuidanceMatcher.from_guidelines(payload["guidelines"])
        # Releases stored before the medication table existed have none: no phenoconversion.
        meds = payload.get("medications")
        self.medications = MedicationTable(meds, self.drug_names) if meds else None
        self.phenoconverter = Phenoconverter(self.engine, self.medications) if meds else None
        # Releases stored before the allele definitions existed cannot call from a VCF.
        self.allele_definitions: dict[str, GeneDefinition] = build_definitions(payload.get("alleles") or {})

    @classmethod
    def from_directory(cls, path: str | Path) -> KnowledgeBase:
        return cls(load_release_directory(path))

    def interpret(self, entry: GenotypeEntry) -> GeneResult:
        return self.engine.interpret(entry)

    def guidance(self, drugs: list[str] | None, results: list[GeneResult],
                 conversions: list[Conversion] | tuple[Conversion, ...] = ()) -> list[DrugGuidance]:
        """Guidance per drug; with conversions, the drugs a conversion rule names use the converted
        result and every other drug of that gene the genotype's, each saying which it used."""
        by_gene = {r.gene: r for r in results}
        if drugs is None:
            drugs = self.matcher.drugs_for_genes(list(by_gene))
            if set(by_gene) & set(warfarin.GENES) and "warfarin" not in drugs:
                drugs = sorted([*drugs, "warfarin"])
        if any(d.strip().lower() == "warfarin" for d in drugs):
            # an algorithm, not a table: its own genotype-level guidance, in the caller's order
            out: list[DrugGuidance] = []
            for d in drugs:
                if d.strip().lower() == "warfarin":
                    out.append(warfarin.genotype_guidance(by_gene))
                else:
                    out.extend(self.guidance([d], results, conversions))
            return out
        applied = [c for c in conversions if c.converted]
        if not applied:
            return self.matcher.guidance(drugs, by_gene)
        converted = {**by_gene, **{c.gene: c.result for c in applied}}
        out: list[DrugGuidance] = []
        for drug in drugs:
            try:
                genes = set(self.matcher.genes_for(drug))
            except KeyError:
                genes = set()
            touched = [c for c in applied if c.gene in genes]
            follows = [c for c in touched if drug in c.rule_drugs]
            rows = self.matcher.guidance([drug], converted if follows else by_gene)
            note = None
            if follows:
                note = "; ".join(f"follows the {c.gene} phenotype adjusted for {', '.join(c.inhibitors)} "
                                 f"({c.rule})" for c in follows)
            elif touched:
                note = "; ".join(f"follows the {c.gene} genotype: CPIC gives no rule to adjust it for "
                                 f"{', '.join(c.inhibitors)} for this drug, so expect lower {c.gene} activity"
                                 for c in touched)
            out.extend(dataclasses.replace(g, phenoconversion=note) if note else g for g in rows)
        return out

    def knows_drug(self, drug: str) -> bool:
        """A drug with guidance in this release: a guideline's table, or warfarin's algorithm."""
        if drug.strip().lower() == "warfarin":
            return True
        try:
            self.matcher.genes_for(drug)
        except KeyError:
            return False
        return True

    def read_medications(self, names: list[str]) -> list[Medication]:
        if self.medications is None:
            return []
        return [self.medications.read(n) for n in names]

    def phenoconvert(self, results: list[GeneResult], meds: list[Medication]) -> tuple[list[Conversion], list[str]]:
        if self.phenoconverter is None:
            return [], (["this knowledge release has no medication table: interactions were not checked"]
                        if meds else [])
        return self.phenoconverter.convert(results, meds)

    @property
    def gene_names(self) -> list[str]:
        return sorted(self.engine.gene_names)

    @property
    def drug_names(self) -> list[str]:
        return list(self.matcher.drugs)

    def dose_warfarin(self, inputs: warfarin.ClinicalInputs, entries: list[GenotypeEntry],
                      medications: list[str] = ()) -> tuple[warfarin.WarfarinAnswer, list[GeneResult], list[str]]:
        """The warfarin pathway: amiodarone and inducers also follow from the medication list."""
        meds = self.read_medications(list(medications))
        notes = [f"medication '{m.given}' is not in this release's interaction table" for m in meds
                 if m.generic is None]
        if any(self.medications.is_amiodarone(m) for m in meds) and not inputs.amiodarone:
            inputs = dataclasses.replace(inputs, amiodarone=True)
            notes.append("amiodarone taken from the medication list")
        if any(self.medications.is_enzyme_inducer(m) for m in meds) and not inputs.enzyme_inducer:
            inputs = dataclasses.replace(inputs, enzyme_inducer=True)
            notes.append("enzyme inducer taken from the medication list")
        results = [self.interpret(e) for e in entries]
        return warfarin.dose(inputs, {r.gene: r for r in results}), results, notes
