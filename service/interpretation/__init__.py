"""The interpretation service: the one path every way in (the JSON API, the clinician page, CDS
Hooks, FHIR) takes from gene entries to an audited answer.

Given normalized gene entries (dicts: `gene` and one of `diplotype`, `phenotype`,
`activity_score`), drugs, options (`patient_ref`, `purpose`) and the `Caller` (actor, role, the
action that names the way in, request id, source address, purpose of use), it interprets with the
active knowledge release (service.releases), appends the audit record fail-closed (the record is
committed before the answer is returned; else ServiceUnavailable, 503, and no clinical content),
and returns the answer dict: `release` and the receipt (`audit_id`, `audit_seq`,
`audit_entry_hash`) included. Refusals are audited too (`record_refusal`, `LookupRefused`).
Call it inside an app context (a request, or `app.app_context()`).

API (stable):
- `Caller(actor, role, action, request_id=None, source_addr=None, purpose=None)`;
- `interpret(genotypes, drugs=None, *, caller, patient_ref=None, purpose=None) -> dict`
  {patient_ref, genes, drugs, release, audit_id, audit_seq, audit_entry_hash}; raises
  `InvalidInput` (nothing written: refuse it, and audit the refusal) for a gene given twice;
- `interpret_batch(items, *, load, caller) -> BatchAnswer` (release, items, failed);
- `lookup(entry, drug=None, *, caller, patient_ref=None) -> dict` {gene fields, genes, drug,
  drugs, release, receipt}; raises `LookupRefused` (audited; `.problem_fields()`) for an
  unknown gene or allele, a malformed notation or an unknown drug; `lookup_answer` gives the
  parts (body, normalized event, receipt) to a caller that remembers answers;
- `record(events, caller) -> [Receipt]`, `record_refusal(caller, status, detail, *, input,
  patient_ref=None, genes=None, drugs=None, release=None) -> Receipt`.

Example (a CDS hook's view):

    from service.interpretation import Caller, interpret

    caller = Caller(actor=g.client.name, role=g.client.role, action="POST /cds-services/pgx",
                    request_id=g.request_id)
    answer = interpret([{"gene": "CYP2C19", "diplotype": "*1/*2"}], ["clopidogrel"],
                       caller=caller, patient_ref="MRN-1")
    answer["drugs"][0]["direction"], answer["release"], answer["audit_id"]

Modules: events.py (audit events, pure), present.py (response dicts), memo.py (a request's
memo of interpretations), service.py (the path itself).
"""

from __future__ import annotations

from service.interpretation.events import INPUT_KINDS, purpose_of
from service.interpretation.memo import RequestMemo, entry_from, entry_key
from service.interpretation.present import gene_result_dict, guidance_dict, problem_extras, receipt_fields
from service.interpretation.service import (
    BatchAnswer,
    Caller,
    Interpretation,
    InvalidInput,
    LookupAnswer,
    LookupRefused,
    interpret,
    interpret_batch,
    interpret_body,
    lookup,
    lookup_answer,
    lookup_with_medications,
    record,
    record_answered,
    record_refusal,
)

__all__ = [
    "INPUT_KINDS",
    "BatchAnswer",
    "Caller",
    "Interpretation",
    "InvalidInput",
    "LookupAnswer",
    "LookupRefused",
    "RequestMemo",
    "entry_from",
    "entry_key",
    "gene_result_dict",
    "guidance_dict",
    "interpret",
    "interpret_batch",
    "interpret_body",
    "lookup",
    "lookup_answer",
    "lookup_with_medications",
    "problem_extras",
    "purpose_of",
    "receipt_fields",
    "record",
    "record_answered",
    "record_refusal",
]
