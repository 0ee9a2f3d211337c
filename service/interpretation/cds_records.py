"""What the CDS Hooks services remember in the database: the draft orders a card was shown for
(so that order-sign does not repeat what order-select showed) and the clinicians' feedback.

An advised order is kept under a keyed hash (the audit trail's patient pseudonymization key) of
the CDS client, the patient, the order, the drug and the card's direction: no patient id in
clear, and a changed result (another direction) is advised on again. Rows older than a day are
dropped: an ordering session does not last longer.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from service.audit import get_state
from service.auth.cds_models import cds_advised_orders, cds_feedback
from service.db import Database, utcnow

KEEP = timedelta(days=1)
_PURGE_EVERY_S = 300.0
_last_purge = [0.0]


def order_key(issuer: str, patient_id: str, order: str, drug: str, direction: str) -> str:
    return get_state().pseudonymize("\x1f".join(("cds-advised-order", issuer, patient_id, order, drug, direction)))


def shown_before(db: Database, keys: list[str]) -> set[str]:
    """The keys whose card was shown already (within a day)."""
    if not keys:
        return set()
    since = utcnow() - KEEP
    with db.read() as conn:
        rows = conn.execute(select(cds_advised_orders.c.order_key).where(
            cds_advised_orders.c.order_key.in_(keys), cds_advised_orders.c.shown_at >= since)).all()
    return {r.order_key for r in rows}


def remember_shown(db: Database, hook: str, hook_instance: str, shown: list[tuple[str, str]]) -> None:
    """Record (order key, card uuid) pairs just answered; a key seen again is refreshed."""
    if not shown:
        return
    now = utcnow()
    keys = [k for k, _ in shown]
    with db.write_transaction() as conn:
        if time.monotonic() - _last_purge[0] > _PURGE_EVERY_S:
            _last_purge[0] = time.monotonic()
            conn.execute(delete(cds_advised_orders).where(cds_advised_orders.c.shown_at < now - KEEP))
        conn.execute(delete(cds_advised_orders).where(cds_advised_orders.c.order_key.in_(keys)))
        conn.execute(cds_advised_orders.insert(), [
            {"order_key": k, "hook": hook, "hook_instance": hook_instance, "card_uuid": u, "shown_at": now}
            for k, u in shown])


def store_feedback(db: Database, service_id: str, issuer: str, items: list[dict[str, Any]],
                   audit_id: str | None) -> None:
    now = utcnow()
    with db.write_transaction() as conn:
        conn.execute(cds_feedback.insert(), [
            {"service_id": service_id, "issuer": issuer, "card_uuid": i["card"], "outcome": i["outcome"],
             "accepted_suggestions": i.get("acceptedSuggestions"), "override_reason": i.get("overrideReason"),
             "outcome_timestamp": i["outcomeTimestamp"], "received_at": now, "audit_id": audit_id}
            for i in items])


def feedback_for(db: Database, card_uuid: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(select(cds_feedback).where(cds_feedback.c.card_uuid == card_uuid)
                            .order_by(cds_feedback.c.id)).mappings().all()
    return [dict(r) for r in rows]
