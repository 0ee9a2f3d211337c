"""FHIR Genomics Reporting in and out through the one interpretation path.

`interpret_bundle(resource, *, caller) -> FhirAnswer` reads a Bundle of Genotype Observations
and medication resources (service.fhir.genotypes), interprets its genotypes as
`POST /v1/interpretations` would (nothing written yet), and then either
- refuses it (422): the Bundle cannot be read without guessing, or the domain core refuses a
  genotype it names (unknown gene or allele, malformed notation), or a gene is given twice;
  the refusal is audited (fail closed) with the normalized input where one could be read, and
  the answer is an OperationOutcome naming resource and element; or
- records the answer (the same audit event as the JSON endpoint's, under the caller's action)
  and answers the Genomic Report Bundle (service.fhir.report) carrying release and audit id.
`refuse(caller, status, issues, input=None)` audits and answers a refusal found before the
Bundle was read (unreadable JSON: 400; a media type that is not JSON: 415).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.fhir.errors import FhirInputError, Issue, operation_outcome
from service.fhir.genotypes import read_bundle, refusals
from service.fhir.report import genomic_report
from service.interpretation.events import audit_input
from service.interpretation.memo import RequestMemo
from service.interpretation.present import receipt_fields
from service.interpretation.service import Caller, InvalidInput, interpret_body, record, record_refusal
from service.releases import current_knowledge

MAX_DETAIL = 500


@dataclass(frozen=True, slots=True)
class FhirAnswer:
    status: int
    resource: dict[str, Any]  # a Bundle (200) or an OperationOutcome
    audit_id: str | None = None


def _outline(resource: Any) -> dict[str, Any]:
    """What an unreadable resource was, for the audit record (no clinical content)."""
    if not isinstance(resource, dict):
        return {"valid": False, "fhir": {"json": type(resource).__name__}}
    entries = resource.get("entry")
    return {"valid": False, "fhir": {"resourceType": str(resource.get("resourceType"))[:40],
                                     "type": str(resource.get("type"))[:40],
                                     "entries": len(entries) if isinstance(entries, list) else None}}


def refuse(caller: Caller, status: int, issues: list[Issue] | tuple[Issue, ...], *,
           input: dict[str, Any] | None = None, genes: list[str] | None = None,
           drugs: list[str] | None = None, patient_ref: str | None = None,
           release: str | None = None) -> FhirAnswer:
    """Audit the refusal (before it leaves; ServiceUnavailable if it cannot be) and answer it."""
    detail = "; ".join(i.diagnostics for i in issues)[:MAX_DETAIL]
    receipt = record_refusal(caller, status, detail, input=input or {"valid": False}, patient_ref=patient_ref,
                             genes=genes, drugs=drugs, release=release)
    outcome = operation_outcome(issues)
    outcome["id"] = str(receipt.audit_id)
    return FhirAnswer(status, outcome, str(receipt.audit_id))


def interpret_bundle(resource: Any, *, caller: Caller, kb=None) -> FhirAnswer:
    kb = kb or current_knowledge()
    try:
        reading = read_bundle(resource)
    except FhirInputError as exc:
        return refuse(caller, 422, exc.issues, input=_outline(resource), release=kb.release)
    body = reading.body()
    entries, drugs = body["genotypes"], body.get("drugs")
    genes = [e["gene"] for e in entries]
    normalized = audit_input(entries, drugs)
    try:
        done = interpret_body(RequestMemo(kb), body, caller)
    except InvalidInput as exc:
        issues = [Issue("conflict", f"{m}", "Bundle.entry", None)
                  for m in exc.normalized_messages().get("genotypes", [str(exc)])]
        return refuse(caller, 422, issues, input=normalized, genes=genes, drugs=list(drugs or ()),
                      patient_ref=reading.patient_ref, release=kb.release)
    refused = refusals(reading.genotypes, done.response["genes"])
    if refused:
        return refuse(caller, 422, refused, input=normalized, genes=genes, drugs=list(drugs or ()),
                      patient_ref=reading.patient_ref, release=kb.release)
    (receipt,) = record([done.event], caller)
    answer = {**done.response, **receipt_fields(receipt)}
    bundle = genomic_report(answer, notes=reading.warnings)
    return FhirAnswer(200, bundle, answer["audit_id"])
