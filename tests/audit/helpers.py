"""Helpers shared by the audit-trail tests."""

from __future__ import annotations

from service.audit import append_events


def event(i: int, **overrides) -> dict:
    ev = {
        "action": "GET /v1/lookup",
        "outcome": 200,
        "patient_ref": f"MRN-{i % 3}",
        "input": {"gene": "CYP2D6", "diplotype": "*1/*4", "n": i},
        "result": {"genes": [{"gene": "CYP2D6", "phenotype": "Intermediate Metabolizer"}], "score": 1.5},
        "release": "cpic-test",
        "warnings": [],
        "genes": ["CYP2D6"],
        "drugs": ["codeine"] if i % 2 else ["tramadol"],
        "actor": f"client-{i % 2}",
        "role": "pharmacy",
        "request_id": f"req-{i}",
        "source_addr": "127.0.0.1",
    }
    ev.update(overrides)
    return ev


def append(app, events: list[dict]):
    from service.app import get_db

    with app.app_context(), get_db(app).write_transaction() as conn:
        return append_events(conn, events)


def export_text(app, fmt: str = "ndjson", **filters) -> str:
    from service.app import get_db
    from service.audit.export import ExportFilters, iter_export

    with app.app_context():
        return "".join(iter_export(get_db(app), ExportFilters(**filters), fmt))


def public_key(app):
    from service.audit import get_state

    with app.app_context():
        return get_state(app).signer.public_key
