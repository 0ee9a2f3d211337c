"""POST /v1/vcf/interpretations: a lab's GRCh38 VCF (text/vcf, or application/gzip for gzip or
bgzip) in, an interpretation out (service.interpretation.vcf does the work and the audit).

Query: `sample` (required when the VCF holds several), `drug` (repeatable), `patient_ref`,
`genotype` (repeatable outside calls, `GENE:DIPLOTYPE`, e.g. `CYP2D6:*1/*4`; CYP2D6 and HLA are
not called from a VCF). 413 past PGX_VCF_MAX_BYTES (read or inflated); 422 naming the fault.
Clinicians may post too: a lab report's VCF reaches them as often as the pharmacy.
"""

from __future__ import annotations

from flask import Flask, current_app, jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint

from service.auth import require_roles
from service.errors import PROBLEM_MIME
from service.extensions import get_api
from service.http.caller import current_caller
from service.interpretation.vcf import interpret_vcf

blp = Blueprint("vcf", __name__, url_prefix="/v1/vcf", description="VCF input")
_TYPES = {"text/vcf": False, "text/plain": False, "text/x-vcf": False, "application/gzip": True,
          "application/x-gzip": True}


def _outside(values: list[str]) -> list[dict]:
    out = []
    for v in values:
        gene, sep, diplotype = v.partition(":")
        out.append({"gene": gene.strip(), "diplotype": diplotype.strip()} if sep else {"gene": v, "diplotype": ""})
    return out


@blp.route("/interpretations")
class VcfInterpretations(MethodView):
    @require_roles("pharmacy", "clinician")
    @blp.doc(requestBody={"required": True, "content": {"text/vcf": {"schema": {"type": "string"}},
                                                        "application/gzip": {"schema": {"type": "string",
                                                                                        "format": "binary"}}}},
             responses={"200": {"description": "An interpretation; each VCF gene result carries `match`."},
                        "413": {"description": "The VCF is larger (read or inflated) than this endpoint takes."},
                        "415": {"description": "Neither text/vcf nor application/gzip."},
                        "422": {"description": "Not a VCF, no GT, GRCh37, several samples and none named, "
                                               "truncated gzip: the problem names the fault."}})
    def post(self):
        """Call diplotypes from a VCF (PharmCAT's named-allele matching) and interpret them."""
        gzipped = _TYPES.get(request.mimetype)
        if gzipped is None:
            resp = jsonify({"status": 415, "title": "Unsupported media type",
                            "detail": f"send text/vcf or application/gzip, not {request.mimetype or 'nothing'}"})
            resp.status_code, resp.mimetype = 415, PROBLEM_MIME
            return resp
        limit = int(current_app.config["PGX_VCF_MAX_BYTES"])
        request.max_content_length = limit
        args = request.args
        done = interpret_vcf(request.stream, gzipped=gzipped, limit=limit, caller=current_caller(),
                             sample=args.get("sample"), drugs=args.getlist("drug") or None,
                             patient_ref=args.get("patient_ref"), outside=_outside(args.getlist("genotype")))
        resp = jsonify(done.body)
        resp.status_code = done.status
        if done.problem:
            resp.mimetype = PROBLEM_MIME
        return resp


def init_app(app: Flask) -> None:
    get_api(app).register_blueprint(blp)
