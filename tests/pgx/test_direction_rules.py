"""Every guideline row carries the direction that the one rule (service/pgx/direction_rules.py)
gives for its CPIC recommendation: the same wording - the same risk - the same direction."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

from service.pgx.direction_rules import cpic_direction, main_text
from service.pgx.guidelines import load_guidelines

GUIDELINES = Path(__file__).resolve().parents[2] / "reference_tables" / "guidelines"

# Rows whose direction deliberately differs from the rule: (recommendation id) -> why. Keep empty
# unless a pharmacist's reason is written here; the test lists every other difference.
EXEMPT: dict[str, str] = {}


@pytest.fixture(scope="module")
def tables() -> dict:
    return load_guidelines(GUIDELINES)


@pytest.fixture(scope="module")
def cpic(shared_dir) -> dict[str, dict[str, str]]:
    with open(shared_dir / "reference-data/cpic/recommendations.tsv", newline="", encoding="utf-8") as f:
        return {r["recommendation_id"]: r for r in csv.DictReader(f, delimiter="\t")}


def test_the_rule_decides_every_cpic_recommendation(cpic):
    undecided = sorted({main_text(r["recommendation_text"])[:120] for r in cpic.values()
                        if cpic_direction(r["recommendation_text"], r["classification"]) is None})
    assert not undecided, undecided


def test_every_row_follows_the_rule(tables, cpic):
    wrong = []
    seen = 0
    for slug, doc in sorted(tables.items()):
        for rec in doc["recommendations"]:
            row = cpic[rec["id"]]
            seen += 1
            want = cpic_direction(row["recommendation_text"], row["classification"])
            if rec["direction"] != want and rec["id"] not in EXEMPT:
                wrong.append(f"{slug} {rec['id']} {row['lookup_key']}: {rec['direction']} != rule {want}")
    assert seen == len(cpic) == 2054
    assert not wrong, "\n".join(wrong[:40])


def test_exemptions_are_real_and_justified(tables, cpic):
    ids = {rec["id"] for doc in tables.values() for rec in doc["recommendations"]}
    for rid, why in EXEMPT.items():
        assert rid in ids and len(why) > 30, rid
        row = cpic[rid]
        assert cpic_direction(row["recommendation_text"], row["classification"]) is not None


def test_same_risk_same_direction_across_thiopurines(tables):
    """TPMT x NUDT15 rows with the same lookup key answer alike for azathioprine, mercaptopurine
    and thioguanine (the TPMT poor metabolizer used to be `alternative` for one, `decrease` for two)."""
    by_key: dict[tuple, dict[str, str]] = defaultdict(dict)
    for slug in ("azathioprine_nudt15_tpmt", "mercaptopurine_nudt15_tpmt", "thioguanine_nudt15_tpmt"):
        for rec in tables[slug]["recommendations"]:
            by_key[tuple(sorted(rec["lookup"].items()))][slug] = rec["direction"]
    assert len(by_key) == 35  # 6 x 6 keys less "No Result" x "No Result"
    poor = by_key[(("NUDT15", "Normal Metabolizer"), ("TPMT", "Poor Metabolizer"))]
    assert set(poor.values()) == {"decrease"}, poor
    mixed = {k: v for k, v in by_key.items() if len(set(v.values())) > 1}
    assert not mixed, mixed


@pytest.mark.parametrize(("text", "classification", "direction"), [
    ("No recommendation", "No recommendation", "none"),
    ("Initiate therapy with recommended starting dose.", "Strong", "standard"),
    ("Abacavir is not recommended", "Strong", "alternative"),
    ("Avoid use", "Moderate", "alternative"),
    ("Initiate therapy with recommended standard of care dosing; avoid moderate and strong CYP2D6 inhibitors.",
     "Strong", "standard"),
    ("Consider a 25% reduction of recommended starting dose.", "Moderate", "decrease"),
    ("Increase starting dose 1.5 to 2 times recommended starting dose.", "Strong", "increase"),
    ("For malignancy, start with drastically reduced doses; for non-malignant conditions, consider "
     "alternative non-thiopurine immunosuppressant therapy.", "Strong", "decrease"),
    ("Use with caution at standard doses, with close monitoring for anemia", "Optional", "caution"),
    ("Start with normal starting dose. If thiopurines are required and NUDT15 status is unknown, "
     "monitor closely for toxicity.", "Strong", "caution"),
    ("Take it with a glass of water.", "Strong", None),
])
def test_rule_examples(text, classification, direction):
    assert cpic_direction(text, classification) == direction
