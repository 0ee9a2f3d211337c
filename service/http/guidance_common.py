"""What the lookup, interpretation and batch views share: turning requests into domain calls,
domain results into response dicts, and answers into audit events written before they leave.

The pattern of every genotype-reading view:
1. interpret with the in-memory knowledge release (no database, no lock held);
2. `write_audit([...])`: one write transaction that appends the audit record(s); if it fails the
   request fails closed (503, no clinical content);
3. answer with the receipts (`audit_id`, `audit_seq`, `audit_entry_hash`) and the release.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable
from typing import Any

from flask import current_app, g, request

from service.audit.writer import normalized_event
from service.db import SerializedPostgres, SerializedSqlite
from service.errors import ServiceUnavailable
from service.observability import observe_audit_write, observe_db_write, observe_gene_result, observe_guidance
from service.pgx.results import DrugGuidance, GeneResult, GenotypeEntry

log = logging.getLogger(__name__)

INPUT_KINDS = ("diplotype", "phenotype", "activity_score")
PURPOSE_HEADER = "X-Purpose-Of-Use"
MAX_PURPOSE = 100


# -- domain calls ------------------------------------------------------------------------------


def entry_from(data: dict[str, Any]) -> GenotypeEntry:
    return GenotypeEntry(
        gene=data["gene"],
        diplotype=data.get("diplotype"),
        phenotype=data.get("phenotype"),
        activity_score=data.get("activity_score"),
    )


def entry_key(entry: GenotypeEntry) -> tuple:
    return (entry.gene, entry.diplotype, entry.phenotype, entry.activity_score)


class Interpreter:
    """Interprets entries with one knowledge base, memoizing within one request (a batch repeats
    the same genotypes many times; results are frozen, so sharing them is safe)."""

    def __init__(self, kb):
        self.kb = kb
        self._genes: dict[tuple, GeneResult] = {}
        self._guidance: dict[tuple, tuple[list[DrugGuidance], list[dict[str, Any]]]] = {}
        self._gene_dicts: dict[tuple, dict[str, Any]] = {}
        self._events: dict[tuple, dict[str, Any]] = {}

    def interpret(self, entry: GenotypeEntry) -> GeneResult:
        key = entry_key(entry)
        result = self._genes.get(key)
        if result is None:
            # The engine never raises on caller input: problems come back as invalid/unknown_allele.
            result = self._genes[key] = self.kb.interpret(entry)
        return result

    def guidance(self, drugs: list[str] | None, entries: list[GenotypeEntry],
                 results: list[GeneResult]) -> list[DrugGuidance]:
        return self._guidance_and_dicts(drugs, entries, results)[0]

    def guidance_dicts(self, drugs: list[str] | None, entries: list[GenotypeEntry],
                       results: list[GeneResult]) -> tuple[list[DrugGuidance], list[dict[str, Any]]]:
        """The guidance and its response dicts, shared by every item with the same input (they
        are never mutated), so a large batch holds each distinct answer once."""
        return self._guidance_and_dicts(drugs, entries, results)

    def _guidance_and_dicts(self, drugs, entries, results):
        key = (None if drugs is None else tuple(drugs), frozenset(entry_key(e) for e in entries))
        out = self._guidance.get(key)
        if out is None:
            guidance = self.kb.guidance(drugs, results)
            out = self._guidance[key] = (guidance, [guidance_dict(d) for d in guidance])
        return out

    def answered_event(self, genotypes: list[dict[str, Any]], drugs: list[str] | None,
                       results: list[GeneResult], guidance: list[DrugGuidance]) -> dict[str, Any]:
        """The audit event of an answered body without its patient and purpose, normalized
        (service.audit.writer.normalized_event) once per distinct input in this request: a
        batch's items repeat a few genotypes, and normalizing each item's input and result
        summary again was a quarter of a 1000-item batch's CPU. Keyed by the input exactly as
        given (each value with its type: 1, 1.0 and True are different inputs), in order."""
        key = (
            tuple(tuple((k, type(v), v) for k, v in _given(e)) for e in genotypes),
            None if drugs is None else tuple(drugs),
        )
        event = self._events.get(key)
        if event is None:
            event = self._events[key] = normalized_event(make_event(
                outcome=200,
                input=audit_input(genotypes, drugs),
                result=result_summary(results, guidance),
                release=self.kb.release,
                warnings=warnings_of(results),
            ))
        return event

    def gene_dict(self, entry: GenotypeEntry) -> dict[str, Any]:
        key = entry_key(entry)
        out = self._gene_dicts.get(key)
        if out is None:
            out = self._gene_dicts[key] = gene_result_dict(self.interpret(entry))
        return out


# -- response dicts ----------------------------------------------------------------------------


def _value(v: Any) -> Any:
    return getattr(v, "value", v)


def gene_result_dict(r: GeneResult) -> dict[str, Any]:
    return {
        "gene": r.gene,
        "input": r.input,
        "diplotype": r.diplotype,
        "phenotype": r.phenotype,
        "activity_score": r.activity_score,
        "category": _value(r.category),
        "status": _value(r.status),
        "warnings": list(r.warnings),
        "message": r.message,
        "lookup_key": r.lookup_key,
        "allele_status": dict(r.allele_status),
        "ehr_priority": r.ehr_priority,
    }


def guidance_dict(d: DrugGuidance) -> dict[str, Any]:
    source = None
    if d.source is not None:
        source = {
            "name": d.source.name,
            "url": d.source.url,
            "version": d.source.version,
            "guideline_id": d.guideline_id,
        }
    return {
        "drug": d.drug,
        "genes": dict(d.genes),
        "status": _value(d.status),
        "missing_genes": list(d.missing_genes),
        "direction": _value(d.direction),
        "classification": d.classification,
        "population": d.population,
        "recommendation": d.recommendation,
        "source": source,
        "dose_factor": d.dose_factor,
        "frequency": d.frequency,
        "alternatives": list(d.alternatives),
        "guideline_id": d.guideline_id,
        "recommendation_id": d.recommendation_id,
        "message": d.message,
    }


# -- audit -------------------------------------------------------------------------------------


def purpose_of_use(body_value: str | None = None) -> str | None:
    value = body_value or request.headers.get(PURPOSE_HEADER)
    if not value:
        return None
    return value.strip()[:MAX_PURPOSE] or None


def action() -> str:
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    return f"{request.method} {rule}"


def _given(entry: dict[str, Any]) -> list[tuple[str, Any]]:
    """A gene entry's input keys and values, as given, in the order audit records keep them."""
    return [(k, entry[k]) for k in ("gene", *INPUT_KINDS) if entry.get(k) is not None]


