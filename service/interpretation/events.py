"""Audit events of answers and refusals: the normalized input, the result summary, the names an
auditor filters on. Pure dict building (no request, no database)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from service.pgx.results import DrugGuidance, GeneResult

INPUT_KINDS = ("diplotype", "phenotype", "activity_score")
MAX_PURPOSE = 100


def _value(v: Any) -> Any:
    return getattr(v, "value", v)


def purpose_of(value: str | None) -> str | None:
    """A purpose of use as kept: stripped, at most MAX_PURPOSE characters, None when empty."""
    if not value:
        return None
    return value.strip()[:MAX_PURPOSE] or None


def given(entry: dict[str, Any]) -> list[tuple[str, Any]]:
    """A gene entry's input keys and values, as given, in the order audit records keep them."""
    return [(k, entry[k]) for k in ("gene", *INPUT_KINDS) if entry.get(k) is not None]


def audit_input(entries: Iterable[dict[str, Any]] | None, drugs: list[str] | None = None,
                medications: list[str] | None = None) -> dict[str, Any]:
    """The normalized input: the gene entries as given (only their input keys), the drugs asked
    and, when given, the patient's medications (a replay needs them: they change the answer)."""
    genotypes = [dict(given(e)) for e in entries or ()]
    out = {"genotypes": genotypes, "drugs": list(drugs) if drugs is not None else None}
    if medications:
        out["medications"] = list(medications)
    return out


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
    """An audit event (service.audit.append_events) without its caller: the action, actor and
    role come from the `Caller` it is recorded for. `genes`/`drugs` are the names an auditor
    filters on; `input` the normalized gene entries; `result` the summary of the answer."""
    if genes is None:
        genes = [e["gene"] for e in input.get("genotypes") or () if "gene" in e]
    if drugs is None:
        drugs = sorted({d["drug"] for d in (result or {}).get("drugs", ())} | set(input.get("drugs") or ()))
    return {
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
