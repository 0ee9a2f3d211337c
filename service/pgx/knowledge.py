"""A knowledge release in memory: the phenotype engine and the guidance matcher built once from
one release's tables, then shared read-only by every request of a worker.

A release's identity is a digest of its canonical JSON, so any past answer names the exact
tables that produced it and can be reproduced from the stored release.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from service.pgx.results import DrugGuidance, GeneResult, GenotypeEntry


def canonical_json(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def release_digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def load_release_directory(path: str | Path) -> dict[str, Any]:
    """Read and validate a reference_tables directory into a release payload (JSON-able)."""
    from service.pgx.genes import load_gene_tables
    from service.pgx.guidelines import load_guidelines

    root = Path(path)
    manifest_file = root / "release.yaml"
    manifest = yaml.safe_load(manifest_file.read_text()) if manifest_file.exists() else {}
    return {
        "manifest": manifest or {},
        "genes": load_gene_tables(root / "genes"),
        "guidelines": load_guidelines(root / "guidelines"),
    }


def release_label(payload: dict[str, Any]) -> str:
    """`<name>-<version>+<digest12>`: readable, and unique for different content."""
    manifest = payload.get("manifest") or {}
    name = manifest.get("name", "pgx-tables")
    version = manifest.get("version", "0")
    return f"{name}-{version}+{release_digest(payload)[:12]}"


class KnowledgeBase:
    """Genotype -> phenotype -> guidance for one knowledge release."""

    def __init__(self, payload: dict[str, Any], release: str | None = None):
        from service.pgx.engine import PhenotypeEngine
        from service.pgx.guidance import GuidanceMatcher

        self.payload = payload
        self.release = release or release_label(payload)
        self.engine = PhenotypeEngine.from_gene_tables(payload["genes"])
        self.matcher = GuidanceMatcher.from_guidelines(payload["guidelines"])

    @classmethod
    def from_directory(cls, path: str | Path) -> KnowledgeBase:
        return cls(load_release_directory(path))

    def interpret(self, entry: GenotypeEntry) -> GeneResult:
        return self.engine.interpret(entry)

    def guidance(self, drugs: list[str] | None, results: list[GeneResult]) -> list[DrugGuidance]:
        by_gene = {r.gene: r for r in results}
        if drugs is None:
            drugs = self.matcher.drugs_for_genes(list(by_gene))
        return self.matcher.guidance(drugs, by_gene)

    @property
    def gene_names(self) -> list[str]:
        return sorted(self.engine.gene_names)

    @property
    def drug_names(self) -> list[str]:
        return list(self.matcher.drugs)
