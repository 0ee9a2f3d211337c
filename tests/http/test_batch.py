"""POST /v1/interpretations/batch on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from guidance_helpers import assert_matches_schema, assert_problem, audit_count, audit_rows

from service.http.schemas import BatchResponseSchema

URL = "/v1/interpretations/batch"
DIPLOTYPES = ["*1/*1", "*1/*2", "*2/*2", "*1/*17", "*17/*17"]
PHENOTYPES = ["Normal Metabolizer", "Intermediate Metabolizer", "Poor Metabolizer", "Rapid Metabolizer",
              "Ultrarapid Metabolizer"]


def _item(i: int) -> dict:
    return {
        "patient_ref": f"P{i:05d}",
        "genotypes": [
            {"gene": "CYP2C19", "diplotype": DIPLOTYPES[i % 5]},
            {"gene": "CYP2D6", "diplotype": "*1/*4"},
        ],
        "drugs": ["clopidogrel", "codeine"],
    }


BAD = {
    17: "not an object",
    230: {"genotypes": "CYP2D6"},
    499: {"genotypes": [{"gene": "CYP2D6", "diplotype": "*1/*1"}], "unexpected": True},
    777: {"patient_ref": 12, "genotypes": [{"gene": "CYP2D6", "diplotype": "*1/*1"}]},
    998: {"genotypes": [{"gene": "CYP2D6", "diplotype": "*1/*1"}, {"gene": "CYP2D6", "diplotype": "*4/*4"}]},
}


def test_done_when_1000_items_with_a_few_bad_ones_answer_every_good_one_in_order(app, client, auth):
    items = [_item(i) for i in range(1000)]
    for i, bad in BAD.items():
        items[i] = bad
    # a well-formed item whose gene entry is bad is answered 200, its gene result saying why
    items[400]["genotypes"][1]["diplotype"] = "*1/*999"
    before = audit_count(app)

    resp = client.post(URL, json={"items": items}, headers=auth("pharmacy"))
    assert resp.status_code == 200
    body = resp.get_json()
    assert_matches_schema(BatchResponseSchema, body)
    assert body["count"] == 1000 and len(body["items"]) == 1000
    assert body["failed"] == len(BAD)
    for i, answer in enumerate(body["items"]):
        if i in BAD:
            assert answer["status"] == 422, (i, answer)
            assert "result" not in answer
            assert answer["error"]["status"] == 422 and answer["error"]["errors"]
            assert answer["error"]["audit_id"]
            continue
        assert answer["status"] == 200, (i, answer)
        result = answer["result"]
        assert result["patient_ref"] == f"P{i:05d}"  # input order
        assert result["release"] == body["release"]
        assert result["genes"][0]["phenotype"] == PHENOTYPES[i % 5]
        assert result["audit_id"]
    assert body["items"][400]["result"]["genes"][1]["status"] == "unknown_allele"
    assert "*999" in body["items"][400]["result"]["genes"][1]["message"]

    # one audit record per item, all of them, gapless and in item order
    ids = [a["result"]["audit_id"] if a["status"] == 200 else a["error"]["audit_id"] for a in body["items"]]
    assert len(set(ids)) == 1000
    rows = audit_rows(app, ids)
    assert len(rows) == 1000
    seqs = [rows[i]["seq"] for i in ids]
    assert seqs == list(range(seqs[0], seqs[0] + 1000))
    assert audit_count(app) == before + 1000
    assert [rows[ids[i]]["outcome"] for i in sorted(BAD)] == [422] * len(BAD)
    assert rows[ids[0]]["action"] == "POST /v1/interpretations/batch"
    assert rows[ids[0]]["patient_ref"] != rows[ids[1]]["patient_ref"]


def test_an_item_without_drugs_gets_every_affected_drug(client, auth):
    resp = client.post(URL, json={"items": [{"genotypes": [{"gene": "CYP2C9", "diplotype": "*3/*3"}]}]},
                       headers=auth("pharmacy"))
    assert resp.status_code == 200
    [answer] = resp.get_json()["items"]
    drugs = {d["drug"] for d in answer["result"]["drugs"]}
    assert {"celecoxib", "phenytoin", "meloxicam"} <= drugs


@pytest.mark.parametrize(
    "payload",
    [[], {"items": []}, {"items": "x"}, {"item": []}, {"items": [{"genotypes": []}], "extra": 1}, "items"],
)
def test_a_bad_envelope_is_422_and_audited(app, client, auth, payload):
    before = audit_count(app)
    body = assert_problem(client.post(URL, json=payload, headers=auth("pharmacy")), 422)
    assert "items" in (body.get("detail", "") + str(body.get("errors")))
    assert audit_count(app) == before + 1


def test_more_items_than_allowed_is_413(app, client, auth, monkeypatch):
    monkeypatch.setitem(app.config, "PGX_BATCH_MAX_ITEMS", 3)
    body = assert_problem(client.post(URL, json={"items": [_item(i) for i in range(4)]},
                                      headers=auth("pharmacy")), 413)
    assert "3" in body["detail"]
    assert client.post(URL, json={"items": [_item(i) for i in range(3)]},
                       headers=auth("pharmacy")).status_code == 200


def test_only_pharmacy_systems_may_send_batches(client, auth):
    payload = {"items": [_item(0)]}
    assert_problem(client.post(URL, json=payload, headers=auth("clinician")), 403)
    assert_problem(client.post(URL, json=payload), 401)


def test_when_the_audit_cannot_be_written_no_item_is_answered(app, client, auth, monkeypatch):
    from service.audit import get_committer

    def broken(conn, events, **_kw):
        raise RuntimeError("lock timeout")

    monkeypatch.setattr(get_committer(app), "append", broken)
    resp = client.post(URL, json={"items": [_item(i) for i in range(5)]}, headers=auth("pharmacy"))
    assert_problem(resp, 503)
    assert "Metabolizer" not in resp.get_data(as_text=True)


def test_control_characters_are_refused_per_item_and_still_audited(app, client, auth):
    """NUL cannot be stored in PostgreSQL text: it is refused, and the refusal's record is safe."""
    items = [{"patient_ref": "A\x00", "genotypes": [{"gene": "CYP2D6", "diplotype": "*1\x00/*1"}]}, _item(1)]
    resp = client.post(URL, json={"items": items}, headers=auth("pharmacy"))
    assert resp.status_code == 200, resp.get_json()
    first, second = resp.get_json()["items"]
    assert first["status"] == 422 and "Control characters" in str(first["error"]["errors"])
    assert second["status"] == 200
    record = audit_rows(app, [first["error"]["audit_id"]])[first["error"]["audit_id"]]
    assert "\x00" not in record["canonical"]


