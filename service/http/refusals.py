"""Refused requests to the genotype and client-administration endpoints are audited before the
refusal leaves.

`audit_refusal` is what the app hands the error handler (service/errors.py) as its refusal
hook: for a 4xx on a genotype endpoint it writes one record, names only (a refused caller's
genotype is not kept), unless the view already recorded this request.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import g, request
from sqlalchemy import select

from service.audit.models import audit_event
from service.db import get_db
from service.errors import ServiceUnavailable
from service.http.caller import current_caller
from service.interpretation import record_refusal

log = logging.getLogger(__name__)

# Endpoints that read or interpret genotypes: every request to them is audited, refusals too.
GENOTYPE_ENDPOINTS = frozenset(
    {"/v1/lookup", "/v1/interpretations", "/v1/interpretations/batch", "/v1/audit/events",
     "/v1/dosing/warfarin", "/v1/fhir/interpretations",
     "/v1/vcf/interpretations"}
)


def is_genotype_endpoint(path: str) -> bool:
    return path.rstrip("/") in GENOTYPE_ENDPOINTS


def is_admin_endpoint(path: str) -> bool:
    """API client administration: a refused attempt (401, 403, 404, 409, 422, 429) is audited too."""
    return path.rstrip("/") == "/v1/clients" or path.startswith("/v1/clients/")


def _already_recorded() -> bool:
    """True when this request's own records were committed already (the view audited itself)."""
    receipts = getattr(g, "audit_receipts", None)
    if not receipts:
        return False
    with get_db().read() as conn:
        found = conn.execute(
            select(audit_event.c.seq).where(audit_event.c.audit_id == receipts[-1].audit_id)
        ).first()
    return found is not None


def _refusal_input(status: int) -> tuple[dict, str | None, list[str], list[str]]:
    data: dict[str, Any] = {"method": request.method, "path": request.path}
    genes = request.args.getlist("gene")
    drugs = request.args.getlist("drug")
    patient_ref = request.headers.get("X-Patient-Ref") or request.args.get("patient_ref") or None
    if request.args:
        # Names only: a refused caller's genotype is not kept.
        data["query"] = sorted(set(request.args.keys()))
    if status != 413 and request.is_json:
        try:
            body = request.get_json(silent=True)
        except Exception:  # a body we may not or cannot read
            body = None
        if isinstance(body, dict):
            data["body_keys"] = sorted(str(k) for k in body.keys())
            ref = body.get("patient_ref")
            if isinstance(ref, str) and ref.strip():
                patient_ref = ref
            items = body.get("items")
            if isinstance(items, list):
                data["items"] = len(items)
    return data, patient_ref, genes, drugs


def audit_refusal(status: int, detail: str | None) -> None:
    """The error handler's refusal hook; raises ServiceUnavailable when the record cannot be written."""
    admin = is_admin_endpoint(request.path)
    if not admin and not is_genotype_endpoint(request.path):
        return
    try:
        if _already_recorded():
            return
        data, patient_ref, genes, drugs = _refusal_input(status)
        # The genotype endpoints have no path parameters: the path as requested. The admin ones
        # are named by their rule, as their answered acts are (the target is in `input.path`).
        rule = request.url_rule.rule if admin and request.url_rule is not None else request.path
        caller = current_caller(purpose=(request.headers.get("X-Purpose-Of-Use") or "")[:100] or None,
                                action=f"{request.method} {rule}")
        record_refusal(caller, status, detail, input=data, patient_ref=patient_ref, genes=genes, drugs=drugs)
    except ServiceUnavailable:
        raise
    except Exception as exc:
        log.error("audit trail write failed for a refusal; answering 503", extra={"error": type(exc).__name__})
        raise ServiceUnavailable() from exc
