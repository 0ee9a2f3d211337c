"""What the CDS Hooks services read back and keep: which draft orders were shown a card already
(so that order-sign does not repeat what order-select showed), and the clinicians' feedback.

"Shown" is read from the audit trail itself: a hook call's record lists each card it answered
with (order, drug, direction), under the patient's pseudonym. A card counts as shown exactly
when the record of the answer that carried it was committed, which the fail-closed audit makes
the same as "the answer left"; no second table to keep in step, no extra write per call. The
records of the last day for that patient (an index on patient_ref) are read; a changed result
(another direction) is advised on again.
A drug name with LIKE's wildcards in it matches more records, never fewer: each is checked.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import TextClause, text

from service.audit import get_state
from service.audit.models import audit_event
from service.auth.cds_models import cds_feedback
from service.db import Database, utcnow

KEEP = timedelta(days=1)
# The newest hook records of the patient naming the drugs read back: an ordering session holds a
# handful. Past that many, a card may be shown again (the safe way to be wrong).
MAX_RECORDS = 50
HOOK_ACTIONS = ("POST /cds-services/pgx-order-select", "POST /cds-services/pgx-order-sign")

Shown = tuple[str, str, str]  # (order reference, drug, direction)


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        loaded = json.loads(value)
        return loaded if isinstance(loaded, dict) else {}
    return {}


@functools.lru_cache(maxsize=16)
def _query(drugs: int) -> TextClause:
    """The patient's newest hook records naming any of `drugs` drugs, as plain SQL built once per
    count (a select() built and keyed per call was a third of a hook call's database time)."""
    c = audit_event.c
    like = " OR ".join(f"{c.drugs.name} LIKE :d{i}" for i in range(drugs))
    return text(
        f"SELECT {c.input.name}, {c.result.name}, {c.action.name} FROM {audit_event.name} "  # noqa: S608  # nosec B608
        f"WHERE {c.patient_ref.name} = :patient AND {c.recorded.name} >= :since AND {c.outcome.name} = 200 "
        f"AND {c.action.name} IN (:select, :sign) AND ({like}) ORDER BY {c.seq.name} DESC LIMIT {MAX_RECORDS}"
    ).columns(audit_event.c.input, audit_event.c.result, audit_event.c.action)


def shown_before(db: Database, issuer: str, patient_id: str, wanted: list[Shown]) -> dict[Shown, dict[str, str]]:
    """Of `wanted`, those a hook call of this CDS client answered with a card for this patient
    within the last day: -> the card's uuid and the hook that showed it."""
    if not wanted:
        return {}
    since = (datetime.now(UTC) - KEEP).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    drugs = sorted({drug.lower().replace("|", "") for _, drug, _ in wanted})  # as the column keeps them
    params: dict[str, Any] = {"patient": get_state().pseudonymize(patient_id), "since": since,
                              "select": HOOK_ACTIONS[0], "sign": HOOK_ACTIONS[1]}
    params.update({f"d{i}": f"%|{d}|%" for i, d in enumerate(drugs)})
    want = set(wanted)
    found: dict[Shown, dict[str, str]] = {}
    with db.read() as conn:
        for row in conn.execute(_query(len(drugs)), params):
            if _as_dict(row.input).get("cds_client") != issuer:
                continue
            for card in _as_dict(row.result).get("cards") or ():
                key = (card.get("order"), card.get("drug"), card.get("direction"))
                if key in want and key not in found:
                    found[key] = {"shown_card": card.get("uuid"), "shown_by": row.action.rsplit("/", 1)[-1]}
    return found


def store_feedback(db: Database, service_id: str, issuer: str, items: list[dict[str, Any]],
                   audit_id: str | None) -> None:
    now = utcnow()
    with db.write_transaction() as conn:
        conn.execute(cds_feedback.insert(), [
            {"service_id": service_id, "issuer": issuer, "card_uuid": i["card"], "outcome": i["outcome"],
             "accepted_suggestions": i.get("acceptedSuggestions"), "override_reason": i.get("overrideReason"),
             "outcome_timestamp": i["outcomeTimestamp"], "received_at": now, "audit_id": audit_id}
            for i in items])
