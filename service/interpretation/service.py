"""The one interpretation-and-audit path (see the package docstring)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from flask import g, has_request_context
from marshmallow import ValidationError

from service.audit import AuditUnavailable, Receipt, get_committer, normalized_event, prepare_events
from service.errors import ServiceUnavailable, problem_body
from service.interpretation.events import (
    INPUT_KINDS,
    audit_input,
    make_event,
    purpose_of,
    raw_entries,
    raw_patient_ref,
    result_summary,
    warnings_of,
)
from service.interpretation.memo import RequestMemo, entry_from, entry_key
from service.interpretation.present import (
    converted_gene_dict,
    gene_result_dict,
    guidance_dict,
    problem_extras,
    receipt_fields,
)
from service.observability import observe_audit_write, observe_gene_result, observe_guidance
from service.pgx.results import GeneStatus
from service.releases import current_knowledge

log = logging.getLogger(__name__)

REFUSED = (GeneStatus.INVALID, GeneStatus.UNKNOWN_ALLELE)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks, and through which way in: what every audit record names besides the answer.

    `action` names the way in (an endpoint such as "GET /v1/lookup", or a hook's id); `purpose`
    is the purpose of use given with the request (an interpretation body's own wins)."""

    actor: str
    role: str | None
    action: str
    request_id: str | None = None
    source_addr: str | None = None
    purpose: str | None = None

    def identity(self) -> dict[str, Any]:
        return {"actor": self.actor, "role": self.role, "action": self.action,
                "request_id": self.request_id, "source_addr": self.source_addr}


class InvalidInput(ValidationError):
    """The input cannot be interpreted as given (e.g. one gene given twice); nothing was
    written. The caller refuses it (422), and the refusal is audited (`record_refusal`; the
    HTTP error handler does so for the genotype endpoints)."""


class LookupRefused(Exception):
    """An audited refusal of a lookup (422): `fields` name the offending part (detail, gene,
    gene_status, drug, field), `release` and `receipt` the knowledge release and audit record."""

    status = 422

    def __init__(self, fields: dict[str, Any], release: str, receipt: Receipt):
        super().__init__(fields.get("detail"))
        self.fields = fields
        self.release = release
        self.receipt = receipt

    def problem_fields(self) -> dict[str, Any]:
        return {"release": self.release, **self.fields, **problem_extras(self.receipt)}


# -- recording ---------------------------------------------------------------------------------


def record(events: list[dict[str, Any]], caller: Caller) -> list[Receipt]:
    """Append the events (one request's records) for `caller` and return their receipts once
    committed; raise ServiceUnavailable (503, fail closed) if they cannot be. Concurrent requests
    share a group commit."""
    started = time.perf_counter()
    if not events:
        return []
    try:
        committer = get_committer()
        # In this request's own thread: its identity, pseudonym, normalized JSON, audit ids.
        prepared = prepare_events(events, state=committer.state, ident=caller.identity())
        receipts = committer.commit(prepared)
    except ServiceUnavailable:
        raise
    except Exception as exc:  # lock timeout, database down, ...: no record, so no answer
        # Only the exception's type: its text may carry SQL parameters (genotypes, patient refs).
        log.error("audit write failed (%s); request refused (fail closed)", type(exc).__name__)
        raise AuditUnavailable() from None
    if has_request_context():  # the refusal handler skips a request that recorded itself
        g.setdefault("audit_receipts", []).extend(receipts)
    observe_audit_write(time.perf_counter() - started)
    _observe_answers(events)
    return list(receipts)


def record_refusal(caller: Caller, status: int, detail: str | None, *, input: dict[str, Any],
                   patient_ref: str | None = None, genes: list[str] | None = None,
                   drugs: list[str] | None = None, release: str | None = None) -> Receipt:
    """One record of a refused request (names only in `input`: a refused caller's genotype is
    not kept); fail closed like any record."""
    event = {
        "outcome": int(status),
        "patient_ref": patient_ref,
        "input": input,
        "result": {"refused": True, "status": int(status), "detail": detail},
        "genes": list(genes or ()),
        "drugs": list(drugs or ()),
        "release": release,
        "warnings": [],
        "purpose": caller.purpose,
    }
    return record([event], caller)[0]


