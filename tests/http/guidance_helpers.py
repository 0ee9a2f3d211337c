"""Helpers for the guidance API tests: the audit record behind an answer, schema round trips."""

from __future__ import annotations

from sqlalchemy import select

from service.db import get_db


def audit_rows(app, audit_ids: list[str]) -> dict[str, dict]:
    from service.audit.models import audit_event

    with app.app_context(), get_db(app).read() as conn:
        rows = conn.execute(select(audit_event).where(audit_event.c.audit_id.in_(list(audit_ids)))).mappings().all()
    return {r["audit_id"]: dict(r) for r in rows}


def audit_row(app, audit_id: str) -> dict:
    rows = audit_rows(app, [audit_id])
    assert audit_id in rows, f"no audit record {audit_id}"
    return rows[audit_id]


def audit_count(app) -> int:
    from sqlalchemy import func

    from service.audit.models import audit_event

    with app.app_context(), get_db(app).read() as conn:
        return conn.execute(select(func.count()).select_from(audit_event)).scalar_one()


def assert_matches_schema(schema_cls, body, *, dump: bool = True) -> None:
    """The body is exactly what the documented response schema describes: it validates, and dumping
    it through the schema (what the OpenAPI document shows) changes nothing (`dump=False` for
    bodies with date-times, which only validate)."""
    schema = schema_cls()
    if dump:
        assert schema.dump(body) == body
    errors = schema.validate(body)
    assert errors == {}, errors


def assert_problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["status"] == status and body["title"] and body["type"]
    return body
