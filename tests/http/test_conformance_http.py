"""Recommendation conformance through the HTTP layer (issue 3, item 5): every keyed CPIC
recommendation row, posted to POST /v1/interpretations through the Flask test client, gets CPIC's
classification for the population, and `none` exactly where CPIC makes no recommendation.
Uses the `http` adapter of scripts/conformance_recommendations.py; skipped without ../shared."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "conformance_recommendations.py"


def _script():
    spec = importlib.util.spec_from_file_location("conformance_recommendations_http", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_http_layer_agrees_with_cpic_recommendations(shared_dir, monkeypatch):
    monkeypatch.setenv("PGX_SQLITE_SYNCHRONOUS", "OFF")  # a throwaway database: no fsync per record
    conformance = _script()
    report = conformance.compare(shared_dir, "http")
    assert report.total == 2054
    assert report.percent >= conformance.GOAL, report.deviations[:10]
    assert not report.undocumented, report.undocumented[:10]
