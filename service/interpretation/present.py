"""Domain results as the response dicts every way in answers with (field names: CONTRACT.md)."""

from __future__ import annotations

from typing import Any

from service.pgx.results import DrugGuidance, GeneResult


def _value(v: Any) -> Any:
    return getattr(v, "value", v)


def gene_result_dict(r: GeneResult) -> dict[str, Any]:
    return {
        "gene": r.gene,
        "input": r.input,
        "diplotype": r.diplotype,
        "phenotype": r.phenotype,
        "activity_score": r.activity_score,
        "category": _value(r.category),
        "status": _value(r.status),
        "warnings": list(r.warnings),
        "message": r.message,
        "lookup_key": r.lookup_key,
        "allele_status": dict(r.allele_status),
        "ehr_priority": r.ehr_priority,
    }


def guidance_dict(d: DrugGuidance) -> dict[str, Any]:
    source = None
    if d.source is not None:
        source = {
            "name": d.source.name,
            "url": d.source.url,
            "version": d.source.version,
            "guideline_id": d.guideline_id,
        }
    return {
        "drug": d.drug,
        "genes": dict(d.genes),
        "status": _value(d.status),
        "missing_genes": list(d.missing_genes),
        "direction": _value(d.direction),
        "classification": d.classification,
        "population": d.population,
        "recommendation": d.recommendation,
        "source": source,
        "dose_factor": d.dose_factor,
        "frequency": d.frequency,
        "alternatives": list(d.alternatives),
        "guideline_id": d.guideline_id,
        "recommendation_id": d.recommendation_id,
        "message": d.message,
        **({"phenoconversion": d.phenoconversion} if d.phenoconversion else {}),
    }


def converted_gene_dict(genotype: GeneResult, converted: GeneResult) -> dict[str, Any]:
    """A gene result that a concomitant inhibitor converted: the converted phenotype, score and
    category, with the genotype's own beside them."""
    return {
        **gene_result_dict(converted),
        "genotype_phenotype": genotype.phenotype,
        "genotype_activity_score": genotype.activity_score,
        "genotype_category": _value(genotype.category),
    }


def receipt_fields(receipt: Any) -> dict[str, Any]:
    seq = getattr(receipt, "seq", None)
    entry_hash = getattr(receipt, "entry_hash", None)
    return {
        "audit_id": str(receipt.audit_id),
        "audit_seq": None if seq is None else int(seq),
        "audit_entry_hash": entry_hash,
    }


def problem_extras(receipt: Any) -> dict[str, Any]:
    return {k: v for k, v in receipt_fields(receipt).items() if v is not None}

