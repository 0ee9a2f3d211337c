"""The per-request shortcuts of the hot path say the same as the long way: the remembered query
loads (service/http/parsing.py) and the orjson JSON provider (service/extensions.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import re
import uuid

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from service.extensions import FastJSONProvider
from service.http.lookup import LOOKUP_QUERY, blp
from service.http.parsing import QueryLoadCachingParser

LOOKUP = "/v1/lookup?gene=CYP2C19&diplotype=*1/*2&drug=clopidogrel"


def test_a_remembered_query_load_answers_as_a_fresh_one(client, auth):
    parser = blp.ARGUMENTS_PARSER
    assert isinstance(parser, QueryLoadCachingParser)
    first = client.get(LOOKUP, headers=auth("clinician")).get_json()
    assert any(raw == LOOKUP.split("?", 1)[1].encode() for _, raw in parser._loads)  # remembered
    second = client.get(LOOKUP, headers=auth("clinician")).get_json()
    for body in (first, second):
        body.pop("audit_id"), body.pop("audit_seq"), body.pop("audit_entry_hash")
    assert first == second and first["phenotype"] == "Intermediate Metabolizer"


def test_invalid_queries_are_refused_every_time_and_not_remembered(client, auth):
    parser = blp.ARGUMENTS_PARSER
    bad = "/v1/lookup?gene=CYP2C19&diplotype=%01"
    for _ in range(2):
        resp = client.get(bad, headers=auth("clinician"))
        assert resp.status_code == 422
        assert "diplotype" in resp.get_json()["errors"]["query"]
    assert not any(b"%01" in raw for _, raw in parser._loads)


def test_a_query_with_a_patient_reference_is_never_remembered(client, auth):
    parser = blp.ARGUMENTS_PARSER
    resp = client.get(LOOKUP + "&patient_ref=MRN-REMEMBER-ME", headers=auth("clinician"))
    assert resp.status_code == 200
    assert not any(b"MRN-REMEMBER-ME" in raw for _, raw in parser._loads)


def test_the_remembered_load_is_a_copy(app):
    parser = QueryLoadCachingParser()
    with app.test_request_context(LOOKUP):
        first = parser.parse(LOOKUP_QUERY, location="query")
        first["gene"] = "changed by a view"
        assert parser.parse(LOOKUP_QUERY, location="query")["gene"] == "CYP2C19"
    assert len(parser._loads) == 1


@dataclasses.dataclass
class _Point:
    x: int
    label: str


VALUES = [
    {"b": 1, "a": [1.5, None, True, "≥3.0"], "nested": {"z": "ü", "y": 2**62}},
    {"when": dt.datetime(2026, 11, 22, 5, 0, tzinfo=dt.UTC), "day": dt.date(2026, 1, 2)},
    {"id": uuid.UUID(int=7), "dose": decimal.Decimal("0.1"), "point": _Point(1, "p")},
    {"big": 2**70},  # beyond orjson: the standard library serializes it
    [1, "two", {"three": 3.0}],
]


@pytest.mark.parametrize("value", VALUES)
def test_fast_json_provider_says_what_flask_default_says(value):
    app = Flask(__name__)
    fast, default = FastJSONProvider(app), DefaultJSONProvider(app)
    with app.app_context():
        fast_body = fast.response(value).get_data()
        default_body = default.response(value).get_data()
    assert json.loads(fast_body) == json.loads(default_body)
    assert fast_body.endswith(b"\n")
    assert fast.dumps(value, separators=(",", ":")).encode() == fast_body[:-1]
    # Keys sorted, as the default does.
    if isinstance(value, dict) and all(isinstance(v, int | str | list | dict) for v in value.values()):
        assert list(json.loads(fast_body)) == sorted(value)


def test_a_cached_answer_is_audited_like_the_first_one(app, client, auth):
    """The second identical lookup takes the answer cache: its audit record carries the same
    input, result, warnings, genes, drugs and release, and its own patient and purpose."""
    from sqlalchemy import select

    from service.audit.models import audit_event
    from service.db import get_db

    query = "/v1/lookup?gene=CYP2D6&diplotype=*4/*1&drug=codeine"  # normalized (reordered), with a warning
    ids = []
    for ref, purpose in (("MRN-CACHE-1", "treatment"), ("MRN-CACHE-2", "audit-test")):
        resp = client.get(query, headers={**auth("clinician"), "X-Patient-Ref": ref, "X-Purpose-Of-Use": purpose})
        assert resp.status_code == 200
        ids.append(resp.get_json()["audit_id"])
    with app.app_context(), get_db(app).engine.connect() as conn:
        rows = {r.audit_id: r for r in conn.execute(select(audit_event).where(audit_event.c.audit_id.in_(ids)))}
    first, second = rows[ids[0]], rows[ids[1]]
    for column in ("input", "result", "warnings", "genes", "drugs", "release", "action", "outcome"):
        assert getattr(first, column) == getattr(second, column), column
    assert first.warnings  # the input was normalized, and says so
    assert first.patient_ref != second.patient_ref and first.patient_ref and second.patient_ref
    assert (first.purpose, second.purpose) == ("treatment", "audit-test")


def test_audit_headers_loads_are_remembered_without_a_patient_reference(client, auth):
    parser = blp.ARGUMENTS_PARSER
    ok = client.get(LOOKUP, headers={**auth("clinician"), "X-Purpose-Of-Use": "treatment-remembered"})
    assert ok.status_code == 200
    assert any(isinstance(k, tuple) and "treatment-remembered" in k for _, k in parser._loads)
    too_long = "purpose-too-long;" * 6  # 102 characters (a distinct text: the export is shared)
    for _ in range(2):  # refused each time, never kept
        resp = client.get(LOOKUP, headers={**auth("clinician"), "X-Purpose-Of-Use": too_long})
        assert resp.status_code == 422
    assert not any(isinstance(k, tuple) and too_long in k for _, k in parser._loads)
    resp = client.get(LOOKUP, headers={**auth("clinician"), "X-Patient-Ref": "MRN-HEADER-NOT-KEPT"})
    assert resp.status_code == 200
    assert "MRN-HEADER-NOT-KEPT" not in repr(parser._loads)


def test_a_cached_answer_is_byte_for_byte_what_the_json_provider_writes(app, client, auth):
    """The cached answer's template (service/http/answer_cache.py AnswerTemplate) with its receipt
    spliced in: the same bytes the JSON provider writes for the same object, receipt included."""
    from service.http import answer_cache

    query = "/v1/lookup?gene=CYP2C9&diplotype=*1/*3&drug=celecoxib"
    first = client.get(query, headers=auth("clinician"))  # computed (or already cached)
    second = client.get(query, headers=auth("clinician"))  # cached: spliced
    assert first.status_code == second.status_code == 200
    assert any(isinstance(t, answer_cache.AnswerTemplate) for t, _ in answer_cache._answers.values())
    for resp in (first, second):
        body = json.loads(resp.get_data())
        with app.app_context():
            expected = app.json.dumps(body, separators=(",", ":")).encode() + b"\n"
        assert resp.get_data() == expected
        assert resp.mimetype == "application/json"
    a, b = first.get_json(), second.get_json()
    assert b["audit_seq"] == a["audit_seq"] + 1 and b["audit_id"] != a["audit_id"]
    assert b["audit_entry_hash"] != a["audit_entry_hash"] and len(b["audit_entry_hash"]) == 64
    from sqlalchemy import select

    from service.audit.models import audit_event
    from service.db import get_db

    with app.app_context(), get_db(app).engine.connect() as conn:
        row = conn.execute(select(audit_event.c.seq, audit_event.c.entry_hash)
                           .where(audit_event.c.audit_id == b["audit_id"])).one()
    assert (row.seq, row.entry_hash) == (b["audit_seq"], b["audit_entry_hash"])  # the receipt is the record's
    for body in (a, b):
        for key in ("audit_id", "audit_seq", "audit_entry_hash"):
            body.pop(key)
    assert a == b


def test_a_batch_audits_each_item_as_if_it_came_alone(app, client, auth):
    """A batch normalizes each distinct input's audit event once (RequestMemo.answered_event):
    every item's record still carries what the same body posted alone records, with its own
    patient and purpose, and inputs that differ only in order or spelling stay apart."""
    from sqlalchemy import select

    from service.audit.models import audit_event
    from service.db import get_db

    items = [
        {"patient_ref": "MRN-B-1", "purpose": "treatment",
         "genotypes": [{"gene": "CYP2C19", "diplotype": "*1/*2"}, {"gene": "CYP2D6", "diplotype": "*4/*1"}],
         "drugs": ["clopidogrel", "codeine"]},
        {"patient_ref": "MRN-B-2", "purpose": "audit-test",  # the same input, another patient
         "genotypes": [{"gene": "CYP2C19", "diplotype": "*1/*2"}, {"gene": "CYP2D6", "diplotype": "*4/*1"}],
         "drugs": ["clopidogrel", "codeine"]},
        {"patient_ref": "MRN-B-3",  # the same genes in the other order
         "genotypes": [{"gene": "CYP2D6", "diplotype": "*4/*1"}, {"gene": "CYP2C19", "diplotype": "*1/*2"}],
         "drugs": ["clopidogrel", "codeine"]},
        {"patient_ref": "MRN-B-4",  # another spelling of the gene, and every drug
         "genotypes": [{"gene": "cyp2c19", "diplotype": "*1/*2"}, {"gene": "CYP2D6", "diplotype": "*4/*1"}]},
        {"genotypes": [{"gene": "CYP2D6", "activity_score": "1.0"}], "drugs": ["codeine"]},
        {"genotypes": [{"gene": "CYP2D6", "activity_score": "1"}], "drugs": ["codeine"]},
    ]
    resp = client.post("/v1/interpretations/batch", json={"items": items}, headers=auth("pharmacy"))
    assert resp.status_code == 200
    batch_ids = [item["result"]["audit_id"] for item in resp.get_json()["items"]]
    alone_ids = []
    for item in items:
        one = client.post("/v1/interpretations", json=item, headers=auth("pharmacy"))
        assert one.status_code == 200, one.get_json()
        alone_ids.append(one.get_json()["audit_id"])
    with app.app_context(), get_db(app).engine.connect() as conn:
        rows = {r.audit_id: r for r in conn.execute(
            select(audit_event).where(audit_event.c.audit_id.in_(batch_ids + alone_ids)))}
    columns = ("input", "result", "warnings", "genes", "drugs", "release", "outcome", "patient_ref", "purpose")
    for batch_id, alone_id in zip(batch_ids, alone_ids, strict=True):
        for column in columns:
            assert getattr(rows[batch_id], column) == getattr(rows[alone_id], column), column
    inputs = [rows[i].input for i in batch_ids]
    assert inputs[0] == inputs[1] and len({repr(x) for x in inputs}) == 5
    assert rows[batch_ids[0]].patient_ref != rows[batch_ids[1]].patient_ref
    assert (rows[batch_ids[0]].purpose, rows[batch_ids[1]].purpose) == ("treatment", "audit-test")
    assert rows[batch_ids[4]].input != rows[batch_ids[5]].input


def test_the_app_remembers_sync_answers_but_still_wraps_coroutines(app):
    """ServiceFlask.ensure_sync: a plain function comes back as itself, from then on without
    asking again; a coroutine function still goes through Flask's own wrapper (or refusal)."""
    from flask import Flask

    def plain():
        return "ok"

    async def coro():
        return "ok"

    assert app.ensure_sync(plain) is plain
    assert app._sync_of[plain] is plain
    assert app.ensure_sync(plain) is plain
    try:
        expected = Flask.ensure_sync(app, coro)
    except RuntimeError as exc:  # Flask without its async extra refuses coroutines: so must we
        with pytest.raises(RuntimeError, match=re.escape(str(exc)[:20])):
            app.ensure_sync(coro)
    else:
        assert app.ensure_sync(coro) is not coro and type(app.ensure_sync(coro)) is type(expected)
