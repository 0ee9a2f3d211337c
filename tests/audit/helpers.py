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
    from service.db import get_db

    with app.app_context(), get_db(app).write_transaction() as conn:
        return append_events(conn, events)


def export_text(app, fmt: str = "ndjson", **filters) -> str:
    from service.audit.export import ExportFilters, iter_export
    from service.db import get_db

    with app.app_context():
        return "".join(iter_export(get_db(app), ExportFilters(**filters), fmt))


def public_key(app):
    from service.audit import get_state

    with app.app_context():
        return get_state(app).signer.public_key


def service_app(url: str, instance_dir, **config):
    """A migrated app with the repository's reference tables active, and a pharmacy API key."""
    from pathlib import Path

    from service import create_app
    from service.auth.clients import create_client
    from service.cli.db import upgrade
    from service.releases import load_release_directory_into

    upgrade(url)
    app = create_app(
        {
            "PGX_DATABASE_URL": url,
            "TESTING": True,
            "PGX_INSTANCE_DIR": str(instance_dir),
            "PGX_PATIENT_REF_KEY": "test-patient-key",
            **config,
        }
    )
    with app.app_context():
        load_release_directory_into(app, Path(__file__).resolve().parents[2] / "reference_tables")
        _client, key = create_client(app, "pharmacy-test", "pharmacy")
    return app, key


LOOKUP = {"gene": "CYP2D6", "diplotype": "*1/*4", "drug": "codeine"}


def assert_no_clinical_content(resp) -> None:
    assert resp.status_code == 503, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert set(body) <= {"type", "title", "status", "detail", "request_id"}, body
    text = resp.get_data(as_text=True)
    for clinical in ("CYP2D6", "*1/*4", "codeine", "Metabolizer", "phenotype", "audit_id"):
        assert clinical not in text
