"""Streaming exports of the audit trail: NDJSON (verifiable), CSV and a FHIR R4 Bundle.

Memory stays constant: rows are read by keyset pagination on `seq` (short read transactions of
`page_size` rows), never all at once.

An export is planned first (`plan_export`, inside a write transaction, normally the one that also
records the export itself): the seq range [first_seq, last_seq] it covers and a signed checkpoint
of the log at size last_seq (stored in audit_checkpoint). `since`/`until` select a contiguous seq
range (the first record recorded at or after `since` up to the last recorded at or before
`until`; `recorded` is taken under the writer lock, so it does not decrease along seq unless the
clock is stepped back). `actor`, `patient_ref`, `gene` and `drug` select a subset of that range:
such an export is not contiguous.

The NDJSON export ends with one line that carries no `seq`:
  {"checkpoint": {origin, size, head_hash, time, key_id, signature},
   "export": {origin, checkpoint_size, checkpoint_hash, first_seq, last_seq, count, contiguous,
              filters, records_digest, time, key_id, signature}}
`records_digest` = SHA-256 over "<seq>:<entry_hash>\\n" of every exported record in order, so the
signed statement pins exactly which records the export holds (see verify.py for what that proves).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from service.audit.canonical import GENESIS_HASH, canonical_text, checkpoint_message, record_line
from service.audit.models import audit_event
from service.audit.writer import (
    AuditState,
    _lock_and_read_head,
    append_events,
    get_state,
    insert_checkpoint,
    to_utc_iso,
    utc_now_iso,
)

FORMATS = ("ndjson", "csv", "fhir")
MEDIA_TYPES = {
    "ndjson": "application/x-ndjson",
    "csv": "text/csv",  # a text/* type: the response adds "; charset=utf-8" itself (once)
    "fhir": "application/fhir+json",
}
CSV_COLUMNS = (
    "seq",
    "audit_id",
    "recorded",
    "actor",
    "role",
    "action",
    "outcome",
    "purpose",
    "patient_ref",
    "genes",
    "drugs",
    "release",
    "request_id",
    "source_addr",
    "warnings",
    "input",
    "result",
    "prev_hash",
    "entry_hash",
)
FHIR_EXT = "https://pgx-service.invalid/fhir/StructureDefinition/audit-"


@dataclass(frozen=True)
class ExportFilters:
    since: str | None = None
    until: str | None = None
    actor: str | None = None
    patient_ref: str | None = None  # the real reference; hashed before it reaches SQL
    gene: str | None = None
    drug: str | None = None

    @property
    def contiguous(self) -> bool:
        return not (self.actor or self.patient_ref or self.gene or self.drug)

    def normalized(self) -> ExportFilters:
        """since/until in the stored UTC form (raises ValueError on a malformed time)."""
        return ExportFilters(
            since=to_utc_iso(self.since) if self.since else None,
            until=to_utc_iso(self.until) if self.until else None,
            actor=self.actor or None,
            patient_ref=self.patient_ref or None,
            gene=(self.gene or "").strip().upper() or None,
            drug=(self.drug or "").strip().lower() or None,
        )


@dataclass
class ExportPlan:
    filters: ExportFilters
    patient_hash: str | None
    first_seq: int
    last_seq: int
    checkpoint: dict
    origin: str
    page_size: int = 5000
    description: dict = field(default_factory=dict)

    def filters_statement(self) -> dict:
        """The filters as signed into the export statement (the patient reference only hashed)."""
        f = asdict(self.filters)
        f["patient_ref"] = self.patient_hash
        return {k: v for k, v in f.items() if v is not None}


def plan_export(conn: Connection, filters: ExportFilters, *, state: AuditState | None = None) -> ExportPlan:
    """Fix the seq range of an export and sign (and store) a checkpoint at its end.

    Run inside a write transaction (it takes the writer lock so the checkpoint is of a settled head).
    """
    state = state or get_state()
    filters = filters.normalized()
    head_seq, head_hash = _lock_and_read_head(conn)
    first, last = 1, head_seq
    if filters.since:
        lo = conn.execute(select(func.min(audit_event.c.seq)).where(audit_event.c.recorded >= filters.since)).scalar()
        first = int(lo) if lo is not None else head_seq + 1
    if filters.until:
        hi = conn.execute(select(func.max(audit_event.c.seq)).where(audit_event.c.recorded <= filters.until)).scalar()
        last = int(hi) if hi is not None else 0
    if last == head_seq:
        size_hash = head_hash
    elif last <= 0:
        last, size_hash = 0, GENESIS_HASH
    else:
        size_hash = conn.execute(select(audit_event.c.entry_hash).where(audit_event.c.seq == last)).scalar_one()
    cp = insert_checkpoint(conn, state, last, size_hash)
    return ExportPlan(
        filters=filters,
        patient_hash=state.pseudonymize(filters.patient_ref),
        first_seq=first,
        last_seq=last,
        checkpoint=cp,
        origin=state.origin,
    )


def _where(plan: ExportPlan, lo: int, hi: int):
    c = audit_event.c
    conds = [c.seq > lo, c.seq <= hi]
    f = plan.filters
    if f.actor:
        conds.append(c.actor == f.actor)
    if plan.patient_hash:
        conds.append(c.patient_ref == plan.patient_hash)
    if f.gene:
        conds.append(c.genes.contains(f"|{f.gene}|", autoescape=True))
    if f.drug:
        conds.append(c.drugs.contains(f"|{f.drug}|", autoescape=True))
    return conds


def iter_rows(db, plan: ExportPlan) -> Iterator[list[tuple[int, str, str]]]:
    """Pages of (seq, canonical, entry_hash) in seq order, each page read in its own short transaction.

    Pages are fixed seq windows (seq is gapless), so each query touches at most one window of
    rows whatever plan the database picks (no sort of the whole remaining range on fresh tables
    without statistics); a filtered export uses wider windows since few rows match.
    """
    c = audit_event.c
    window = plan.page_size if plan.filters.contiguous else plan.page_size * 10
    lo = plan.first_seq - 1
    while lo < plan.last_seq:
        hi = min(lo + window, plan.last_seq)
        stmt = select(c.seq, c.canonical, c.entry_hash).where(*_where(plan, lo, hi)).order_by(c.seq)
        with db.read() as conn:
            page = conn.execute(stmt).all()
        if page:
            yield page
        lo = hi


def export_statement(plan: ExportPlan, state: AuditState, count: int, digest: str) -> dict:
    statement = {
        "origin": plan.origin,
        "checkpoint_size": plan.checkpoint["size"],
        "checkpoint_hash": plan.checkpoint["head_hash"],
        "first_seq": plan.first_seq,
        "last_seq": plan.last_seq,
        "count": count,
        "contiguous": plan.filters.contiguous,
        "filters": plan.filters_statement(),
        "records_digest": digest,
        "time": utc_now_iso(),
        "key_id": state.signer.key_id,
    }
    return {**statement, "signature": state.signer.sign(checkpoint_message(statement))}


def iter_ndjson(db, plan: ExportPlan, state: AuditState) -> Iterator[str]:
    digest = hashlib.sha256()
    count = 0
    for page in iter_rows(db, plan):
        lines = []
        for seq, canonical, entry_hash in page:
            lines.append(record_line(canonical, entry_hash))
            digest.update(f"{seq}:{entry_hash}\n".encode("ascii"))
        count += len(page)
        lines.append("")
        yield "\n".join(lines)
    final = {"checkpoint": plan.checkpoint, "export": export_statement(plan, state, count, digest.hexdigest())}
    yield canonical_text(final) + "\n"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        value = canonical_text(value)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value  # OWASP CSV injection guard: a spreadsheet never runs a cell as a formula
    return value


def iter_csv(db, plan: ExportPlan) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield buf.getvalue()
    for page in iter_rows(db, plan):
        buf.seek(0)
        buf.truncate()
        for _seq, canonical, entry_hash in page:
            rec = json.loads(canonical)
            rec["entry_hash"] = entry_hash
            writer.writerow([_cell(rec.get(col)) for col in CSV_COLUMNS])
        yield buf.getvalue()


def _outcome_code(status: int) -> str:
    """FHIR R4 AuditEvent.outcome: 0 success, 4 minor failure, 8 serious failure, 12 major failure."""
    if status < 400:
        return "0"
    if status in (401, 403):
        return "8"
    if status < 500:
        return "4"
    return "12"


def fhir_audit_event(rec: dict, entry_hash: str, canonical: str, origin: str) -> dict:
    """One record as a FHIR R4 AuditEvent; the canonical record rides along so it stays verifiable."""
    agent = {
        "type": {
            "coding": [
                {
                    "system": "http://dicom.nema.org/resources/ontology/DCM",
                    "code": "110153",
                    "display": "Source Role ID",
                }
            ]
        },
        "who": {"identifier": {"value": rec["actor"]}, "display": rec["actor"]},
        "requestor": True,
    }
    if rec.get("role"):
        agent["role"] = [{"text": rec["role"]}]
    if rec.get("source_addr"):
        agent["network"] = {"address": rec["source_addr"], "type": "2"}
    if rec.get("purpose"):
        agent["purposeOfUse"] = [{"text": rec["purpose"]}]
    entities = []
    if rec.get("patient_ref"):
        entities.append(
            {
                "what": {"identifier": {"system": "urn:pgx:patient-ref:hmac-sha256", "value": rec["patient_ref"]}},
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"},
                "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"},
            }
        )
    entities.append(
        {
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "24", "display": "Query"},
            "description": rec["action"],
            "detail": [
                {"type": "input", "valueString": canonical_text(rec.get("input"))},
                {"type": "result", "valueString": canonical_text(rec.get("result"))},
                {"type": "release", "valueString": str(rec.get("release"))},
                {"type": "warnings", "valueString": canonical_text(rec.get("warnings"))},
            ],
        }
    )
    event = {
        "resourceType": "AuditEvent",
        "id": rec["audit_id"],
        "extension": [
            {"url": FHIR_EXT + "seq", "valueString": str(rec["seq"])},
            {"url": FHIR_EXT + "prev-hash", "valueString": rec["prev_hash"]},
            {"url": FHIR_EXT + "entry-hash", "valueString": entry_hash},
            {"url": FHIR_EXT + "canonical", "valueString": canonical},
        ],
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [{"system": "urn:pgx:audit-action", "code": rec["action"]}],
        "action": "E",
        "recorded": rec["recorded"],
        "outcome": _outcome_code(int(rec["outcome"])),
        "outcomeDesc": f"HTTP {rec['outcome']}",
        "agent": [agent],
        "source": {"observer": {"display": origin}},
        "entity": entities,
    }
    if rec.get("request_id"):
        event["extension"].append({"url": FHIR_EXT + "request-id", "valueString": rec["request_id"]})
    if rec.get("purpose"):
        event["purposeOfEvent"] = [{"text": rec["purpose"]}]
    return event


def iter_fhir(db, plan: ExportPlan) -> Iterator[str]:
    head = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": plan.checkpoint["time"],
        "meta": {"tag": [{"system": "urn:pgx:audit-checkpoint", "code": str(plan.checkpoint["size"])}]},
    }
    yield canonical_text(head)[:-1] + ',"entry":['
    first = True
    for page in iter_rows(db, plan):
        parts = []
        for _seq, canonical, entry_hash in page:
            rec = json.loads(canonical)
            resource = fhir_audit_event(rec, entry_hash, canonical, plan.origin)
            parts.append(("" if first else ",") + canonical_text({"fullUrl": f"urn:uuid:{rec['audit_id']}", "resource": resource}))
            first = False
        yield "\n".join(parts)
    yield "]}\n"


def iter_export(
    db, plan: ExportPlan | ExportFilters, fmt: str = "ndjson", *, state: AuditState | None = None
) -> Iterator[str]:
    """Text chunks of the export in the given format (see FORMATS).

    Given filters instead of a plan, the export is planned (checkpoint signed and stored) first,
    in its own write transaction.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; one of {', '.join(FORMATS)}")
    if isinstance(plan, ExportFilters):
        with db.write_transaction() as conn:
            plan = plan_export(conn, plan, state=state)
    if fmt == "ndjson":
        return iter_ndjson(db, plan, state or get_state())
    if fmt == "csv":
        return iter_csv(db, plan)
    if fmt == "fhir":
        return iter_fhir(db, plan)
    raise ValueError(f"unknown export format {fmt!r}; one of {', '.join(FORMATS)}")


def plan_and_record_export(db, state: AuditState, filters: ExportFilters, fmt: str, *, action: str, **identity):
    """Fix the export's range, sign its checkpoint and record the export itself, in one transaction.

    Used by the HTTP export and by `pgx audit export`; `identity` (actor, role) is given by the CLI,
    the HTTP view takes it from the request.
    """
    with db.write_transaction() as conn:
        plan = plan_export(conn, filters, state=state)
        (receipt,) = append_events(
            conn,
            [
                {
                    "action": action,
                    "outcome": 200,
                    **identity,
                    "patient_ref": filters.patient_ref,
                    "input": {
                        "format": fmt,
                        **{k: v for k, v in plan.filters_statement().items() if k != "patient_ref"},
                        "patient_ref_given": bool(filters.patient_ref),
                    },
                    "result": {
                        "first_seq": plan.first_seq,
                        "last_seq": plan.last_seq,
                        "checkpoint_size": plan.checkpoint["size"],
                        "checkpoint_hash": plan.checkpoint["head_hash"],
                    },
                    "genes": [filters.gene] if filters.gene else [],
                    "drugs": [filters.drug] if filters.drug else [],
                    "release": None,
                    "warnings": [],
                }
            ],
            state=state,
        )
    return receipt, plan
