"""Audit records before they are stored: ids and times, receipts, the per-app audit state, events
prepared without the lock (identity, names, pseudonym, normalized JSON) and the hash chain that
gives each its seq, prev_hash and entry_hash. No database, no Flask."""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from service.audit.canonical import (
    FORMAT_VERSION,
    canonical_text,
    normalize,
)
from service.audit.keys import Signer, load_patient_key, load_signer, pseudonymize
from service.audit.models import audit_event
from service.db import json_dumps
from service.ids import random_bytes

log = logging.getLogger(__name__)

# PostgreSQL advisory lock key of the audit writer ("pgxaudit" as 8 bytes, fits a signed bigint).
PG_AUDIT_LOCK_KEY = int.from_bytes(b"pgxaudit", "big") & 0x7FFF_FFFF_FFFF_FFFF
DEFAULT_ORIGIN = "pgx-dose-guidance/audit"
DEFAULT_CHECKPOINT_EVERY = 1000

def new_audit_id() -> str:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits. Time-ordered, so
    each record's id lands at the right-hand edge of the audit_id index instead of on a random
    page of it (a random-page write per record is what a UUIDv4 index costs, and it grows with
    the table)."""
    rand = int.from_bytes(random_bytes(10), "big")
    value = (time.time_ns() // 1_000_000) << 80 | 0x7 << 76 | (rand >> 62 & 0xFFF) << 64 | 0b10 << 62
    return str(uuid.UUID(int=value | rand & (1 << 62) - 1))


def utc_now_iso() -> str:
    """UTC now as ISO 8601 with milliseconds and `Z` (fixed width, so it sorts as text)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def to_utc_iso(value: str | datetime) -> str:
    """Normalize an ISO 8601 time (naive = UTC) to the stored form."""
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        dt = dt.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 shifted out of range by its offset: clamp
        dt = (datetime.min if dt.year == 1 else datetime.max).replace(tzinfo=UTC)
    # isoformat pads the year to 4 digits (strftime's %Y does not on glibc: year 438 -> "438").
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Receipt:
    """What an answer carries to prove its lookup was logged."""

    audit_id: str
    seq: int
    entry_hash: str

    def as_dict(self) -> dict:
        return {"audit_id": self.audit_id, "seq": self.seq, "entry_hash": self.entry_hash}


class AuditState:
    """Per-app audit configuration; keys are loaded lazily (and generated in dev) on first use."""

    def __init__(
        self,
        *,
        instance_dir: str | Path,
        patient_ref_key: str | None = None,
        signing_key_file: str | None = None,
        origin: str = DEFAULT_ORIGIN,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    ):
        self.instance_dir = Path(instance_dir)
        self._patient_ref_key = patient_ref_key
        self._signing_key_file = signing_key_file
        self.origin = origin
        self.checkpoint_every = max(0, int(checkpoint_every))

    @classmethod
    def from_app(cls, app) -> AuditState:  # a Flask app, or anything with its `config`
        cfg = app.config
        return cls(
            instance_dir=cfg.get("PGX_INSTANCE_DIR") or "var",
            patient_ref_key=cfg.get("PGX_PATIENT_REF_KEY"),
            signing_key_file=cfg.get("PGX_AUDIT_SIGNING_KEY_FILE"),
            origin=cfg.get("PGX_AUDIT_ORIGIN") or os.environ.get("PGX_AUDIT_ORIGIN") or DEFAULT_ORIGIN,
            checkpoint_every=int(
                cfg.get("PGX_AUDIT_CHECKPOINT_EVERY")
                or os.environ.get("PGX_AUDIT_CHECKPOINT_EVERY")
                or DEFAULT_CHECKPOINT_EVERY
            ),
        )

    @cached_property
    def patient_key(self) -> bytes:
        return load_patient_key(self._patient_ref_key, self.instance_dir)

    @cached_property
    def signer(self) -> Signer:
        return load_signer(self._signing_key_file, self.instance_dir)

    def pseudonymize(self, patient_ref: str | None) -> str | None:
        return pseudonymize(self.patient_key, patient_ref)


def _names(values: Iterable[Any] | None, *, upper: bool) -> list[str]:
    out: list[str] = []
    for value in values or ():
        if value is None:
            continue
        name = str(value).strip().replace("|", "")
        name = name.upper() if upper else name.lower()
        if name and name not in out:
            out.append(name)
    return out


def _joined(names: list[str]) -> str | None:
    return "|" + "|".join(names) + "|" if names else None


def _as_is(value: Any) -> Any:
    return value


