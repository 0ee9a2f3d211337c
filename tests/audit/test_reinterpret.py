"""`pgx audit reinterpret`: exactly the past answers a changed release would answer differently,
on SQLite and PostgreSQL; the run changes nothing but adds its own record."""

from __future__ import annotations

import csv
import io
import json
import shutil
import urllib.parse

import pytest
import yaml
from click.testing import CliRunner
from conftest import BACKENDS, REFERENCE_TABLES, build_service_app

from service.cli import main as pgx


def _count(app) -> int:
    from sqlalchemy import func, select

    from service.audit.models import audit_event
    from service.db import Database

    db = Database(app.config["PGX_DATABASE_URL"])
    try:
        with db.read() as conn:
            return conn.execute(select(func.count()).select_from(audit_event)).scalar()
    finally:
        db.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_reinterpret_lists_exactly_the_changed_answers(backend, new_database_url, monkeypatch, tmp_path):
    url = new_database_url(backend)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PGX_INSTANCE_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PGX_PATIENT_REF_KEY", "reinterpret-test-key")
    app = build_service_app(url)
    from service.auth.clients import create_client

    with app.app_context():
        _c, key = create_client(app, "ward-1", "pharmacy")
    client = app.test_client()
    h = {"Authorization": f"Bearer {key}"}

    def post(genotypes, drugs=None, ref=None):
        body = {"genotypes": genotypes, **({"drugs": drugs} if drugs is not None else {}),
                **({"patient_ref": ref} if ref else {})}
        resp = client.post("/v1/interpretations", json=body, headers=h)
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    changed = post([{"gene": "CYP2C19", "diplotype": "*9/*9"}], ["clopidogrel"], ref="MRN-1")
    post([{"gene": "CYP2C19", "diplotype": "*1/*1"}], ["clopidogrel"])
    moved = post([{"gene": "CYP2C19", "diplotype": "*1/*9"}])  # likely IM -> IM, every drug of the gene
    post([{"gene": "CYP2C19", "diplotype": "*1/*2"}])  # no *9: no line
    look = client.get("/v1/lookup?gene=CYP2C19&diplotype=*9/*9", headers=h).get_json()
    assert client.get("/v1/lookup?gene=CYP2C19&diplotype=*9/*777", headers=h).status_code == 422

    newer = tmp_path / "tables"
    shutil.copytree(REFERENCE_TABLES, newer)
    path = newer / "genes" / "CYP2C19.yaml"
    table = yaml.safe_load(path.read_text())
    next(a for a in table["alleles"] if a["name"] == "*9")["function"] = "No function"
    path.write_text(yaml.safe_dump(table, allow_unicode=True, sort_keys=False))
    runner = CliRunner()
    loaded = runner.invoke(pgx, ["tables", "load", "--no-activate", str(newer)])
    assert loaded.exit_code == 0, loaded.output
    label = loaded.output.strip().splitlines()[-1]

    before = _count(app)
    result = runner.invoke(pgx, ["audit", "reinterpret", "--release", label])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert {x["seq"] for x in lines} == {changed["audit_seq"], moved["audit_seq"], look["audit_seq"]}
    assert {x["drug"] for x in lines if x["seq"] == changed["audit_seq"]} == {"clopidogrel"}
    assert {x["drug"] for x in lines if x["seq"] == look["audit_seq"]} == {None}
    moved_drugs = {x["drug"] for x in lines if x["seq"] == moved["audit_seq"]}
    # every drug answered from the CYP2C19 phenotype alone moves; two-gene drugs move where
    # CPIC's row for the other gene's "No Result" is keyed on CYP2C19 too
    assert {d["drug"] for d in moved["drugs"] if d["status"] == "ok"} <= moved_drugs
    assert moved_drugs <= {d["drug"] for d in moved["drugs"]}
    clop = [x for x in lines if x["seq"] == changed["audit_seq"]]
    assert all(x["before"]["genes"]["CYP2C19"]["phenotype"] == "Likely Intermediate Metabolizer" for x in clop)
    assert all(x["after"]["genes"]["CYP2C19"]["phenotype"] == "Poor Metabolizer" for x in clop)
    assert {x["population"] for x in clop} and all(x["patient_ref"] and x["patient_ref"] != "MRN-1" for x in clop)
    assert all(set(x) == {"seq", "recorded", "patient_ref", "genes", "drug", "population", "before", "after"}
               for x in lines)
    assert "reinterpret: done" in result.stderr
    assert _count(app) == before + 1  # the run's own record, nothing else

    as_csv = runner.invoke(pgx, ["audit", "reinterpret", "--release", label, "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) == len(lines) and rows[0]["seq"] == str(lines[0]["seq"])

    later = runner.invoke(pgx, ["audit", "reinterpret", "--release", label, "--since", "2999-01-01T00:00:00Z"])
    assert later.exit_code == 0 and later.stdout == ""
    with app.app_context():
        _a, auditor = create_client(app, "audit-1", "auditor")
    quoted = urllib.parse.quote(label, safe="")  # the label's '+' must travel as %2B
    over_http = client.get(f"/v1/audit/reinterpret?release={quoted}", headers={"Authorization": f"Bearer {auditor}"})
    assert over_http.status_code == 200 and over_http.mimetype == "application/x-ndjson", over_http.get_data(as_text=True)[:300]
    assert [json.loads(x) for x in over_http.get_data(as_text=True).splitlines()] == lines
    assert client.get(f"/v1/audit/reinterpret?release={quoted}", headers=h).status_code == 403
    assert client.get("/v1/audit/reinterpret?release=nope",
                      headers={"Authorization": f"Bearer {auditor}"}).status_code == 404
    missing = runner.invoke(pgx, ["audit", "reinterpret", "--release", "no-such"])
    assert missing.exit_code != 0 and "no stored release" in missing.output
    app.extensions["pgx.db"].dispose()

