"""Every CPIC recommendation row, answered by the core: same classification, `none` where CPIC
makes no recommendation (scripts/conformance_recommendations.py; skipped without ../shared)."""

from __future__ import annotations

from script_modules import load_script


def test_core_agrees_with_cpic_recommendations(shared_dir):
    conformance = load_script("conformance_recommendations")
    report = conformance.compare(shared_dir, "core")
    assert report.total == 2054
    assert report.percent >= conformance.GOAL, report.deviations[:10]
    assert not report.undocumented, report.undocumented[:10]


def test_skips_cleanly_without_shared_data(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PGX_SHARED_DIR", str(tmp_path / "absent"))
    assert load_script("conformance_recommendations").main([]) == 0
    assert "skipped" in capsys.readouterr().out


def test_entries_hit_cpic_keys():
    c = load_script("conformance_recommendations")
    assert c.entry_for("HLA-B", "No Result") is None
    assert c.entry_for("HLA-B", "*57:01 positive") == {"gene": "HLA-B", "diplotype": "*57:01 positive"}
    assert c.entry_for("CYP2D6", "≥3.0") == {"gene": "CYP2D6", "activity_score": "≥3.0"}
    assert c.entry_for("CYP2D6", "n/a") == {"gene": "CYP2D6", "phenotype": "Indeterminate"}
    assert c.entry_for("TPMT", "Poor Metabolizer") == {"gene": "TPMT", "phenotype": "Poor Metabolizer"}
