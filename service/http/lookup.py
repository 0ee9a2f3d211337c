"""GET /v1/lookup: one gene entry, optionally one drug; for clinicians and pharmacy systems.

`gene` and exactly one of `diplotype`, `phenotype`, `activity_score`; with `drug`, the guidance
for that drug (one object per population). An unknown gene, an unknown allele, a malformed
notation or an unknown drug is answered 422 naming the offending part, and audited like every
answer. The patient reference, if any, travels in the `X-Patient-Ref` header (never in the URL,
which ends up in access logs).
"""

from __future__ import annotations

import threading

import orjson
from flask import Flask, Response, current_app
from flask.views import MethodView

from service.audit.writer import normalized_event
from service.auth import require_roles
from service.errors import PROBLEM_MIME, problem
from service.extensions import get_api
from service.http import guidance_common as common
from service.http.parsing import QueryCachingBlueprint
from service.http.schemas import AuditHeadersSchema, LookupQuerySchema, LookupResponseSchema, ProblemSchema
from service.pgx.results import GeneStatus
from service.releases import current_knowledge

blp = QueryCachingBlueprint("lookup", __name__, url_prefix="/v1", description="Single-gene lookups")

REFUSED = (GeneStatus.INVALID, GeneStatus.UNKNOWN_ALLELE)
# Schema instances, built once: given a class, webargs builds (and deep-copies the fields of) a new
# instance on every request, a measurable share of a lookup's CPU. Loading is stateless.
LOOKUP_QUERY = LookupQuerySchema()
AUDIT_HEADERS = AuditHeadersSchema()
LOOKUP_RESPONSE = LookupResponseSchema()

# The answer to one (release, gene, input, drug) never changes (a release is immutable and the
# engine deterministic), so its interpretation, guidance and schema-dumped body are computed once
# per worker and only the per-request receipt is added. Bounded: cleared when full (inputs are
# caller-chosen). Only answered (200) lookups are cached; refusals take the full path.
_CACHE_MAX = 4096
_answers: dict[tuple, tuple] = {}
_answers_lock = threading.Lock()
RECEIPT_KEYS_SORTED = ("audit_entry_hash", "audit_id", "audit_seq")  # as the JSON provider sorts them


class AnswerTemplate:
    """A cached answer's JSON bytes, as the app's JSON provider writes them (sorted keys, compact),
    cut where the per-request receipt goes: a later request for the same answer pays for its
    receipt's few bytes, not for serializing the whole answer again. The receipt keys sort next
    to each other (audit_entry_hash < audit_id < audit_seq), so three cuts in order suffice."""

    # Stand-ins no answer can contain: a string with NULs (escaped by JSON as \u0000) and an
    # integer outside any seq.
    _MARKS = {"audit_entry_hash": "\x00pgx:entry_hash\x00", "audit_id": "\x00pgx:audit_id\x00",
              "audit_seq": -(2**63) + 7}

    __slots__ = ("_parts",)

    def __init__(self, body: dict):
        data = current_app.json.dumps({**body, **self._MARKS}, separators=(",", ":")).encode("utf-8") + b"\n"
        parts = []
        for name in RECEIPT_KEYS_SORTED:
            cut = f'"{name}":'.encode() + orjson.dumps(self._MARKS[name])
            head, found, data = data.partition(cut)
            if not found:  # pragma: no cover - the provider wrote something else: no template
                raise ValueError(f"receipt field {name} not found in the answer's JSON")
            parts.append(head + f'"{name}":'.encode())
        parts.append(data)
        self._parts = tuple(parts)

    def response(self, receipt) -> Response:
        if receipt.seq is None or receipt.entry_hash is None:  # pragma: no cover - a partial receipt
            raise ValueError("an answered lookup's receipt has a seq and an entry hash")
        p = self._parts
        out = b"".join((p[0], orjson.dumps(receipt.entry_hash), p[1], orjson.dumps(str(receipt.audit_id)),
                        p[2], str(int(receipt.seq)).encode(), p[3]))
        return current_app.response_class(out, mimetype="application/json")


def _which_field(kb, args: dict) -> str:
    """The part of the query at fault: the gene, or the one genotype input given."""
    given = [k for k in common.INPUT_KINDS if args.get(k) is not None]
    if kb.engine.resolve_gene(args["gene"]) is None:
        return "gene"
    return given[0] if len(given) == 1 else "diplotype"


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
        kb = current_knowledge()
        drug = args.get("drug")
        entry = common.entry_from(args)
        key = (kb.release, common.entry_key(entry), drug)
        cached = _answers.get(key)
        patient_ref = (headers.get("patient_ref") or args.get("patient_ref") or "").strip() or None
        purpose = common.purpose_of_use()
        if cached is not None:
            template, answered = cached
            (receipt,) = common.write_audit([{**answered, "patient_ref": patient_ref, "purpose": purpose}])
            return template.response(receipt)

        audit_input = common.audit_input([args], [drug] if drug else None)
        interp = common.Interpreter(kb)
        result = interp.interpret(entry)
        refusal = None
        guidance = []
        if result.status in REFUSED:
            refusal = dict(detail=result.message or f"{entry.gene}: the entry could not be interpreted",
                           gene=entry.gene, gene_status=result.status.value, field=_which_field(kb, args))
        elif drug is not None:
            try:
                kb.matcher.genes_for(drug)
            except KeyError:
                refusal = dict(detail=f"drug {drug!r} has no CPIC guideline in this knowledge release",
                               drug=drug, field="drug")
            else:
                guidance = interp.guidance([drug], [entry], [result])

        status = 422 if refusal else 200
        (receipt,) = common.write_audit([self._event(status, audit_input, patient_ref, result, guidance, kb, purpose)])
        if refusal:
            return problem(422, "Unprocessable Entity", release=kb.release,
                           **refusal, **common.problem_extras(receipt))
        gene = common.gene_result_dict(result)
        # The answer without its receipt (AnswerTemplate adds each request's own).
        body = LOOKUP_RESPONSE.dump({
            **gene,
            "genes": [gene],
            "drug": drug,
            "drugs": [common.guidance_dict(d) for d in guidance],
            "release": kb.release,
        })
        # The audit event of this answer without its per-request parts (patient, purpose),
        # normalized once: every later request for it adds only those.
        answered = normalized_event(self._event(200, audit_input, None, result, guidance, kb, None))
        with _answers_lock:
            if len(_answers) >= _CACHE_MAX:
                _answers.clear()
            _answers[key] = (template := AnswerTemplate(body), answered)
        return template.response(receipt)

    @staticmethod
    def _event(status, audit_input, patient_ref, result, guidance, kb, purpose):
        return common.make_event(
            outcome=status,
            input=audit_input,
            patient_ref=patient_ref,
            result=common.result_summary([result], guidance),
            release=kb.release,
            warnings=common.warnings_of([result]),
            purpose=purpose,
        )


def init_app(app: Flask) -> None:
    get_api(app).register_blueprint(blp)
