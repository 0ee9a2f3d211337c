"""The guideline loader: committed tables load and round-trip; broken ones are refused by name."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from service.pgx.genes import TableError
from service.pgx.guidelines import load_guidelines, validate_guideline

GUIDELINES = Path(__file__).resolve().parents[2] / "reference_tables" / "guidelines"


@pytest.fixture(scope="module")
def tables() -> dict:
    return load_guidelines(GUIDELINES)


def test_committed_tables_load_and_round_trip_json(tables):
    assert len(tables) == 54
    assert json.loads(json.dumps(tables)) == tables
    drugs = {d for doc in tables.values() for d in doc["drugs"]}
    assert len(drugs) == 78
    assert sum(len(doc["recommendations"]) for doc in tables.values()) == 2054


def test_every_no_recommendation_row_has_direction_none(tables):
    for doc in tables.values():
        for rec in doc["recommendations"]:
            if rec["classification"] == "No Recommendation":
                assert rec["direction"] == "none", rec["id"]


@pytest.fixture()
def codeine() -> dict:
    return yaml.safe_load((GUIDELINES / "codeine_cyp2d6.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda d: d["recommendations"][1].__setitem__("direction", "lower"), "direction"),
    (lambda d: d["recommendations"][1].__setitem__("classification", "Weak"), "classification"),
    (lambda d: d["recommendations"][1].__setitem__("lookup", {"CYP2C19": "1.0"}), "lookup genes"),
    (lambda d: d["recommendations"][1].__setitem__("drugs", ["tramadol"]), "not in the guideline"),
    (lambda d: d["recommendations"][1].__setitem__("dose_factor", "half"), "dose_factor"),
    (lambda d: d["recommendations"][1].__setitem__("frequency", "thrice weekly"), "frequency"),
    (lambda d: d["recommendations"][2].__setitem__("frequency", "3 times a week"), "frequency given for direction"),
    (lambda d: d["recommendations"][1].pop("recommendation"), "recommendation"),
    (lambda d: d["recommendations"][1].__setitem__("colour", "red"), "colour"),
    (lambda d: d["recommendations"].append(copy.deepcopy(d["recommendations"][1])), "same drug/population/lookup"),
    (lambda d: d["recommendations"][0].__setitem__("direction", "standard"), "No Recommendation"),
    (lambda d: d.__setitem__("url", "not a url"), "url"),
])
def test_broken_guideline_is_refused_naming_entry(codeine, mutate, reason):
    mutate(codeine)
    with pytest.raises(TableError) as exc:
        validate_guideline(codeine, "codeine_cyp2d6.yaml")
    assert "codeine_cyp2d6.yaml" in str(exc.value)
    assert reason in str(exc.value)


def test_frequency_is_optional_and_kept(codeine):
    """Absent = null (the usual interval); where given it survives validation unchanged."""
    doc = validate_guideline(codeine, "codeine_cyp2d6.yaml")
    assert all(rec["frequency"] is None for rec in doc["recommendations"])
    alt = next(i for i, r in enumerate(codeine["recommendations"]) if r["direction"] == "alternative")
    codeine["recommendations"][alt]["frequency"] = "every 48 hours"
    assert validate_guideline(codeine, "codeine_cyp2d6.yaml")["recommendations"][alt]["frequency"] == "every 48 hours"


def test_frequency_only_where_cpic_changes_the_interval(tables):
    """CPIC changes the interval only for TPMT poor metabolizers (thrice weekly, 6 rows per thiopurine)."""
    freq = {(doc["id"], rec["id"]): rec["frequency"] for doc in tables.values() for rec in doc["recommendations"]
            if rec["frequency"]}
    assert len(freq) == 18 and set(freq.values()) == {"3 times a week"}


def test_broken_entry_is_named_by_recommendation_id(codeine):
    rid = codeine["recommendations"][2]["id"]
    codeine["recommendations"][2]["direction"] = "sideways"
    with pytest.raises(TableError) as exc:
        validate_guideline(codeine, "f.yaml")
    assert exc.value.entry == f"recommendation {rid}" and exc.value.file == "f.yaml"


def test_directory_errors(tmp_path):
    with pytest.raises(TableError, match="not found"):
        load_guidelines(tmp_path / "nope")
    with pytest.raises(TableError, match="no guideline files"):
        load_guidelines(tmp_path)
    (tmp_path / "bad.yaml").write_text("id: [unclosed\n")
    with pytest.raises(TableError, match="bad.yaml.*not valid YAML"):
        load_guidelines(tmp_path)


def test_drug_in_two_guidelines_is_refused(tmp_path, codeine):
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(yaml.safe_dump(codeine, allow_unicode=True), encoding="utf-8")
    with pytest.raises(TableError, match="already covered by a.yaml"):
        load_guidelines(tmp_path)


def test_tables_use_our_own_wording(shared_dir):
    """No guideline file repeats a sentence of CPIC's recommendation/implication text verbatim
    (the pre-stop check tolerates two; we tolerate none)."""
    import csv

    prose = set()
    with open(shared_dir / "reference-data/cpic/recommendations.tsv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            for sentence in (row["recommendation_text"] + " / " + row["implications"]).split(" / "):
                if len(sentence.strip()) > 70:
                    prose.add(sentence.strip()[:70])
    files = sorted(GUIDELINES.glob("*.yaml")) + [GUIDELINES.parents[1] / "tools/build_guideline_tables.py"]
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not [s for s in prose if s in text], path.name