def audit_input(entries: Iterable[dict[str, Any]] | None, drugs: list[str] | None = None) -> dict[str, Any]:
    """The normalized input: the gene entries as given (only their input keys) and the drugs asked."""
    genotypes = [dict(_given(e)) for e in entries or ()]
    return {"genotypes": genotypes, "drugs": list(drugs) if drugs is not None else None}


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _short(value: Any, limit: int = 200) -> str:
    """Text from an invalid body, made safe to store: control characters (NUL!) replaced."""
    return _CONTROL.sub("\N{REPLACEMENT CHARACTER}", str(value)[:limit])


def raw_entries(raw: Any) -> dict[str, Any]:
    """Whatever gene entries can be read out of an invalid body, as short strings (for the audit)."""
    genotypes: list[dict[str, Any]] = []
    items = raw.get("genotypes") if isinstance(raw, dict) else None
    for e in items[:100] if isinstance(items, list) else ():
        if isinstance(e, dict):
            genotypes.append({k: _short(e[k]) for k in ("gene", *INPUT_KINDS) if e.get(k) is not None})
    drugs = raw.get("drugs") if isinstance(raw, dict) else None
    drugs = [_short(d, 100) for d in drugs[:200] if isinstance(d, str)] if isinstance(drugs, list) else None
    return {"genotypes": genotypes, "drugs": drugs, "valid": False}


def raw_patient_ref(raw: Any) -> str | None:
    value = raw.get("patient_ref") if isinstance(raw, dict) else None
    return _short(value) if isinstance(value, str) and value else None


def result_summary(genes: list[GeneResult], drugs: list[DrugGuidance]) -> dict[str, Any]:
    return {
        "genes": [
            {
                "gene": r.gene,
                "phenotype": r.phenotype,
                "activity_score": r.activity_score,
                "category": _value(r.category),
                "status": _value(r.status),
            }
            for r in genes
        ],
        "drugs": [
            {
                "drug": d.drug,
                "population": d.population,
                "status": _value(d.status),
                "direction": _value(d.direction),
                "classification": d.classification,
            }
            for d in drugs
        ],
    }


