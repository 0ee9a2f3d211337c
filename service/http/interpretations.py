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
import logging
from collections.abc import Iterator
from typing import Any, NoReturn

import orjson
from flask import Flask, Response, current_app
from flask.views import MethodView
from marshmallow import ValidationError
from werkzeug.exceptions import RequestEntityTooLarge, UnprocessableEntity

from service.auth import require_roles
from service.errors import PROBLEM_MIME, problem_body
from service.extensions import get_api
from service.http import guidance_common as common
from service.http.parsing import StrictBlueprint, json_body
from service.http.schemas import (
    BatchRequestSchema,
    BatchResponseSchema,
    InterpretationRequestSchema,
    InterpretationSchema,
    ProblemSchema,
    PurposeHeaderSchema,
)
from service.releases import current_knowledge

blp = StrictBlueprint("interpretations", __name__, url_prefix="/v1", description="Genotype interpretations")

log = logging.getLogger(__name__)
_ITEM_SCHEMA = InterpretationRequestSchema()
_ITEM_WITHOUT_GENOTYPES = InterpretationRequestSchema(exclude=("genotypes",))
_PROBLEMS = dict(schema=ProblemSchema, content_type=PROBLEM_MIME)


class _Interpretation:
    """One interpreted body: the response dict (without receipt) and its audit event."""

    __slots__ = ("response", "event")

    def __init__(self, response: dict[str, Any], event: dict[str, Any]):
        self.response = response
        self.event = event


class _ItemLoader:
    """Loads a batch's items as `InterpretationRequestSchema` does, validating each distinct
    `genotypes` array (as sent, byte for byte) once per batch: a batch repeats a few genotypes
    over many patients, and the nested gene entries were most of an item's load.

    An item whose genotypes were seen in a valid item gets those loaded entries, and the rest of
    it (patient_ref, drugs, purpose, unknown keys) is loaded by the same schema without the
    genotypes field. The entries' validation depends on nothing else in the item, so the result
    is the full load's. Any item that fails there is loaded in full again, so that its errors are
    exactly the full load's."""

    __slots__ = ("_genotypes",)

    def __init__(self):
        self._genotypes: dict[bytes, list[dict[str, Any]]] = {}

    @staticmethod
    def _key(raw: Any) -> bytes | None:
        if not isinstance(raw, list):
            return None
        try:
            key = orjson.dumps(raw)
        except (TypeError, orjson.JSONEncodeError):  # e.g. an integer beyond 64 bits: no key
            return None
        # orjson writes NaN and Infinity (which the request's JSON may hold) as null, so an
        # array with null in it is not told apart from one with NaN: no key.
        return None if b"null" in key else key

    def load(self, item: Any) -> dict[str, Any]:
        if not isinstance(item, dict):
            _not_an_object()
        key = self._key(item.get("genotypes"))
        genotypes = self._genotypes.get(key) if key is not None else None
        if genotypes is not None:
            try:
                rest = _ITEM_WITHOUT_GENOTYPES.load({k: v for k, v in item.items() if k != "genotypes"})
            except ValidationError:
                pass
            else:
                return {**rest, "genotypes": genotypes}
        body = _ITEM_SCHEMA.load(item)
        if key is not None:
            self._genotypes[key] = body["genotypes"]
        return body


def interpret_body(interp: common.Interpreter, body: dict[str, Any]) -> _Interpretation:
    entries = [common.entry_from(e) for e in body["genotypes"]]
    results = [interp.interpret(e) for e in entries]
    seen: set[str] = set()
    for r in results:  # the same gene under two spellings (an alias, a case): which one holds?
        if r.gene in seen:
            raise ValidationError({"genotypes": [f"{r.gene} is given more than once"]})
        seen.add(r.gene)
    drugs = body.get("drugs")
    if drugs is not None:  # one answer per drug, however often (or in whatever case) it was asked
        firsts: dict[str, str] = {}
        for d in drugs:
            firsts.setdefault(d.strip().lower(), d)
        drugs = list(firsts.values())
    guidance, guidance_dicts = interp.guidance_dicts(drugs, entries, results)
    release = interp.kb.release
    response = {
        "patient_ref": body.get("patient_ref"),
        "genes": [interp.gene_dict(e) for e in entries],
        "drugs": guidance_dicts,
        "release": release,
    }
    event = {
        **interp.answered_event(body["genotypes"], drugs, results, guidance),
        "patient_ref": body.get("patient_ref"),
        "purpose": common.purpose_of_use(body.get("purpose")),
    }
    return _Interpretation(response, event)


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
        kb = current_knowledge()
        try:
            done = interpret_body(common.Interpreter(kb), body)
        except ValidationError as exc:
            _refuse(422, "The request did not validate; see `errors`.", {"json": exc.normalized_messages()})
        (receipt,) = common.write_audit([done.event])
        return {**done.response, **common.receipt_fields(receipt)}


