"""GET /v1/lookup: one gene entry, optionally one drug; for clinicians and pharmacy systems.

`gene` and exactly one of `diplotype`, `phenotype`, `activity_score`; with `drug`, the guidance
for that drug (one object per population). An unknown gene, an unknown allele, a malformed
notation or an unknown drug is answered 422 naming the offending part, and audited like every
answer. The patient reference, if any, travels in the `X-Patient-Ref` header (never in the URL,
which ends up in access logs).
"""

from __future__ import annotations

from flask import Flask
from flask.views import MethodView

from service.auth import require_roles
from service.errors import PROBLEM_MIME, problem
from service.extensions import get_api
from service.http.answer_cache import lookup_response
from service.http.caller import current_caller
from service.http.parsing import QueryCachingBlueprint
from service.http.schemas import AuditHeadersSchema, LookupQuerySchema, LookupResponseSchema, ProblemSchema
from service.interpretation import LookupRefused, lookup_with_medications

blp = QueryCachingBlueprint("lookup", __name__, url_prefix="/v1", description="Single-gene lookups")

# Schema instances, built once: given a class, webargs builds (and deep-copies the fields of) a new
# instance on every request. Loading is stateless.
LOOKUP_QUERY = LookupQuerySchema()
AUDIT_HEADERS = AuditHeadersSchema()


@blp.route("/lookup")
class Lookup(MethodView):
    @require_roles("clinician", "pharmacy")
    @blp.arguments(LOOKUP_QUERY, location="query")
    @blp.arguments(AUDIT_HEADERS, location="headers")
    @blp.response(200, LookupResponseSchema)
    @blp.alt_response(
        422,
        schema=ProblemSchema,
        content_type=PROBLEM_MIME,
        description="Unknown gene, unknown allele, malformed notation or unknown drug (named in the "
        "problem's `gene`/`drug`/`field`); the refusal is audited (`audit_id`).",
    )
    @blp.alt_response(503, schema=ProblemSchema, content_type=PROBLEM_MIME,
                      description="No knowledge release active, or the audit trail could not be written.")
    def get(self, args, headers):
        """One gene result, and with `drug` the guidance for that drug."""
        patient_ref = (headers.get("patient_ref") or args.get("patient_ref") or "").strip() or None
        try:
            if args.get("medications"):  # they change the answer: never from the answer cache
                return lookup_with_medications(args, args.get("drug"), args["medications"],
                                               caller=current_caller(), patient_ref=patient_ref)
            return lookup_response(args, args.get("drug"), caller=current_caller(), patient_ref=patient_ref)
        except LookupRefused as refused:
            return problem(422, "Unprocessable Entity", **refused.problem_fields())


def init_app(app: Flask) -> None:
    get_api(app).register_blueprint(blp)