def warnings_of(genes: list[GeneResult]) -> list[str]:
    return [f"{r.gene}: {w}" for r in genes for w in r.warnings]


def make_event(
    *,
    outcome: int,
    input: dict[str, Any],
    patient_ref: str | None = None,
    result: dict[str, Any] | None = None,
    release: str | None = None,
    warnings: list[str] | None = None,
    purpose: str | None = None,
    genes: list[str] | None = None,
    drugs: list[str] | None = None,
) -> dict[str, Any]:
    """An audit event (service.audit.append_events): `genes`/`drugs` are the names an auditor
    filters on; `input` the normalized gene entries; `result` the summary of the answer."""
    if genes is None:
        genes = [e["gene"] for e in input.get("genotypes") or () if "gene" in e]
    if drugs is None:
        drugs = sorted({d["drug"] for d in (result or {}).get("drugs", ())} | set(input.get("drugs") or ()))
    return {
        "action": action(),
        "outcome": int(outcome),
        "patient_ref": patient_ref,
        "input": input,
        "result": result or {},
        "release": release,
        "warnings": list(warnings or ()),
        "purpose": purpose,
        "genes": list(genes),
        "drugs": list(drugs),
    }


class _Waiter:
    """One request's prepared records waiting for a group commit.

    Woken through a bare lock held from the start (`wait` blocks until `wake` releases it): a
    `threading.Event` is a Condition over a lock, several times the cost per request. Each
    `wake` follows the `wait` it ends (a request is woken once as a follower or successor, and
    once more, as a leader, by its own group, after that wait returned), so the lock is never
    released twice in a row."""

    __slots__ = ("prepared", "_signal", "lead", "done", "receipts", "error")

    def __init__(self, prepared: list[dict[str, Any]]):
        self.prepared = prepared
        self._signal = threading.Lock()
        self._signal.acquire()
        self.lead = False
        self.done = False
        self.receipts: list[Any] | None = None
        self.error: BaseException | None = None

    def wait(self) -> None:
        self._signal.acquire()

    def wake(self) -> None:
        self._signal.release()


class GroupCommitter:
    """Audit group commit, per app and process (leader/follower).

    Each request prepares its records in its own thread (identity, pseudonym, normalized JSON,
    audit_id: `service.audit.writer.prepare_events`) and queues them. At most one request thread
    at a time is the leader: once it holds the database writer lock, it takes the queued records
    (FIFO, whole requests, up to MAX_GROUP records; always including its own, which are first in
    the queue) and appends them in ONE write transaction (one writer lock, one commit) with
    contiguous seqs; then it wakes every request of the group with its own receipts, and hands
    the leadership to the oldest request still queued (or ends it when none is). Each request
    waits on its own signal, so waking a group is one step, not a chain of lock hand-offs. So:
    - a request returns only after the transaction holding its records committed;
    - if that transaction fails, every request in it gets the error (503, fail closed);
    - seqs stay gapless (the chain head is read under the database writer lock as before).
    """

    MAX_GROUP = 256

    def __init__(self, db, state):
        self.db = db
        self.state = state
        self._pending: list[_Waiter] = []
        self._mutex = threading.Lock()
        self._leading = False

    def commit(self, prepared: list[dict[str, Any]]) -> list[Any]:
        waiter = _Waiter(prepared)
        with self._mutex:
            self._pending.append(waiter)
            if not self._leading:  # then the queue was empty: this request is first in it
                self._leading = waiter.lead = True
        if not waiter.lead:
            waiter.wait()
        if not waiter.done:  # woken (or started) as the leader, with its own records first in the queue
            self._lead()
        if waiter.error is not None:
            raise ServiceUnavailable() from None  # a fresh one per request (the leader logged it)
        return waiter.receipts  # type: ignore[return-value]

    def _take_group(self) -> list[_Waiter]:
        """The queued requests, oldest first, up to MAX_GROUP records (at least one request)."""
        with self._mutex:
            group: list[_Waiter] = []
            count = 0
            while self._pending and (not group or count + len(self._pending[0].prepared) <= self.MAX_GROUP):
                w = self._pending.pop(0)
                group.append(w)
                count += len(w.prepared)
        return group

    def _writer(self):
        """A SQLite file: its writer lock and the one-statement append; PostgreSQL: the process's
        own connection and the two-round-trip append (service/audit/writer.py); otherwise (an
        in-memory SQLite database) an ordinary write transaction."""
        if getattr(self.db, "serializes_sqlite_writers", False):
            return self.db.serialized_sqlite()
        if getattr(self.db, "is_postgresql", False):
            return self.db.serialized_postgres()
        return self.db.write_transaction(defer_timeouts=True)

    def _lead(self) -> None:
        import service.audit as audit  # looked up at call time (tests replace append_events)

        group: list[_Waiter] = []
        try:
            started = time.perf_counter()
            with self._writer() as conn:
                # Taken once the writer lock is held, not before: the requests that queued while
                # this leader waited for it (another worker's transaction) join this one. Fewer,
                # larger transactions, so less time in the section every worker serializes on.
                audit.lock_chain_head(conn)  # PostgreSQL: BEGIN + advisory lock + head read
                group = self._take_group()
                receipts = audit.append_events(conn, [p for w in group for p in w.prepared],
                                               state=self.state, prepared=True)
            if isinstance(conn, SerializedSqlite | SerializedPostgres):  # (write_transaction()s: SQLAlchemy events)
                observe_db_write(time.perf_counter() - started)
            i = 0
            for w in group:
                w.receipts = receipts[i:i + len(w.prepared)]
                i += len(w.prepared)
        except BaseException as exc:  # nothing of the group committed: every request in it fails closed
            if not group:  # the transaction did not even begin: those queued now fail with it
                group = self._take_group()
            for w in group:
                w.error = exc
            if not isinstance(exc, ServiceUnavailable):  # (append_events logs its own failures)
                # Only the exception's type: its text may carry SQL parameters (PHI).
                log.error("audit write failed (%s) for a group of %d request(s); refused (fail closed)",
                          type(exc).__name__, len(group))
            if not isinstance(exc, Exception):
                raise
        finally:
            with self._mutex:
                for w in group:
                    w.done = True
                successor = self._pending[0] if self._pending else None
                if successor is not None:
                    successor.lead = True
                else:
                    self._leading = False
            for w in group:
                w.wake()
            if successor is not None:
                successor.wake()


