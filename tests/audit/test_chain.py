"""The chain, the exports and the offline verifier, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from service.audit.canonical import GENESIS_HASH, canonical_text, entry_hash_of, normalize
from service.audit.verify import verify_export
from service.audit.writer import utc_now_iso

from .helpers import append, event, export_text, public_key


def _records(ndjson: str) -> list[dict]:
    return [json.loads(line) for line in ndjson.splitlines() if '"seq"' in line]


def _after_clock_tick(audit_app) -> None:
    """Wait until the clock has passed the newest record's millisecond.

    `recorded` has millisecond resolution and a group shares one time, so two appends in a row
    can carry the same time; a test that selects by time needs them apart."""
    newest = _records(export_text(audit_app))[-1]["recorded"]
    while utc_now_iso() <= newest:
        pass


def test_receipts_chain_and_full_export_verifies(audit_app):
    receipts = append(audit_app, [event(i) for i in range(5)])
    receipts += append(audit_app, [event(5)])
    receipts += append(audit_app, [event(i) for i in range(6, 23)])
    assert [r.seq for r in receipts] == list(range(1, 24))

    out = export_text(audit_app)
    records = _records(out)
    assert [r["seq"] for r in records] == list(range(1, 24))
    assert records[0]["prev_hash"] == GENESIS_HASH
    for a, b in zip(records, records[1:], strict=False):
        assert b["prev_hash"] == a["entry_hash"]
    # the receipts are what the log holds
    assert [(r["audit_id"], r["entry_hash"]) for r in records] == [(r.audit_id, r.entry_hash) for r in receipts]
    body = {k: v for k, v in records[3].items() if k != "entry_hash"}
    assert entry_hash_of(body) == records[3]["entry_hash"]

    last = json.loads(out.splitlines()[-1])
    assert "seq" not in last and last["checkpoint"]["size"] == 23
    assert last["checkpoint"]["head_hash"] == records[-1]["entry_hash"]

    report = verify_export(out.encode(), public_key=public_key(audit_app))
    assert report.ok, report.errors
    assert (report.records, report.first_seq, report.last_seq, report.contiguous) == (23, 1, 23, True)


def test_patient_ref_is_pseudonymized_and_searchable(audit_app):
    append(audit_app, [event(i) for i in range(9)])
    out = export_text(audit_app)
    assert "MRN-1" not in out
    mine = export_text(audit_app, patient_ref="MRN-1")
    records = _records(mine)
    assert [r["seq"] for r in records] == [2, 5, 8]
    assert len({r["patient_ref"] for r in records}) == 1 and len(records[0]["patient_ref"]) == 64
    report = verify_export(mine.encode(), public_key=public_key(audit_app))
    assert report.ok, report.errors
    assert report.contiguous is False and report.notes


def test_filters_actor_gene_drug_and_time(audit_app):
    append(audit_app, [event(i) for i in range(6)])
    _after_clock_tick(audit_app)
    append(audit_app, [event(6, genes=["CYP2C19"], drugs=["clopidogrel"], actor="client-x")])
    assert [r["seq"] for r in _records(export_text(audit_app, actor="client-x"))] == [7]
    assert [r["seq"] for r in _records(export_text(audit_app, gene="cyp2c19"))] == [7]
    assert [r["seq"] for r in _records(export_text(audit_app, drug="Codeine"))] == [2, 4, 6]
    assert _records(export_text(audit_app, gene="CYP2")) == []  # whole names, not prefixes
    recorded = _records(export_text(audit_app))[6]["recorded"]
    ranged = export_text(audit_app, since=recorded)
    assert [r["seq"] for r in _records(ranged)] == [7]
    report = verify_export(ranged.encode(), public_key=public_key(audit_app))
    assert report.ok and report.contiguous, report.errors
    assert _records(export_text(audit_app, until="2000-01-01T00:00:00Z")) == []


def test_previous_checkpoint_extension(audit_app, tmp_path):
    append(audit_app, [event(i) for i in range(4)])
    first = export_text(audit_app)
    (tmp_path / "first.ndjson").write_text(first)
    _after_clock_tick(audit_app)
    append(audit_app, [event(i) for i in range(4, 9)])
    second = export_text(audit_app)
    key = public_key(audit_app)
    report = verify_export(second.encode(), public_key=key, previous_checkpoint=tmp_path / "first.ndjson")
    assert report.ok, report.errors
    # an export of only the new tail still links to the earlier head
    tail_since = _records(second)[4]["recorded"]
    tail = export_text(audit_app, since=tail_since)
    assert [r["seq"] for r in _records(tail)] == [5, 6, 7, 8, 9]
    assert verify_export(tail.encode(), public_key=key, previous_checkpoint=tmp_path / "first.ndjson").ok
    # the older export does not extend the newer checkpoint (the log cannot shrink)
    (tmp_path / "second.ndjson").write_text(second)
    shrink = verify_export(first.encode(), public_key=key, previous_checkpoint=tmp_path / "second.ndjson")
    assert not shrink.ok and "shrank" in str(shrink.errors[0])


def test_rewritten_history_is_caught_by_an_earlier_checkpoint(audit_app, tmp_path, backend, new_database_url):
    """A whole-log rewrite re-signed with the same key still contradicts the auditor's checkpoint."""
    append(audit_app, [event(i) for i in range(4)])
    (tmp_path / "cp.ndjson").write_text(export_text(audit_app))
    from service import create_app
    from service.cli.db import upgrade

    url = new_database_url(backend)
    upgrade(url)
    forged = create_app(
        {
            "PGX_DATABASE_URL": url,
            "PGX_INSTANCE_DIR": audit_app.config["PGX_INSTANCE_DIR"],  # same signing key
            "PGX_PATIENT_REF_KEY": "test-patient-key",
        }
    )
    append(forged, [event(i, outcome=403 if i == 2 else 200) for i in range(6)])
    report = verify_export(
        export_text(forged).encode(), public_key=public_key(audit_app), previous_checkpoint=tmp_path / "cp.ndjson"
    )
    forged.extensions["pgx.db"].dispose()
    assert not report.ok
    assert "seq 4" in str(report.errors[0]) and "earlier checkpoint" in str(report.errors[0])


