"""Remembered lookup answers, and the JSON template each is written from.

Why: the answer to one (knowledge release, gene entry, drug) never changes (a release is
immutable and the engine deterministic), while each request for it needs its own audit record
and receipt. So a worker computes an answered lookup once (interpretation, guidance, the
schema-dumped body and its normalized audit event) and answers every later request for it by
recording the remembered event for this caller and patient and splicing the new receipt into
the remembered JSON bytes. Only answered (200) lookups are remembered; refusals take the full
path. Bounded: cleared when full (the inputs are caller-chosen).
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
from flask import Response, current_app

from service.http.schemas import LookupResponseSchema
from service.interpretation import Caller, entry_from, entry_key, lookup_answer, record_answered
from service.releases import current_knowledge

CACHE_MAX = 4096
LOOKUP_RESPONSE = LookupResponseSchema()
RECEIPT_KEYS_SORTED = ("audit_entry_hash", "audit_id", "audit_seq")  # as the JSON provider sorts them

_answers: dict[tuple, tuple] = {}
_answers_lock = threading.Lock()


class AnswerTemplate:
    """A remembered answer's JSON bytes, as the app's JSON provider writes them (sorted keys,
    compact), cut where the per-request receipt goes. The receipt keys sort next to each other
    (audit_entry_hash < audit_id < audit_seq), so three cuts in order suffice."""

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


def lookup_response(entry: dict[str, Any], drug: str | None, *, caller: Caller,
                    patient_ref: str | None) -> Response:
    """The lookup's answer, audited (service.interpretation), from memory when it was answered
    before in this worker. Raises LookupRefused (audited) like `lookup_answer`."""
    kb = current_knowledge()
    key = (kb.release, entry_key(entry_from(entry)), drug)
    cached = _answers.get(key)
    if cached is not None:
        template, answered = cached
        return template.response(record_answered(answered, caller=caller, patient_ref=patient_ref))
    answer = lookup_answer(entry, drug, caller=caller, patient_ref=patient_ref, kb=kb)
    template = AnswerTemplate(LOOKUP_RESPONSE.dump(answer.body))
    with _answers_lock:
        if len(_answers) >= CACHE_MAX:
            _answers.clear()
        _answers[key] = (template, answer.answered)
    return template.response(answer.receipt)