def normalized_event(event: dict) -> dict:
    """The event with its input, result and warnings already in canonical form, marked so that
    `prepare_events` takes them as they are: for an event written many times (a cached answer)."""
    return {
        **event,
        "normalized": True,
        "input": normalize(event.get("input")),
        "result": normalize(event.get("result")),
        "warnings": normalize(list(event.get("warnings") or [])),
        "genes": _names(event.get("genes"), upper=True),
        "drugs": _names(event.get("drugs"), upper=False),
    }


def prepare_events(events: list[dict], *, state: AuditState | None = None,
                   ident: dict[str, Any] | None = None) -> list[dict]:
    """Everything of each record that does not depend on the chain head, done without the lock:
    identity (`ident`: actor, role, action, request_id, source_addr; an event's own win), names, pseudonymized patient_ref, the
    normalized input/result/warnings, and the record's audit_id. Raises on bad events."""
    if state is None:
        raise ValueError("prepare_events needs the audit state")
    if ident is None:
        ident = {}
    prepared = []
    for ev in events:
        # `normalized`: input/result/warnings and the names come already normalized (a cached
        # answer's event, see normalized_event).
        if ev.get("normalized"):
            norm, genes, drugs = _as_is, ev["genes"], ev["drugs"]
        else:
            norm = normalize
            genes = _names(ev.get("genes"), upper=True)
            drugs = _names(ev.get("drugs"), upper=False)
        prepared.append(
            {
                "audit_id": new_audit_id(),
                "actor": str(ev.get("actor") or ident.get("actor") or "anonymous"),
                "role": ev.get("role", ident.get("role")),
                "action": str(ev.get("action") or ident["action"]),
                "outcome": int(ev["outcome"]),
                "purpose": ev.get("purpose"),
                "patient_ref": state.pseudonymize(ev.get("patient_ref")),
                "input": norm(ev.get("input")),
                "result": norm(ev.get("result")),
                "genes": genes,
                "drugs": drugs,
                "release": ev.get("release"),
                "request_id": ev.get("request_id", ident.get("request_id")),
                "source_addr": ev.get("source_addr", ident.get("source_addr")),
                "warnings": norm(list(ev.get("warnings") or [])),
            }
        )
    return prepared


_COLUMNS = tuple(c.name for c in audit_event.columns)

# The columns in the order _chain writes them: the model's own order (checked at import).
_ROW_ORDER = (
    "seq", "audit_id", "recorded", "actor", "role", "action", "outcome", "purpose", "patient_ref",
    "input", "result", "genes", "drugs", "release", "request_id", "source_addr", "warnings",
    "prev_hash", "entry_hash", "canonical",
)
if _COLUMNS != _ROW_ORDER:  # pragma: no cover - a model change must update _chain
    raise RuntimeError(f"audit_event columns changed: {_COLUMNS}")


def _chain(prepared: list[dict], seq: int, prev: str) -> tuple[list, list[Receipt]]:
    """The INSERT parameters (one row after another, in _COLUMNS order) and receipts of
    `prepared` appended after the head (seq, prev): each record's seq, recorded (one time for the
    group, taken under the lock: non-decreasing along seq), prev_hash, entry_hash and canonical
    text. JSON columns are serialized with the engine's serializer (service.db.json_dumps), as
    SQLAlchemy would, once per distinct object in the group (a cached answer's input and result
    are one object shared by every request for it)."""
    recorded = utc_now_iso()
    texts: dict[int, str] = {}  # by id(): every object stays referenced by `prepared` meanwhile

    def as_json(value: Any) -> str:
        text = texts.get(id(value))
        if text is None:
            text = texts[id(value)] = json_dumps(value)
        return text

    params: list = []
    receipts = []
    for p in prepared:
        seq += 1
        canon = canonical_text({"v": FORMAT_VERSION, "seq": seq, "recorded": recorded, **p, "prev_hash": prev})
        entry = hashlib.sha256(canon.encode("utf-8")).hexdigest()
        params += (
            seq, p["audit_id"], recorded, p["actor"], p["role"], p["action"], p["outcome"], p["purpose"],
            p["patient_ref"], as_json(p["input"]), as_json(p["result"]), _joined(p["genes"]),
            _joined(p["drugs"]), p["release"], p["request_id"], p["source_addr"], as_json(p["warnings"]),
            prev, entry, canon,
        )
        receipts.append(Receipt(p["audit_id"], seq, entry))
        prev = entry
    return params, receipts


def _checkpoint_due(state: AuditState, first: int, last: int) -> bool:
    every = state.checkpoint_every
    return bool(every) and (last // every) > ((first - 1) // every)