def test_database_refuses_update_and_delete(audit_app):
    append(audit_app, [event(0), event(1)])
    export_text(audit_app)  # stores a checkpoint
    engine = audit_app.extensions["pgx.db"].engine
    for sql in (
        "UPDATE audit_event SET outcome = 500 WHERE seq = 1",
        "DELETE FROM audit_event WHERE seq = 2",
        "DELETE FROM audit_checkpoint",
        "UPDATE audit_checkpoint SET size = 0",
    ):
        with engine.connect() as conn:
            with pytest.raises(DBAPIError, match="append-only"):
                conn.execute(text(sql))
            conn.rollback()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_event")).scalar() == 2


def test_checkpoints_are_made_every_n_records(audit_app):
    append(audit_app, [event(i) for i in range(9)])
    append(audit_app, [event(9)])  # seq 10: N = 10
    append(audit_app, [event(i) for i in range(10, 35)])  # crosses 20 and 30 in one batch
    engine = audit_app.extensions["pgx.db"].engine
    with engine.connect() as conn:
        sizes = [r[0] for r in conn.execute(text("SELECT size FROM audit_checkpoint ORDER BY id"))]
    assert sizes == [10, 35]


def test_csv_and_fhir_exports(audit_app):
    append(audit_app, [event(0, actor="=HYPERLINK(\"x\")"), event(1)])
    rows = list(csv.DictReader(io.StringIO(export_text(audit_app, "csv"))))
    assert [r["seq"] for r in rows] == ["1", "2"]
    assert rows[0]["actor"].startswith("'=")  # formula injection guard
    assert len(rows[1]["entry_hash"]) == 64 and json.loads(rows[1]["input"])["n"] == 1
    bundle = json.loads(export_text(audit_app, "fhir"))
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    events = [e["resource"] for e in bundle["entry"]]
    assert [e["resourceType"] for e in events] == ["AuditEvent", "AuditEvent"]
    ext = {x["url"].rsplit("-", 1)[-1]: x["valueString"] for x in events[1]["extension"]}
    assert ext["seq"] == "2" and entry_hash_of(json.loads(ext["canonical"])) == ext["hash"]
    assert events[1]["entity"][0]["role"]["code"] == "1"  # the patient


def test_canonical_form_is_defined():
    assert canonical_text({"b": 1, "a": [1.5, "é", None]}) == '{"a":[1.5,"é",null],"b":1}'
    assert normalize({"x": "\ud800ok", 1: float("nan"), "t": (1, 2)}) == {"x": "\ufffdok", "1": "nan", "t": [1, 2]}