def _observe_answers(events: list[dict[str, Any]]) -> None:
    """Metrics of what was answered (committed, outcome 200): gene results by gene and category,
    drug guidance by drug and direction, from the events' result summaries; counted per label
    pair first, so a large batch costs a handful of counter updates."""
    genes: dict[tuple, int] = {}
    drugs: dict[tuple, int] = {}
    for ev in events:
        if ev.get("outcome") != 200:
            continue
        result = ev.get("result") or {}
        for r in result.get("genes") or ():
            key = (r.get("gene"), r.get("category"))
            genes[key] = genes.get(key, 0) + 1
        for d in result.get("drugs") or ():
            key = (d.get("drug"), d.get("direction"))
            drugs[key] = drugs.get(key, 0) + 1
    for (gene, category), n in genes.items():
        observe_gene_result(gene, category, n)
    for (drug, direction), n in drugs.items():
        observe_guidance(drug, direction, n)


# -- interpretations ---------------------------------------------------------------------------


@dataclass(slots=True)
class Interpretation:
    """One interpreted body: the answer dict (without receipt) and its audit event."""

    response: dict[str, Any]
    event: dict[str, Any]


def interpret_body(memo: RequestMemo, body: dict[str, Any], caller: Caller) -> Interpretation:
    """Interpret one body ({genotypes, drugs?, patient_ref?, purpose?}); nothing is written.
    Raises InvalidInput when a gene is given twice (under two spellings, say)."""
    entries = [entry_from(e) for e in body["genotypes"]]
    results = [memo.interpret(e) for e in entries]
    seen: set[str] = set()
    for r in results:  # the same gene under two spellings (an alias, a case): which one holds?
        if r.gene in seen:
            raise InvalidInput({"genotypes": [f"{r.gene} is given more than once"]})
        seen.add(r.gene)
    drugs = body.get("drugs")
    if drugs is not None:  # one answer per drug, however often (or in whatever case) it was asked
        firsts: dict[str, str] = {}
        for d in drugs:
            firsts.setdefault(d.strip().lower(), d)
        drugs = list(firsts.values())
    if body.get("medications"):
        return _interpret_with_medications(memo.kb, body, entries, results, drugs, caller)
    guidance, guidance_dicts = memo.guidance_dicts(drugs, entries, results)
    response = {
        "patient_ref": body.get("patient_ref"),
        "genes": [memo.gene_dict(e) for e in entries],
        "drugs": guidance_dicts,
        "release": memo.kb.release,
    }
    purpose = body.get("purpose")
    event = {
        **memo.answered_event(body["genotypes"], drugs, results, guidance),
        "patient_ref": body.get("patient_ref"),
        "purpose": purpose_of(purpose) if purpose else caller.purpose,
    }
    return Interpretation(response, event)


def _interpret_with_medications(kb, body: dict[str, Any], entries, results, drugs, caller: Caller) -> Interpretation:
    """The phenoconversion path (service.pgx.medications): not memoized, since the medications
    change both the gene results shown and the guidance."""
    meds = kb.read_medications(body["medications"])
    conversions, notes = kb.phenoconvert(results, meds)
    converted = {c.gene: c for c in conversions if c.converted}
    guidance = kb.guidance(drugs, results, conversions)
    genes = []
    for r in results:
        c = converted.get(r.gene)
        genes.append(converted_gene_dict(c.genotype, c.result) if c else gene_result_dict(r))
    shown = [converted[r.gene].result if r.gene in converted else r for r in results]
    response = {
        "patient_ref": body.get("patient_ref"),
        "genes": genes,
        "drugs": [guidance_dict(d) for d in guidance],
        "release": kb.release,
        "warnings": notes,
    }
    purpose = body.get("purpose")
    event = {
        **normalized_event(make_event(
            outcome=200,
            input=audit_input(body["genotypes"], drugs, body["medications"]),
            result=result_summary(shown, guidance),
            release=kb.release,
            warnings=warnings_of(shown) + notes,
        )),
        "patient_ref": body.get("patient_ref"),
        "purpose": purpose_of(purpose) if purpose else caller.purpose,
    }
    return Interpretation(response, event)


