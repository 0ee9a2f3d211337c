"""Warfarin dosing through the one audited path: the clinical inputs and the genotypes in, the
IWPC (or Gage) figure with CPIC's adjustments out (service.pgx.warfarin), one audit record
committed before the answer leaves."""

from __future__ import annotations

import dataclasses
from typing import Any

from service.interpretation.events import audit_input, make_event, warnings_of
from service.interpretation.memo import entry_from
from service.interpretation.present import gene_result_dict, receipt_fields
from service.interpretation.service import Caller, record
from service.pgx import warfarin
from service.releases import current_knowledge

CLINICAL_FIELDS = ("age_years", "height_cm", "weight_kg", "race", "african_ancestry", "amiodarone",
                   "enzyme_inducer", "cyp2c9_variants_tested", "algorithm", "target_inr", "smoker",
                   "thrombosis")


class DosingRefused(Exception):
    """A field the calculation cannot use (422, audited by the refusal handler)."""

    def __init__(self, field: str, message: str, release: str):
        super().__init__(message)
        self.field = field
        self.message = message
        self.release = release


def _adjustment_dict(a: warfarin.Adjustment) -> dict[str, Any]:
    return {"step": a.step, "reason": a.reason, "classification": a.classification,
            "factor_range": None if a.low_factor is None else [a.low_factor, a.high_factor]}


def dose_warfarin(body: dict[str, Any], *, caller: Caller) -> dict[str, Any]:
    kb = current_knowledge()
    clinical = {k: body[k] for k in CLINICAL_FIELDS if body.get(k) is not None}
    inputs = warfarin.ClinicalInputs(**clinical)
    entries = [entry_from(e) for e in body.get("genotypes") or ()]
    try:
        answer, results, notes = kb.dose_warfarin(inputs, entries, body.get("medications") or [])
    except warfarin.WarfarinInputError as exc:
        raise DosingRefused(exc.field, exc.message, kb.release) from None
    warnings = [*warnings_of(results), *answer.warnings, *notes]
    response = {
        "patient_ref": body.get("patient_ref"),
        "drug": "warfarin",
        "algorithm": answer.algorithm,
        "status": answer.status,
        "weekly_dose_mg": answer.weekly_dose_mg,
        "dose_range_mg_per_week": list(answer.dose_range_mg_per_week) if answer.dose_range_mg_per_week else None,
        "recommendation": answer.recommendation,
        "classification": answer.classification,
        "adjustments": [_adjustment_dict(a) for a in answer.adjustments],
        "terms": [dataclasses.asdict(t) for t in answer.terms],
        "genes": [gene_result_dict(r) for r in results],
        "warnings": warnings,
        "source": {"name": warfarin.GUIDELINE_NAME, "url": warfarin.GUIDELINE_URL,
                   "version": warfarin.SOURCE.version, "guideline_id": None},
        "release": kb.release,
    }
    data = audit_input(body.get("genotypes"), ["warfarin"], body.get("medications"))
    data["clinical"] = clinical
    event = make_event(
        outcome=200, input=data, patient_ref=body.get("patient_ref"), release=kb.release,
        result={"genes": [{"gene": r.gene, "phenotype": r.phenotype, "status": r.status.value} for r in results],
                "warfarin": {k: response[k] for k in ("status", "weekly_dose_mg", "dose_range_mg_per_week",
                                                       "classification", "algorithm")},
                "drugs": [{"drug": "warfarin", "population": "general", "status": answer.status,
                           "direction": None, "classification": answer.classification}]},
        warnings=warnings, purpose=body.get("purpose") or caller.purpose, drugs=["warfarin"],
    )
    (receipt,) = record([event], caller)
    return {**response, **receipt_fields(receipt)}
