"""POST /v1/fhir/interpretations: a Bundle of Genotype Observations (FHIR R4, Genomics Reporting
IG STU3) in, a Genomic Report Bundle out, both `application/fhir+json`.

Refusals are OperationOutcomes naming resource and element: 422 for a Bundle that cannot be read
without guessing or names a genotype the core refuses, 400 for a body that is not JSON, 415 for
one sent as neither application/fhir+json nor application/json. Every answer and refusal is
audited (service.interpretation.fhir) before it leaves. `POST /v1/interpretations` with
`Accept: application/fhir+json` answers its interpretation as the same kind of Bundle.
"""

from __future__ import annotations

import orjson
from flask import Flask, Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from werkzeug.exceptions import HTTPException

from service.auth import require_roles
from service.extensions import get_api
from service.fhir.errors import Issue
from service.fhir.report import genomic_report
from service.http.caller import current_caller
from service.http.parsing import loads_strict
from service.interpretation.fhir import FhirAnswer, interpret_bundle, refuse

FHIR_MIME = "application/fhir+json"
_ACCEPTED = (FHIR_MIME, "application/json")
_FHIR_CONTENT = {FHIR_MIME: {"schema": {"type": "object", "description": "A FHIR R4 resource (JSON)"}}}

blp = Blueprint("fhir", __name__, url_prefix="/v1/fhir", description="FHIR Genomics Reporting")


def wants_fhir() -> bool:
    """The caller prefers application/fhir+json to JSON (Accept)."""
    accept = request.accept_mimetypes
    return accept.quality(FHIR_MIME) > accept.quality("application/json") and FHIR_MIME in accept.values()


def report_response(answer: dict) -> Response:
    """An interpretation answer (POST /v1/interpretations) as its Genomic Report Bundle."""
    return Response(orjson.dumps(genomic_report(answer)), status=200, mimetype=FHIR_MIME)


def _answer(done: FhirAnswer) -> Response:
    return Response(orjson.dumps(done.resource), status=done.status, mimetype=FHIR_MIME)


@blp.route("/interpretations")
class FhirInterpretations(MethodView):
    @require_roles("pharmacy", "clinician")
    @blp.doc(requestBody={"required": True, "content": _FHIR_CONTENT},
             responses={"200": {"description": "A Genomic Report Bundle (type collection).", "content": _FHIR_CONTENT},
                        "400": {"description": "Not JSON (OperationOutcome; audited).", "content": _FHIR_CONTENT},
                        "415": {"description": "Not application/fhir+json (OperationOutcome; audited).",
                                "content": _FHIR_CONTENT},
                        "422": {"description": "A Bundle that cannot be read without guessing, or a genotype the "
                                "service refuses: an OperationOutcome naming resource and element (audited).",
                                "content": _FHIR_CONTENT}})
    def post(self):
        """Interpret the Genotype Observations of a Bundle (collection, transaction, batch or
        searchset) for the drugs its MedicationRequest / MedicationStatement resources name, or
        every drug the genes affect; answered as a Genomic Report Bundle."""
        caller = current_caller()
        if request.mimetype not in _ACCEPTED:
            given = request.mimetype or "no Content-Type"
            return _answer(refuse(caller, 415, [Issue("not-supported", f"the body must be sent as {FHIR_MIME}; "
                                                      f"it was sent as {given}", "Bundle")]))
        try:
            resource = loads_strict(request.get_data(cache=True))
        except HTTPException as exc:
            return _answer(refuse(caller, 400 if exc.code == 400 else 422,
                                  [Issue("structure", str(exc.description), "Bundle")]))
        return _answer(interpret_bundle(resource, caller=caller))


def init_app(app: Flask) -> None:
    get_api(app).register_blueprint(blp)