def _refuse(status: int, detail: str, errors: Any = None) -> NoReturn:
    """Refuse the whole batch; service/errors.py answers (and audits) the raised HTTP error."""
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
        raw = json_body()  # strict: 415 for a non-JSON body, 4xx for duplicate keys, deep nesting
        if not isinstance(raw, dict) or set(raw) != {"items"} or not isinstance(raw["items"], list):
            _refuse(422, 'The body must be {"items": [interpretation body, ...]}.',
                    {"items": ["An array of interpretation bodies is required."]})
        items = raw["items"]
        limit = int(current_app.config.get("PGX_BATCH_MAX_ITEMS", 5000))
        if not items:
            _refuse(422, "A batch needs at least one item.", {"items": ["Empty array."]})
        if len(items) > limit:
            _refuse(413, f"A batch holds at most {limit} items; this one has {len(items)}. Split it.")

        kb = current_knowledge()
        interp = common.Interpreter(kb)
        answers: list[tuple[int, Any]] = []  # (status, _Interpretation | problem dict)
        events = []
        loader = _ItemLoader()
        for index, item in enumerate(items):
            try:
                body = loader.load(item)
                done = interpret_body(interp, body)
            except ValidationError as exc:
                error = problem_body(422, "Unprocessable Entity",
                                     f"Item {index} did not validate; see `errors`.",
                                     errors=exc.normalized_messages())
                answers.append((422, error))
                events.append(common.make_event(
                    outcome=422, input=common.raw_entries(item), patient_ref=common.raw_patient_ref(item),
                    release=kb.release, purpose=common.purpose_of_use()))
                continue
            except Exception as exc:  # a defect, not the caller's fault: this item only, logged by type
                log.error("batch item %d could not be interpreted (%s)", index, type(exc).__name__)
                error = problem_body(500, "Internal Server Error",
                                     f"Item {index} could not be interpreted; the error has been logged.")
                answers.append((500, error))
                events.append(common.make_event(
                    outcome=500, input=common.raw_entries(item), patient_ref=common.raw_patient_ref(item),
                    release=kb.release, purpose=common.purpose_of_use()))
                continue
            answers.append((200, done))
            events.append(done.event)

        receipts = common.write_audit(events)
        out = []
        failed = 0
        for (status, answer), receipt in zip(answers, receipts, strict=True):
            if status == 200:
                out.append({"status": 200, "result": {**answer.response, **common.receipt_fields(receipt)}})
            else:
                failed += 1
                out.append({"status": status, "error": {**answer, **common.problem_extras(receipt)}})
        # Built field by field in the shape of BatchResponseSchema (tests check that dumping it
        # through the schema changes nothing), not dumped by marshmallow (~10^5 nested objects),
        # and streamed item by item: the records are committed, and thousands of answers never
        # become one giant string in memory.
        head = {"release": kb.release, "count": len(out), "failed": failed}
        dumps = functools.partial(current_app.json.dumps, separators=(",", ":"))
        return Response(_stream(head, out, dumps), mimetype="application/json")


def _stream(head: dict[str, Any], items: list[dict[str, Any]], dumps) -> Iterator[str]:
    yield dumps(head)[:-1] + ', "items": ['
    for i, item in enumerate(items):
        yield ("," if i else "") + dumps(item)
    yield "]}\n"


def _not_an_object():
    raise ValidationError({"_schema": ["An item must be a JSON object (an interpretation body)."]})


def init_app(app: Flask) -> None:
    get_api(app).register_blueprint(blp)
