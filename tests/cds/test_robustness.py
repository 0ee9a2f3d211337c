"""Odd requests never crash a hook call (no 500): each is answered 200 (with nothing guessed),
400 naming the fault, or 412."""

from __future__ import annotations

import copy

import pytest

from tests.cds.helpers import genotype_observation, hook_request, medication_request, searchset
from tests.cds.test_hooks import SIGN, post

OBS = genotype_observation("g", "CYP2C19", "HGNC:2621", "*2/*2")
MED = medication_request("m", "309362", "clopidogrel 75 MG Oral Tablet", dose_mg=75)


def _with(path, value):
    def mutate(body):
        target = body
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


def _obs(**changes):
    o = copy.deepcopy(OBS)
    o.update(changes)
    return o


CASES = [
    _with(("prefetch",), {"genotypes": "not a bundle"}),
    _with(("prefetch",), {"genotypes": [1, 2]}),
    _with(("prefetch",), {"genotypes": {"resourceType": "Bundle", "type": "searchset", "entry": "x"}}),
    _with(("prefetch",), {"genotypes": searchset(_obs(valueCodeableConcept={"text": 123}))}),
    _with(("prefetch",), {"genotypes": searchset(_obs(valueCodeableConcept={"text": "*2/*99"}))}),
    _with(("prefetch",), {"genotypes": searchset(_obs(component="x"))}),
    _with(("prefetch",), {"genotypes": searchset(_obs(valueCodeableConcept={"text": "*2/*2" * 500}))}),
    _with(("prefetch",), {"genotypes": searchset(OBS, _obs(id="g2", valueCodeableConcept={"text": "*1/*1"}))}),
    _with(("context", "draftOrders", "entry", 1, "resource", "medicationCodeableConcept"), ["x"]),
    _with(("context", "draftOrders", "entry", 1, "resource", "medicationCodeableConcept"), {"coding": "x"}),
    _with(("context", "draftOrders", "entry", 1, "resource", "medicationCodeableConcept"), {"text": "Zzzquil"}),
    _with(("context", "draftOrders", "entry", 1, "resource", "dosageInstruction"), "x"),
    _with(("context", "draftOrders", "entry", 1, "resource", "id"), 7),
    _with(("context", "draftOrders", "entry"), [None]),
    _with(("context", "draftOrders"), []),
    _with(("context", "patientId"), {"a": 1}),
    _with(("context", "userId"), "x" * 10000),
    _with(("hookInstance",), None),
    _with(("prefetch",), "x"),
    _with(("fhirServer",), "ftp://x"),
    _with(("extension",), "x"),
    _with(("extension",), {"pddi-configuration-items": "x"}),
]


@pytest.mark.parametrize("mutate", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_no_500(cds, ehr_keys, mutate):
    body = hook_request("order-sign", [copy.deepcopy(MED)], prefetch={"genotypes": searchset(OBS)})
    mutate(body)
    resp = post(cds, ehr_keys["ec"], SIGN, body)
    assert resp.status_code in (200, 400, 412), resp.get_data(as_text=True)
    if resp.status_code == 200:
        for card in resp.get_json()["cards"]:
            assert len(card["summary"]) < 140


def test_unknown_allele_on_file_is_an_info_card_not_a_guess(cds, ehr_keys):
    body = hook_request("order-sign", [copy.deepcopy(MED)], prefetch={"genotypes": searchset(
        _obs(valueCodeableConcept={"text": "*2/*99"}))})
    cards = post(cds, ehr_keys["ec"], SIGN, body).get_json()["cards"]
    assert [c["indicator"] for c in cards] == ["info"]
    assert "CYP2C19" in cards[0]["summary"] and "could not be interpreted" in cards[0]["summary"]

