"""Recommendation conformance through the HTTP layer (issue 3, item 5): every keyed CPIC
recommendation row, posted to POST /v1/interpretations through the Flask test client, gets CPIC's
classification for the population, and `none` exactly where CPIC makes no recommendation.
Uses the `http` adapter of scripts/conformance_recommendations.py; skipped without ../shared."""

from __future__ import annotations

from script_modules import load_script


def test_http_layer_agrees_with_cpic_recommendations(shared_dir, monkeypatch):
    monkeypatch.setenv("PGX_SQLITE_SYNCHRONOUS", "OFF")  # a throwaway database: no fsync per record
    conformance = load_script("conformance_recommendations")
    report = conformance.compare(shared_dir, "http")
    assert report.total == 2054
    assert report.percent >= conformance.GOAL, report.deviations[:10]
    assert not report.undocumented, report.undocumented[:10]
