"""`pgx tables diff`: every kind of change between two releases is named (service.pgx.release_diff)."""

from __future__ import annotations

import copy
import json
import shutil

import pytest
import yaml
from click.testing import CliRunner
from conftest import BACKENDS, REFERENCE_TABLES

from service.cli import main as pgx
from service.pgx.knowledge import load_release_directory
from service.pgx.release_diff import diff_releases, render_text


@pytest.fixture(scope="module")
def base() -> dict:
    return load_release_directory(REFERENCE_TABLES)


def _guideline(payload, drug):
    return next(d for d in payload["guidelines"].values() if drug in d["drugs"])


def test_identical_releases_have_no_changes(base):
    assert diff_releases(base, copy.deepcopy(base)) == []
    assert "no changes" in render_text([], "a", "b")


def test_allele_function_and_activity_value(base):
    new = copy.deepcopy(base)
    allele = next(a for a in new["genes"]["CYP2D6"]["alleles"] if a["name"] == "*10")
    allele["function"], allele["activity_value"] = "No function", "0.0"
    changes = diff_releases(base, new)
    assert {(c.item, c.field, c.after) for c in changes} == {
        ("allele *10", "function", "No function"), ("allele *10", "activity_value", "0.0")}
    assert all(c.scope == "gene" and c.subject == "CYP2D6" for c in changes)


def test_alleles_added_and_removed(base):
    new = copy.deepcopy(base)
    alleles = new["genes"]["CYP2C19"]["alleles"]
    removed = alleles.pop()
    alleles.append({"name": "*99", "function": "No function"})
    kinds = {(c.kind, c.item) for c in diff_releases(base, new)}
    assert ("added", "allele *99 (No function)") in kinds
    assert ("removed", f"allele {removed['name']} ({removed['function']})") in kinds


def test_phenotype_rule(base):
    new = copy.deepcopy(base)
    new["genes"]["CYP2D6"]["activity_thresholds"][2]["min"] = "1.5"
    (c,) = diff_releases(base, new)
    assert (c.subject, c.item, c.field) == ("CYP2D6", "phenotype rule", "activity_thresholds")
    assert c.before != c.after


def test_recommendation_classification_direction_and_dose_factor(base):
    new = copy.deepcopy(base)
    rec = next(r for r in _guideline(new, "codeine")["recommendations"] if r["lookup"] == {"CYP2D6": "1.0"})
    rec["classification"], rec["direction"], rec["dose_factor"] = "Strong", "decrease", "0.5"
    changes = diff_releases(base, new)
    assert {c.field for c in changes} >= {"direction", "dose_factor"}
    assert all(c.subject == "codeine" and "CYP2D6=1.0" in c.item for c in changes)
    text = render_text(changes, "old", "new")
    assert "drug codeine" in text and "direction" in text


def test_recommendations_added_removed_and_a_guideline_removed(base):
    new = copy.deepcopy(base)
    recs = _guideline(new, "clopidogrel")["recommendations"]
    gone = recs.pop(0)
    gid = next(k for k, d in new["guidelines"].items() if "ondansetron" in d["drugs"])
    del new["guidelines"][gid]
    changes = diff_releases(base, new)
    assert any(c.kind == "removed" and c.subject == "clopidogrel" and gone["population"] in c.item for c in changes)
    assert any(c.kind == "removed" and c.subject == "ondansetron" and c.item.startswith("guidance for") for c in changes)


def test_medication_table(base):
    new = copy.deepcopy(base)
    new["medications"]["inhibitors"]["CYP2D6"]["moderate"].append("terbinafine-x")
    (c,) = diff_releases(base, new)
    assert (c.scope, c.kind, c.item) == ("medications", "added", "moderate inhibitor terbinafine-x")


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_pgx_tables_diff_between_stored_releases(backend_name, new_database_url, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", new_database_url(backend_name))
    runner = CliRunner()
    assert runner.invoke(pgx, ["db", "upgrade"]).exit_code == 0
    first = runner.invoke(pgx, ["tables", "load", str(REFERENCE_TABLES)]).output.strip().splitlines()[-1]
    newer = tmp_path / "tables"
    shutil.copytree(REFERENCE_TABLES, newer)
    path = newer / "genes" / "CYP2C19.yaml"
    table = yaml.safe_load(path.read_text())
    next(a for a in table["alleles"] if a["name"] == "*9")["function"] = "No function"
    path.write_text(yaml.safe_dump(table, allow_unicode=True, sort_keys=False))
    result = runner.invoke(pgx, ["tables", "load", "--no-activate", str(newer)])
    assert result.exit_code == 0, result.output
    second = result.output.strip().splitlines()[-1]

    text = runner.invoke(pgx, ["tables", "diff", first, second])
    assert text.exit_code == 0, text.output
    assert "gene CYP2C19" in text.output and "allele *9: function 'Decreased function' -> 'No function'" in text.output
    out = runner.invoke(pgx, ["tables", "diff", first, second, "--format", "json"])
    doc = json.loads(out.output)
    assert doc["changes"] == [{"scope": "gene", "subject": "CYP2C19", "kind": "changed", "item": "allele *9",
                               "field": "function", "before": "Decreased function", "after": "No function"}]
    missing = runner.invoke(pgx, ["tables", "diff", first, "nope"])
    assert missing.exit_code != 0 and "no stored release" in missing.output
