"""POST /v1/interpretations and POST /v1/interpretations/batch.

An interpretation body carries a patient's gene entries (and optionally the drugs to advise on).
A body that does not follow the schema is refused with 422. A well-formed body whose entries
name an unknown gene, an unknown allele or a malformed notation is answered 200: each such gene
result carries status `invalid` or `unknown_allele` and a `message` naming the offending part,
the other genes are interpreted, and a drug that depends on the bad gene is answered as if that
gene were not tested (`missing_genes`). Every answer is audited before it leaves.

A batch is `{"items": [body, ...]}`: the envelope is validated strictly (an array of 1 to
PGX_BATCH_MAX_ITEMS items, else 422/413), each item on its own, so one bad item never spoils the
others. Items are answered in input order, each `{"status": 200, "result": ...}` or
`{"status": 422, "error": problem}`, with one audit record per item, all written in one
transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any, NoReturn

from flask import Flask, Response, current_app
from flask.views import MethodView
from werkzeug.exceptions import RequestEntityTooLarge, UnprocessableEntity

from service.auth import require_roles
from service.errors import PROBLEM_MIME
from service.extensions import get_api
from service.http import fhir
from service.http.batch_loader import ItemLoader
from service.http.caller import current_caller
from service.http.parsing import StrictBlueprint, json_body
from service.http.schemas import (
    BatchRequestSchema,
    BatchResponseSchema,
    InterpretationRequestSchema,
    InterpretationSchema,
    ProblemSchema,
    PurposeHeaderSchema,
)
from service.interpretation import InvalidInput, interpret, interpret_batch

blp = StrictBlueprint("interpretations", __name__, url_prefix="/v1", description="Genotype interpretations")

_PROBLEMS = dict(schema=ProblemSchema, content_type=PROBLEM_MIME)


@blp.route("/interpretations")
class Interpretations(MethodView):
    @require_roles("pharmacy", "clinician")
    @blp.arguments(InterpretationRequestSchema)
    @blp.arguments(PurposeHeaderSchema, location="headers")
    @blp.response(200, InterpretationSchema)
    @blp.alt_response(422, description="The body does not follow the schema (audited).", **_PROBLEMS)
    @blp.alt_response(503, description="No knowledge release active, or the audit trail could not be "
                      "written.", **_PROBLEMS)
    def post(self, body, _headers):
        """Interpret a patient's genotypes; guidance for the given drugs, or every drug they affect.

        Per-gene problems (unknown gene or allele, malformed notation) do not fail the request:
        the gene result says `invalid` / `unknown_allele` with a message, and the drugs that need
        that gene answer `missing_genes`."""
        try:
            answer = interpret(body["genotypes"], body.get("drugs"), caller=current_caller(),
                               patient_ref=body.get("patient_ref"), purpose=body.get("purpose"),
                               medications=body.get("medications"))
        except InvalidInput as exc:
            _refuse(422, "The request did not validate; see `errors`.", {"json": exc.normalized_messages()})
        # `Accept: application/fhir+json`: the same answer as a Genomic Report Bundle
        return fhir.report_response(answer) if fhir.wants_fhir() else answer


def _refuse(status: int, detail: str, errors: Any = None) -> NoReturn:
    """Refuse the whole request; service/errors.py answers (and audits) the raised HTTP error."""
    exc = RequestEntityTooLarge(detail) if status == 413 else UnprocessableEntity(detail)
    if errors:
        exc.data = {"messages": errors}
    raise exc


@blp.route("/interpretations/batch")
class Batch(MethodView):
    @require_roles("pharmacy")
    @blp.arguments(PurposeHeaderSchema, location="headers")
    @blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": BatchRequestSchema}}})
    @blp.response(200, BatchResponseSchema)
    @blp.alt_response(413, description="More items than PGX_BATCH_MAX_ITEMS, or a body over the size limit.",
                      **_PROBLEMS)
    @blp.alt_response(422, description="The envelope is not `{\"items\": [...]}` with at least one item "
                      "(items are validated one by one: a bad item is answered in its place).", **_PROBLEMS)
    @blp.alt_response(503, description="No knowledge release active, or the audit trail could not be "
                      "written.", **_PROBLEMS)
    def post(self, _headers):
        """Interpret many patients at once (at least 1000 items accepted), answered in input order.

        Each item is an interpretation body and is answered in its place by
        `{"status": 200, "result": interpretation}` or `{"status": 422, "error": problem}`;
        the batch itself answers 200 whenever its envelope is valid."""
        items = _batch_items(json_body())  # strict: 415 for a non-JSON body, 4xx for duplicate keys, deep nesting
        answer = interpret_batch(items, load=ItemLoader().load, caller=current_caller())
        # Built field by field in the shape of BatchResponseSchema (tests check that dumping it
        # through the schema changes nothing), not dumped by marshmallow, and streamed item by
        # item: the records are committed, and thousands of answers never become one string.
        head = {"release": answer.release, "count": len(answer.items), "failed": answer.failed}
        dumps = functools.partial(current_app.json.dumps, separators=(",", ":"))
        return Response(_stream(head, answer.items, dumps), mimetype="application/json")


def _batch_items(raw: Any) -> list[Any]:
    """The envelope's items, or the whole batch refused (422, 413)."""
    if not isinstance(raw, dict) or set(raw) != {"items"} or not isinstance(raw["items"], list):
        _refuse(422, 'The body must be {"items": [interpretation body, ...]}.',
                {"items": ["An array of interpretation bodies is required."]})
    items = raw["items"]
    limit = int(current_app.config.get("PGX_BATCH_MAX_ITEMS", 5000))
    if not items:
        _refuse(422, "A batch needs at least one item.", {"items": ["Empty array."]})
    if len(items) > limit:
        _refuse(413, f"A batch holds at most {limit} items; this one has {len(items)}. Split it.")
    return items


def _stream(head: dict[str, Any], items: list[dict[str, Any]], dumps) -> Iterator[str]:
    yield dumps(head)[:-1] + ', "items": ['
    for i, item in enumerate(items):
        yield ("," if i else "") + dumps(item)
    yield "]}\n"


def init_app(app: Flask) -> None:
    get_api(app).register_blueprint(blp)