def interpret(genotypes: list[dict[str, Any]], drugs: list[str] | None = None, *, caller: Caller,
              patient_ref: str | None = None, purpose: str | None = None, kb=None,
              medications: list[str] | None = None) -> dict[str, Any]:
    """Interpret a patient's gene entries (and guidance for `drugs`, or for every drug they
    affect) with the active knowledge release, audit the answer, and return it with its receipt.
    `medications` (the patient's other drugs) may convert a phenotype (phenoconversion).
    Raises InvalidInput (nothing written), NoActiveRelease or ServiceUnavailable (503)."""
    kb = kb or current_knowledge()
    body = {"genotypes": genotypes, "drugs": drugs, "patient_ref": patient_ref, "purpose": purpose,
            "medications": medications}
    done = interpret_body(RequestMemo(kb), body, caller)
    (receipt,) = record([done.event], caller)
    return {**done.response, **receipt_fields(receipt)}


class BatchAnswer:
    """A batch's answers in input order, each {"status": 200, "result": ...} or
    {"status": 422|500, "error": problem}, every one with its receipt."""

    __slots__ = ("release", "items", "failed")

    def __init__(self, release: str, items: list[dict[str, Any]], failed: int):
        self.release = release
        self.items = items
        self.failed = failed


def interpret_batch(items: list[Any], *, load, caller: Caller, kb=None) -> BatchAnswer:
    """Each raw item loaded by `load(item) -> body` (raising ValidationError for an invalid one)
    and interpreted on its own, so that one bad item never spoils the others; one audit record
    per item, all in one group commit (fail closed: ServiceUnavailable, nothing answered)."""
    kb = kb or current_knowledge()
    memo = RequestMemo(kb)
    answers: list[tuple[int, Any]] = []  # (status, Interpretation | problem dict)
    events = []
    for index, item in enumerate(items):
        try:
            done = interpret_body(memo, load(item), caller)
        except ValidationError as exc:
            error = problem_body(422, "Unprocessable Entity", f"Item {index} did not validate; see `errors`.",
                                 errors=exc.normalized_messages())
            answers.append((422, error))
            events.append(make_event(outcome=422, input=raw_entries(item), patient_ref=raw_patient_ref(item),
                                     release=kb.release, purpose=caller.purpose))
            continue
        except Exception as exc:  # a defect, not the caller's fault: this item only, logged by type
            log.error("batch item %d could not be interpreted (%s)", index, type(exc).__name__)
            error = problem_body(500, "Internal Server Error",
                                 f"Item {index} could not be interpreted; the error has been logged.")
            answers.append((500, error))
            events.append(make_event(outcome=500, input=raw_entries(item), patient_ref=raw_patient_ref(item),
                                     release=kb.release, purpose=caller.purpose))
            continue
        answers.append((200, done))
        events.append(done.event)

    receipts = record(events, caller)
    out = []
    failed = 0
    for (status, answer), receipt in zip(answers, receipts, strict=True):
        if status == 200:
            out.append({"status": 200, "result": {**answer.response, **receipt_fields(receipt)}})
        else:
            failed += 1
            out.append({"status": status, "error": {**answer, **problem_extras(receipt)}})
    return BatchAnswer(kb.release, out, failed)


# -- lookups -----------------------------------------------------------------------------------


@dataclass(slots=True)
class LookupAnswer:
    """An answered lookup: `body` without its receipt, the audit event of the answer without its
    per-request parts (patient, purpose), normalized, and this request's `receipt`."""

    body: dict[str, Any]
    answered: dict[str, Any]
    receipt: Receipt

    def as_dict(self) -> dict[str, Any]:
        return {**self.body, **receipt_fields(self.receipt)}


def _which_field(kb, entry: dict[str, Any]) -> str:
    """The part of the query at fault: the gene, or the one genotype input given."""
    given = [k for k in INPUT_KINDS if entry.get(k) is not None]
    if kb.engine.resolve_gene(entry["gene"]) is None:
        return "gene"
    return given[0] if len(given) == 1 else "diplotype"


