"""What the lookup, interpretation and batch views share: turning requests into domain calls,
domain results into response dicts, and answers into audit events written before they leave.

The pattern of every genotype-reading view:
1. interpret with the in-memory knowledge release (no database, no lock held);
2. `write_audit([...])`: one write transaction that appends the audit record(s); if it fails the
   request fails closed (503, no clinical content);
3. answer with the receipts (`audit_id`, `audit_seq`, `audit_entry_hash`) and the release.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from flask import request

from service.errors import ServiceUnavailable
from service.pgx.results import DrugGuidance, GeneResult, GenotypeEntry

log = logging.getLogger(__name__)

INPUT_KINDS = ("diplotype", "phenotype", "activity_score")
PURPOSE_HEADER = "X-Purpose-Of-Use"
MAX_PURPOSE = 100


# -- domain calls ------------------------------------------------------------------------------


def entry_from(data: dict[str, Any]) -> GenotypeEntry:
    return GenotypeEntry(
        gene=data["gene"],
        diplotype=data.get("diplotype"),
        phenotype=data.get("phenotype"),
        activity_score=data.get("activity_score"),
    )


def _entry_key(entry: GenotypeEntry) -> tuple:
    return (entry.gene, entry.diplotype, entry.phenotype, entry.activity_score)


class Interpreter:
    """Interprets entries with one knowledge base, memoizing within one request (a batch repeats
    the same genotypes many times; results are frozen, so sharing them is safe)."""

    def __init__(self, kb):
        self.kb = kb
        self._genes: dict[tuple, GeneResult] = {}
        self._guidance: dict[tuple, tuple[list[DrugGuidance], list[dict[str, Any]]]] = {}
        self._gene_dicts: dict[tuple, dict[str, Any]] = {}

    def interpret(self, entry: GenotypeEntry) -> GeneResult:
        key = _entry_key(entry)
        result = self._genes.get(key)
        if result is None:
            # The engine never raises on caller input: problems come back as invalid/unknown_allele.
            result = self._genes[key] = self.kb.interpret(entry)
        return result

    def guidance(self, drugs: list[str] | None, entries: list[GenotypeEntry],
                 results: list[GeneResult]) -> list[DrugGuidance]:
        return self._guidance_and_dicts(drugs, entries, results)[0]

    def guidance_dicts(self, drugs: list[str] | None, entries: list[GenotypeEntry],
                       results: list[GeneResult]) -> tuple[list[DrugGuidance], list[dict[str, Any]]]:
        """The guidance and its response dicts, shared by every item with the same input (they
        are never mutated), so a large batch holds each distinct answer once."""
        return self._guidance_and_dicts(drugs, entries, results)

    def _guidance_and_dicts(self, drugs, entries, results):
        key = (None if drugs is None else tuple(drugs), frozenset(_entry_key(e) for e in entries))
        out = self._guidance.get(key)
        if out is None:
            guidance = self.kb.guidance(drugs, results)
            out = self._guidance[key] = (guidance, [guidance_dict(d) for d in guidance])
        return out

    def gene_dict(self, entry: GenotypeEntry) -> dict[str, Any]:
        key = _entry_key(entry)
        out = self._gene_dicts.get(key)
        if out is None:
            out = self._gene_dicts[key] = gene_result_dict(self.interpret(entry))
        return out


# -- response dicts ----------------------------------------------------------------------------


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
        "alternatives": list(d.alternatives),
        "guideline_id": d.guideline_id,
        "recommendation_id": d.recommendation_id,
        "message": d.message,
    }


# -- audit -------------------------------------------------------------------------------------


def purpose_of_use(body_value: str | None = None) -> str | None:
    value = body_value or request.headers.get(PURPOSE_HEADER)
    if not value:
        return None
    return value.strip()[:MAX_PURPOSE] or None


def action() -> str:
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    return f"{request.method} {rule}"


def audit_input(entries: Iterable[dict[str, Any]] | None, drugs: list[str] | None = None) -> dict[str, Any]:
    """The normalized input: the gene entries as given (only their input keys) and the drugs asked."""
    genotypes = [{k: e[k] for k in ("gene", *INPUT_KINDS) if e.get(k) is not None} for e in entries or ()]
    return {"genotypes": genotypes, "drugs": list(drugs) if drugs is not None else None}


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _short(value: Any, limit: int = 200) -> str:
    """Text from an invalid body, made safe to store: control characters (NUL!) replaced."""
    return _CONTROL.sub("\N{REPLACEMENT CHARACTER}", str(value)[:limit])


def raw_entries(raw: Any) -> dict[str, Any]:
    """Whatever gene entries can be read out of an invalid body, as short strings (for the audit)."""
    genotypes: list[dict[str, Any]] = []
    items = raw.get("genotypes") if isinstance(raw, dict) else None
    for e in items[:100] if isinstance(items, list) else ():
        if isinstance(e, dict):
            genotypes.append({k: _short(e[k]) for k in ("gene", *INPUT_KINDS) if e.get(k) is not None})
    drugs = raw.get("drugs") if isinstance(raw, dict) else None
    drugs = [_short(d, 100) for d in drugs[:200] if isinstance(d, str)] if isinstance(drugs, list) else None
    return {"genotypes": genotypes, "drugs": drugs, "valid": False}


def raw_patient_ref(raw: Any) -> str | None:
    value = raw.get("patient_ref") if isinstance(raw, dict) else None
    return _short(value) if isinstance(value, str) and value else None


def result_summary(genes: list[GeneResult], drugs: list[DrugGuidance]) -> dict[str, Any]:
    return {
        "genes": [
            {
                "gene": r.gene,
                "phenotype": r.phenotype,
                "activity_score": r.activity_score,
                "category": _value(r.category),
                "status": _value(r.status),
            }
            for r in genes
        ],
        "drugs": [
            {
                "drug": d.drug,
                "population": d.population,
                "status": _value(d.status),
                "direction": _value(d.direction),
                "classification": d.classification,
            }
            for d in drugs
        ],
    }


def warnings_of(genes: list[GeneResult]) -> list[str]:
    return [f"{r.gene}: {w}" for r in genes for w in r.warnings]


def make_event(
    *,
    outcome: int,
    input: dict[str, Any],
    patient_ref: str | None = None,
    result: dict[str, Any] | None = None,
    release: str | None = None,
    warnings: list[str] | None = None,
    purpose: str | None = None,
    genes: list[str] | None = None,
    drugs: list[str] | None = None,
) -> dict[str, Any]:
    """An audit event (service.audit.append_events): `genes`/`drugs` are the names an auditor
    filters on; `input` the normalized gene entries; `result` the summary of the answer."""
    if genes is None:
        genes = [e["gene"] for e in input.get("genotypes") or () if "gene" in e]
    if drugs is None:
        drugs = sorted({d["drug"] for d in (result or {}).get("drugs", ())} | set(input.get("drugs") or ()))
    return {
        "action": action(),
        "outcome": int(outcome),
        "patient_ref": patient_ref,
        "input": input,
        "result": result or {},
        "release": release,
        "warnings": list(warnings or ()),
        "purpose": purpose,
        "genes": list(genes),
        "drugs": list(drugs),
    }


def write_audit(events: list[dict[str, Any]]) -> list[Any]:
    """Append the events in one write transaction and return their receipts; fail closed."""
    from service.app import get_db

    try:
        from service.audit import append_events
    except ImportError:
        log.error("the audit trail is not installed (service.audit.append_events missing)")
        raise ServiceUnavailable() from None
    try:
        with get_db().write_transaction() as conn:
            receipts = append_events(conn, events)
    except ServiceUnavailable:
        raise
    except Exception as exc:  # lock timeout, database down, ...: no record, so no answer
        # Only the exception's type: its text may carry SQL parameters (genotypes, patient refs).
        log.error("audit write failed (%s); request refused (fail closed)", type(exc).__name__)
        raise ServiceUnavailable() from None
    return list(receipts)


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