_committers_lock = threading.Lock()


def _committer() -> GroupCommitter:
    from service.app import get_db
    from service.audit.writer import get_state

    ext = current_app.extensions
    committer = ext.get("pgx.audit_group")
    if committer is None:
        with _committers_lock:
            committer = ext.get("pgx.audit_group")
            if committer is None:
                committer = ext["pgx.audit_group"] = GroupCommitter(get_db(), get_state())
    return committer


def write_audit(events: list[dict[str, Any]]) -> list[Any]:
    """Append the events (one request's records) and return their receipts once committed;
    fail closed (503) if they cannot be. Concurrent requests share a group commit."""
    started = time.perf_counter()
    try:
        from service.audit.writer import prepare_events
    except ImportError:
        log.error("the audit trail is not installed (service.audit.append_events missing)")
        raise ServiceUnavailable() from None
    if not events:
        return []
    try:
        committer = _committer()
        # In this request's own thread: its identity, pseudonym, normalized JSON, audit ids.
        prepared = prepare_events(events, state=committer.state)
        receipts = committer.commit(prepared)
    except ServiceUnavailable:
        raise
    except Exception as exc:  # lock timeout, database down, ...: no record, so no answer
        # Only the exception's type: its text may carry SQL parameters (genotypes, patient refs).
        log.error("audit write failed (%s); request refused (fail closed)", type(exc).__name__)
        raise ServiceUnavailable() from None
    g.setdefault("audit_receipts", []).extend(receipts)
    observe_audit_write(time.perf_counter() - started)
    _observe_answers(events)
    return list(receipts)


def _observe_answers(events: list[dict[str, Any]]) -> None:
    """Metrics of what was answered (committed, outcome 200): gene results by gene and category,
    drug guidance by drug and direction, from the events' result summaries; counted per label
    pair first, so a 1000-item batch costs a handful of counter updates."""
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


def receipt_fields(receipt: Any) -> dict[str, Any]:
    seq = getattr(receipt, "seq", None)
    entry_hash = getattr(receipt, "entry_hash", None)
    return {
        "audit_id": str(receipt.audit_id),
        "audit_seq": None if seq is None else int(seq),
        "audit_entry_hash": entry_hash,
    }


def problem_extras(receipt: Any) -> dict[str, Any]:
    return {k: v for k, v in receipt_fields(receipt).items() if v is not None}