def lookup_answer(entry: dict[str, Any], drug: str | None = None, *, caller: Caller,
                  patient_ref: str | None = None, kb=None) -> LookupAnswer:
    """One gene entry ({gene, and one of diplotype / phenotype / activity_score}) and optionally
    one drug: interpreted, audited, answered. An unknown gene or allele, a malformed notation or
    an unknown drug raises LookupRefused (audited, 422)."""
    kb = kb or current_knowledge()
    genotype = entry_from(entry)
    audit_in = audit_input([entry], [drug] if drug else None)
    memo = RequestMemo(kb)
    result = memo.interpret(genotype)
    refusal = None
    guidance = []
    if result.status in REFUSED:
        refusal = dict(detail=result.message or f"{genotype.gene}: the entry could not be interpreted",
                       gene=genotype.gene, gene_status=result.status.value, field=_which_field(kb, entry))
    elif drug is not None:
        if not kb.knows_drug(drug):
            refusal = dict(detail=f"drug {drug!r} has no CPIC guideline in this knowledge release",
                           drug=drug, field="drug")
        else:
            guidance = memo.guidance([drug], [genotype], [result])

    def event(status: int, patient: str | None, purpose: str | None) -> dict[str, Any]:
        return make_event(outcome=status, input=audit_in, patient_ref=patient,
                          result=result_summary([result], guidance), release=kb.release,
                          warnings=warnings_of([result]), purpose=purpose)

    status = 422 if refusal else 200
    (receipt,) = record([event(status, patient_ref, caller.purpose)], caller)
    if refusal:
        raise LookupRefused(refusal, kb.release, receipt)
    gene = gene_result_dict(result)
    body = {**gene, "genes": [gene], "drug": drug, "drugs": [guidance_dict(d) for d in guidance],
            "release": kb.release}
    return LookupAnswer(body, normalized_event(event(200, None, None)), receipt)


def lookup(entry: dict[str, Any], drug: str | None = None, *, caller: Caller,
           patient_ref: str | None = None, kb=None) -> dict[str, Any]:
    """`lookup_answer` as the answer dict, receipt included."""
    return lookup_answer(entry, drug, caller=caller, patient_ref=patient_ref, kb=kb).as_dict()


def lookup_with_medications(entry: dict[str, Any], drug: str | None, medications: list[str], *,
                            caller: Caller, patient_ref: str | None = None) -> dict[str, Any]:
    """A lookup whose patient takes other drugs: answered through `interpret` (phenoconversion),
    in the lookup's shape. An entry or a drug the lookup would refuse is refused as `lookup` does."""
    kb = current_knowledge()
    if kb.interpret(entry_from(entry)).status in REFUSED or (drug is not None and not kb.knows_drug(drug)):
        return lookup(entry, drug, caller=caller, patient_ref=patient_ref, kb=kb)
    given = {k: entry[k] for k in ("gene", *INPUT_KINDS) if entry.get(k) is not None}
    answer = interpret([given], [drug] if drug else [], caller=caller, patient_ref=patient_ref,
                       medications=medications, kb=kb)
    gene = answer["genes"][0]
    return {**gene, "warnings": [*gene["warnings"], *answer.get("warnings", ())], "genes": answer["genes"],
            "drugs": answer["drugs"], "drug": drug, "release": answer["release"],
            **{k: answer[k] for k in ("audit_id", "audit_seq", "audit_entry_hash")}}


def record_answered(answered: dict[str, Any], *, caller: Caller, patient_ref: str | None) -> Receipt:
    """Record once more an answer recorded before (`LookupAnswer.answered`), for this caller and
    patient: what a remembered answer's request writes."""
    (receipt,) = record([{**answered, "patient_ref": patient_ref, "purpose": caller.purpose}], caller)
    return receipt


__all__ = [
    "BatchAnswer", "Caller", "Interpretation", "InvalidInput", "LookupAnswer", "LookupRefused",
    "entry_key", "interpret", "interpret_batch", "interpret_body", "lookup", "lookup_answer", "record",
    "record_answered", "record_refusal",
]
