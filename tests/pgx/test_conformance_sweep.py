"""The sweep of every derivable gene result against every drug of its gene (scripts/conformance_sweep.py)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from script_modules import load_script

from service.pgx.knowledge import KnowledgeBase, load_release_directory

sweep_script = load_script("conformance_sweep")

TABLES = Path(__file__).resolve().parents[2] / "reference_tables"
SHARED = sweep_script.shared_dir()
HAVE_SHARED = (SHARED / "reference-data").is_dir()


@pytest.fixture(scope="module")
def payload() -> dict:
    return load_release_directory(TABLES)


def _failures(sweep) -> list[str]:
    return [f for t in sweep.tally.values() for f in t.failures]


def test_scores_and_phenotypes_all_map_to_a_cpic_row(payload):
    sweep = sweep_script.run(KnowledgeBase(payload), None)
    failures = _failures(sweep)
    assert not failures, f"{len(failures)} failing answers, e.g.:\n" + "\n".join(failures[:20])
    d6 = sweep.tally["CYP2D6"]
    # 0.0 .. 8.0 exactly and ≥3.0 .. ≥8.0 as bins, each against all 19 CYP2D6 drug-populations
    assert d6.results["score"] == 33 + 21
    assert d6.answers > 19 * 54


@pytest.mark.skipif(not HAVE_SHARED, reason=f"shared reference data not found at {SHARED} (set PGX_SHARED_DIR)")
def test_every_cpic_diplotype_maps_to_a_cpic_row(payload):
    sweep = sweep_script.run(KnowledgeBase(payload), SHARED)
    failures = _failures(sweep)
    assert not failures, f"{len(failures)} failing answers, e.g.:\n" + "\n".join(failures[:20])
    assert sweep.tally["CYP2D6"].results["diplotype"] > 4000
    assert sweep.tally["G6PD"].results["diplotype"] > 10000


def test_score_inputs_reach_each_genes_maximum(payload):
    genes = payload["genes"]
    d6 = sweep_script.score_inputs(genes["CYP2D6"])
    assert {"3.25", "4.25", "6.0", "8.0", "≥3.25", "≥4.25", "≥8.0"} <= set(d6)
    assert sweep_script.score_inputs(genes["CYP2C9"])[-1] == "2.0"
    assert sweep_script.score_inputs(genes["DPYD"])[-1] == "2.0"


def test_the_sweep_catches_a_score_with_no_row(payload):
    """Without codeine's ultrarapid rows (every score from 2.5 up, bins too), a lab's 3.25 has no row."""
    broken = copy.deepcopy(payload)
    for doc in broken["guidelines"].values():
        if "codeine" in doc["drugs"]:
            doc["recommendations"] = [r for r in doc["recommendations"] if not (
                r["lookup"]["CYP2D6"].startswith("≥") or r["lookup"]["CYP2D6"] in ("2.5", "2.75", "3.0", "4.0"))]
    failures = _failures(sweep_script.run(KnowledgeBase(broken), None))
    assert failures and all("codeine" in f for f in failures)
    assert any("score '3.25' + codeine" in f and "not_in_guideline" in f for f in failures)


def test_the_sweep_catches_direction_none_where_cpic_recommends(payload):
    broken = copy.deepcopy(payload)
    for doc in broken["guidelines"].values():
        for r in doc["recommendations"]:
            if "tramadol" in r["drugs"] and r["lookup"]["CYP2D6"] == "0.0":
                r["direction"] = "none"
    failures = _failures(sweep_script.run(KnowledgeBase(broken), None))
    assert failures and all("tramadol" in f and "direction none where CPIC recommends" in f for f in failures)
