"""GET /v1/audit/events: the audit trail for auditors, streamed (NDJSON, CSV or a FHIR Bundle).

The export is itself audited (action `GET /v1/audit/events`, the searched patient pseudonymized)
in the same write transaction that fixes the export's range and signs its checkpoint, before a
byte is streamed; if that record cannot be written the auditor gets 503.
"""

from __future__ import annotations

import logging
from datetime import UTC

from flask import Flask, Response, stream_with_context
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from service.audit import get_state
from service.audit.export import FORMATS, MEDIA_TYPES, ExportFilters, iter_export, plan_and_record_export
from service.audit.writer import to_utc_iso
from service.auth import require_roles
from service.db import get_db
from service.errors import PROBLEM_MIME, ServiceUnavailable, problem
from service.extensions import get_api
from service.http.caller import current_caller
from service.http.parsing import StrictBlueprint
from service.interpretation.reinterpret import FORMATS as REINTERPRET_FORMATS
from service.interpretation.reinterpret import run as run_reinterpret
from service.releases import ReleaseNotFound

blp = StrictBlueprint("audit", __name__, url_prefix="/v1/audit", description="The audit trail (auditor role)")

ACTION = "GET /v1/audit/events"
log = logging.getLogger(__name__)


class AuditEventsQuerySchema(Schema):
    since = fields.AwareDateTime(
        default_timezone=UTC,
        metadata={"literal_plus": True, "description": "ISO 8601; records from the first one recorded at or after this time (UTC if no offset)."},
    )
    until = fields.AwareDateTime(
        default_timezone=UTC,
        metadata={"literal_plus": True, "description": "ISO 8601; records up to the last one recorded at or before this time."},
    )
    actor = fields.String(validate=validate.Length(min=1, max=200), metadata={"description": "API client name."})
    patient_ref = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "The real patient reference; it is pseudonymized (HMAC) before the search."},
    )
    gene = fields.String(validate=validate.Length(min=1, max=50), metadata={"description": "Gene symbol, e.g. CYP2D6."})
    drug = fields.String(validate=validate.Length(min=1, max=100), metadata={"description": "Drug name, e.g. codeine."})
    format = fields.String(
        load_default="ndjson",
        validate=validate.OneOf(FORMATS),
        metadata={"description": "ndjson (default; verifiable, ends with a signed checkpoint line), csv, or fhir (R4 Bundle of AuditEvent)."},
    )


_RECORD_EXAMPLE = (
    '{"action":"GET /v1/lookup","actor":"pharmacy-a","audit_id":"…","drugs":["codeine"],"genes":["CYP2D6"],'
    '"input":{…},"outcome":200,"patient_ref":"<hmac>","prev_hash":"…","purpose":null,"recorded":"2026-01-01T00:00:00.000Z",'
    '"release":"…","request_id":"…","result":{…},"role":"pharmacy","seq":1,"source_addr":"…","v":1,"warnings":[],"entry_hash":"…"}'
)

_RESPONSES = {
    200: {
        "description": (
            "The records in `seq` order, streamed. NDJSON: one record per line (the canonical record "
            "with `entry_hash`), then one line without `seq`: the signed checkpoint and export "
            "statement (`pgx audit verify` checks it offline). Receipt of this export's own audit "
            "record in X-Audit-Id / X-Audit-Seq / X-Audit-Entry-Hash."
        ),
        "content": {
            "application/x-ndjson": {"schema": {"type": "string"}, "example": _RECORD_EXAMPLE},
            "text/csv": {"schema": {"type": "string"}},
            "application/fhir+json": {"schema": {"type": "object"}},
        },
    },
    503: {
        "description": "The export's own audit record could not be written; nothing was exported.",
        "content": {PROBLEM_MIME: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
    },
}


@blp.route("/events")
class AuditEvents(MethodView):
    @require_roles("auditor")
    @blp.arguments(AuditEventsQuerySchema, location="query")
    @blp.doc(responses=_RESPONSES)
    def get(self, args):
        """Export the audit trail (filters: since, until, actor, patient_ref, gene, drug)."""
        fmt = args.pop("format")
        filters = ExportFilters(
            since=to_utc_iso(args["since"]) if args.get("since") else None,
            until=to_utc_iso(args["until"]) if args.get("until") else None,
            actor=args.get("actor"),
            patient_ref=args.get("patient_ref"),
            gene=args.get("gene"),
            drug=args.get("drug"),
        )
        db = get_db()
        state = get_state()
        try:
            receipt, plan = plan_and_record_export(db, state, filters, fmt, action=ACTION, **_identity())
        except ServiceUnavailable:
            raise
        except Exception as exc:  # database down, lock timeout, signing key unreadable: nothing exported
            log.error("audit export could not start (%s); answering 503", type(exc).__name__)
            raise ServiceUnavailable("The audit export could not be started; nothing was exported.") from None
        resp = Response(stream_with_context(iter_export(db, plan, fmt, state=state)), mimetype=MEDIA_TYPES[fmt])
        resp.headers["X-Audit-Id"] = receipt.audit_id
        resp.headers["X-Audit-Seq"] = str(receipt.seq)
        resp.headers["X-Audit-Entry-Hash"] = receipt.entry_hash
        ext = {"ndjson": "ndjson", "csv": "csv", "fhir": "json"}[fmt]
        resp.headers["Content-Disposition"] = f'attachment; filename="audit-{plan.last_seq}.{ext}"'
        return resp


class ReinterpretQuerySchema(Schema):
    release = fields.String(required=True, validate=validate.Length(min=1, max=200),
                            metadata={"description": "A stored knowledge release (active or not); its '+' "
                                                     "written %2B.", "literal_plus": True})
    since = AuditEventsQuerySchema().fields["since"]
    until = AuditEventsQuerySchema().fields["until"]
    format = fields.String(load_default="ndjson", validate=validate.OneOf(REINTERPRET_FORMATS))


@blp.route("/reinterpret")
class Reinterpret(MethodView):
    @require_roles("auditor", "admin")
    @blp.arguments(ReinterpretQuerySchema, location="query")
    @blp.doc(responses={200: {"description": "One line per audited answer (drug and population) that the "
                              "release would answer differently: seq, recorded, patient_ref (pseudonymized "
                              "as stored), genes, drug, population, before, after. Streamed.",
                              "content": {"application/x-ndjson": {"schema": {"type": "string"}},
                                          "text/csv": {"schema": {"type": "string"}}}}})
    def get(self, args):
        """What a stored release would change in the answers already given (audited, read-only)."""
        since = to_utc_iso(args["since"]) if args.get("since") else None
        until = to_utc_iso(args["until"]) if args.get("until") else None
        try:
            chunks = run_reinterpret(get_db(), args["release"], since, until, args["format"],
                                     caller=current_caller())
        except ReleaseNotFound:
            return problem(404, "Not Found", detail=f"no stored release is labelled {args['release']!r}")
        mimetype = "application/x-ndjson" if args["format"] == "ndjson" else "text/csv"
        return Response(stream_with_context(chunks), mimetype=mimetype)


def _identity() -> dict:
    caller = current_caller()
    return {"actor": caller.actor, "role": caller.role, "request_id": caller.request_id,
            "source_addr": caller.source_addr}


def init_app(app: Flask) -> None:
    get_api(app).register_blueprint(blp)