def test_an_item_that_hits_a_defect_fails_alone(app, client, auth, monkeypatch):
    """Even an unexpected error in the core spoils only its own item (answered 500, audited)."""
    from service.releases import current_knowledge

    with app.test_request_context():
        kb = current_knowledge()
    real = kb.interpret

    def flaky(entry):
        if entry.diplotype == "*2/*17":
            raise RuntimeError("defect")
        return real(entry)

    monkeypatch.setattr(kb, "interpret", flaky)
    items = [_item(0), {"genotypes": [{"gene": "CYP2C19", "diplotype": "*2/*17"}]}, _item(2)]
    resp = client.post(URL, json={"items": items}, headers=auth("pharmacy"))
    assert resp.status_code == 200
    statuses = [a["status"] for a in resp.get_json()["items"]]
    assert statuses == [200, 500, 200]
    error = resp.get_json()["items"][1]["error"]
    assert "defect" not in str(error) and error["audit_id"]


def _answer_without_receipt(item: dict, index: int) -> dict:
    """An item's answer without its receipt, its place in the batch written as `#`."""
    drop = {"audit_id", "audit_seq", "audit_entry_hash"}
    body = dict(item.get("result") or item.get("error"))
    if "detail" in body:
        body["detail"] = body["detail"].replace(f"Item {index} ", "Item # ")
    return {"status": item["status"], **{k: v for k, v in body.items() if k not in drop}}


def test_items_sharing_their_genotypes_are_answered_as_if_each_came_alone(client, auth):
    """The batch loads each distinct genotypes array once (ItemLoader): every item, valid or
    not, is answered exactly as a batch holding only that item answers it."""
    shared = [{"gene": "CYP2C19", "diplotype": "*1/*2"}, {"gene": "CYP2D6", "diplotype": "*1/*4"}]
    items = [
        {"patient_ref": "P-1", "genotypes": shared, "drugs": ["clopidogrel"]},
        {"patient_ref": "P-2", "genotypes": shared},  # every drug
        {"patient_ref": "bad\x00ref", "genotypes": shared},  # its own field invalid
        {"patient_ref": "P-4", "genotypes": shared, "unexpected": 1},  # an unknown key
        {"patient_ref": "P-5", "genotypes": shared, "drugs": "codeine"},  # drugs not a list
        {"patient_ref": 7, "genotypes": shared, "purpose": "x" * 101},  # two fields invalid
        {"patient_ref": "P-7", "genotypes": [shared[1], shared[0]]},  # the same entries reordered
        {"genotypes": [{"gene": "CYP2D6", "diplotype": "*1/*1"}, {"gene": "cyp2d6", "diplotype": "*4/*4"}]},
        {"patient_ref": "P-9", "genotypes": [{"gene": "CYP2D6", "diplotype": "*1/*1"},
                                             {"gene": "cyp2d6", "diplotype": "*4/*4"}]},  # seen invalid
        {"patient_ref": "P-10", "genotypes": [{"gene": "CYP2D6", "activity_score": 1}], "drugs": ["codeine"]},
        {"patient_ref": "P-11", "genotypes": [{"gene": "CYP2D6", "activity_score": 1.0}], "drugs": ["codeine"]},
        {"patient_ref": "P-12", "genotypes": [{"gene": "CYP2D6", "activity_score": 10**30}]},
        {"patient_ref": "P-13", "genotypes": [{"gene": "CYP2D6", "activity_score": 10**30}]},
        # JSON's NaN is accepted as a number (and read as "nan"); null is not: never the same key
        {"patient_ref": "P-14", "genotypes": [{"gene": "CYP2D6", "activity_score": float("nan")}]},
        {"patient_ref": "P-15", "genotypes": [{"gene": "CYP2D6", "activity_score": None}]},
        {"patient_ref": "P-16", "genotypes": [{"gene": "CYP2D6", "activity_score": float("inf")}]},
    ]
    resp = client.post(URL, json={"items": items}, headers=auth("pharmacy"))
    assert resp.status_code == 200
    together = [_answer_without_receipt(a, i) for i, a in enumerate(resp.get_json()["items"])]
    alone = []
    for item in items:
        one = client.post(URL, json={"items": [item]}, headers=auth("pharmacy"))
        assert one.status_code == 200
        alone.append(_answer_without_receipt(one.get_json()["items"][0], 0))
    assert together == alone
    statuses = [a["status"] for a in together]
    assert statuses[:2] == [200, 200] and statuses[2:6] == [422, 422, 422, 422] and statuses[6] == 200
    assert statuses[7] == statuses[8] == 422
    assert statuses[14] == 422 and statuses[13] != 422  # null refused even after NaN was accepted
    assert together[0]["patient_ref"] == "P-1" and together[1]["patient_ref"] == "P-2"
    assert len(together[1]["drugs"]) > len(together[0]["drugs"])
