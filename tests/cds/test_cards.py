"""Cards from drug guidance (pure): indicator policy, summary length, Markdown safety, actions."""

from __future__ import annotations

import re

import pytest

from service.cds.cards import DraftOrder, card_for, md, summary_of
from service.pgx.results import Direction, DrugGuidance, GeneResult, GeneStatus, GuidanceStatus, Source

SRC = Source("CPIC Guideline for x", "https://cpicpgx.org/guidelines/x/")


def guidance(drug="codeine", direction=Direction.ALTERNATIVE, genes=None, classification="Strong", **kw):
    return DrugGuidance(drug=drug, status=kw.pop("status", GuidanceStatus.OK), genes=genes or {"CYP2D6": "0.0"},
                        direction=direction, classification=classification, population="general",
                        recommendation=kw.pop("recommendation", "Our own advice."), source=SRC, **kw)


def gene(name="CYP2D6", diplotype="*4/*4", phenotype="Poor Metabolizer", score="0.0"):
    return GeneResult(gene=name, input=diplotype, status=GeneStatus.OK, diplotype=diplotype,
                      phenotype=phenotype, activity_score=score)


ORDER = DraftOrder("MedicationRequest/1", "codeine", {
    "resourceType": "MedicationRequest", "id": "1", "status": "draft", "intent": "order",
    "subject": {"reference": "Patient/p"},
    "dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": 100, "unit": "mg"}}]}]})


@pytest.mark.parametrize("direction, genes, indicator", [
    (Direction.ALTERNATIVE, {"CYP2D6": "0.0"}, "warning"),
    (Direction.DECREASE, {"CYP2D6": "0.0"}, "warning"),
    (Direction.INCREASE, {"CYP2D6": "0.0"}, "warning"),
    (Direction.CAUTION, {"CYP2D6": "0.0"}, "info"),
    (Direction.ALTERNATIVE, {"HLA-B": "*57:01 positive"}, "critical"),
    (Direction.ALTERNATIVE, {"RYR1": "Malignant Hyperthermia Susceptibility"}, "critical"),
])
def test_indicator(direction, genes, indicator):
    card = card_for(ORDER, [guidance(direction=direction, genes=genes)], {"CYP2D6": gene()}, "rel-1")
    assert card["indicator"] == indicator


def test_moderate_hla_advice_is_a_warning_not_critical():
    card = card_for(ORDER, [guidance(genes={"HLA-B": "*58:01 positive"}, classification="Moderate")], {}, "r")
    assert card["indicator"] == "warning"


@pytest.mark.parametrize("g", [
    guidance(direction=Direction.STANDARD), guidance(direction=Direction.NONE),
    guidance(status=GuidanceStatus.MISSING_GENES, missing_genes=("CYP2D6",)),
    guidance(status=GuidanceStatus.INDETERMINATE, direction=Direction.NONE),
])
def test_no_card_without_a_call_for_action(g):
    assert card_for(ORDER, [g], {"CYP2D6": gene()}, "r") is None


def test_summary_stays_under_140_and_names_drug_and_phenotype():
    genes = {f"GENE{i}": "Intermediate Metabolizer" for i in range(8)}
    results = {k: gene(k, phenotype="Likely Intermediate Metabolizer") for k in genes}
    text = summary_of(guidance(drug="amitriptyline", genes=genes), results)
    assert len(text) < 140 and text.startswith("Amitriptyline") and "Intermediate Metabolizer" in text


def test_markdown_from_the_ehr_is_escaped():
    evil = gene(diplotype="*1/*2 [click](javascript:alert(1)) <img src=x>")
    card = card_for(ORDER, [guidance()], {"CYP2D6": evil}, "r")
    assert not re.search(r"(?<!\\)\[click", card["detail"]) and not re.search(r"(?<!\\)<img", card["detail"])
    assert r"\<img" in card["detail"]
    assert md("*4/*4") == r"\*4/\*4"


def test_decrease_with_a_plain_factor_suggests_the_scaled_order():
    card = card_for(ORDER, [guidance(direction=Direction.DECREASE, dose_factor="0.5")], {"CYP2D6": gene()}, "r")
    assert "50% of the usual dose" in card["summary"]
    update = card["suggestions"][0]["actions"][0]
    assert update["type"] == "update"
    assert update["resource"]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 50
    assert ORDER.resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 100  # not mutated
    assert card["suggestions"][1]["actions"][0] == {"type": "delete", "description": "Remove the draft codeine order",
                                                    "resourceId": "MedicationRequest/1"}


def test_range_factor_gives_no_scaled_order_but_still_an_action():
    card = card_for(ORDER, [guidance(direction=Direction.DECREASE, dose_factor="0.25-0.5")], {"CYP2D6": gene()}, "r")
    assert [a["type"] for s in card["suggestions"] for a in s["actions"]] == ["delete"]


def test_most_urgent_population_leads():
    rows = [guidance(direction=Direction.CAUTION), guidance(direction=Direction.ALTERNATIVE)]
    card = card_for(ORDER, rows, {"CYP2D6": gene()}, "r")
    assert card["indicator"] == "warning" and card["extension"]["org.pgx-service.direction"] == "alternative"
    assert card["detail"].count("CPIC classification") == 2
