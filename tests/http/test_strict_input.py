"""Strict input (issue 13, items 5-7): a query parameter the endpoint does not know or one given
twice, a JSON object with a key twice, JSON nested past the limit, an over-long number, a body
that is not JSON and an unencoded `+` are each refused with a 4xx problem naming the fault, and
audited like every refusal; never ignored, never last-one-wins, never a 500."""

from __future__ import annotations

import logging
import uuid

import pytest
from sqlalchemy import text

LOOKUP = "/v1/lookup"
INTERPRET = "/v1/interpretations"
BATCH = "/v1/interpretations/batch"
BODY = '{"genotypes": [{"gene": "CYP2D6", "diplotype": "*1/*4"}]}'


def _records(app, request_id: str) -> list[dict]:
    with app.extensions["pgx.db"].read() as conn:
        rows = conn.execute(text("SELECT outcome, action FROM audit_event WHERE request_id = :r"),
                            {"r": request_id}).mappings()
        return [dict(r) for r in rows]


def _call(app, client, auth, method: str, url: str, role: str = "pharmacy", **kwargs):
    rid = f"strict-{uuid.uuid4().hex}"
    headers = {**auth(role), "X-Request-ID": rid, **kwargs.pop("headers", {})}
    resp = client.open(url, method=method, headers=headers, **kwargs)
    return resp, _records(app, rid)


def _refused(resp, records, status: int, *names: str) -> str:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    detail = resp.get_json()["detail"]
    for name in names:
        assert name in detail
    assert [r["outcome"] for r in records] == [status]  # audited, once
    return detail


# -- item 5: query parameters ------------------------------------------------------------------


def test_a_repeated_query_parameter_is_refused_naming_it(app, client, auth):
    resp, records = _call(app, client, auth, "GET", f"{LOOKUP}?gene=CYP2C19&gene=CYP2D6&diplotype=*1/*2")
    detail = _refused(resp, records, 422, "`gene`", "2 times")
    assert resp.get_json()["errors"]["query"]["gene"] == [detail]


def test_an_unknown_query_parameter_is_refused_naming_it_and_the_likely_one(app, client, auth):
    resp, records = _call(app, client, auth, "GET", f"{LOOKUP}?gene=CYP2D6&diplotype=*1/*4&drugs=codeine")
    _refused(resp, records, 422, "`drugs`", "`drug`")
    # The same query without the typo is answered, with the guidance the caller wanted.
    resp, _ = _call(app, client, auth, "GET", f"{LOOKUP}?gene=CYP2D6&diplotype=*1/*4&drug=codeine")
    assert resp.status_code == 200 and resp.get_json()["drugs"]


def test_query_checks_hold_on_a_remembered_query_too(app, client, auth):
    url = f"{LOOKUP}?gene=CYP2C19&diplotype=*1/*2"
    assert _call(app, client, auth, "GET", url)[0].status_code == 200  # now remembered
    resp, records = _call(app, client, auth, "GET", url + "&diplotype=*2/*2")
    _refused(resp, records, 422, "`diplotype`")


def test_other_endpoints_refuse_unknown_and_repeated_query_parameters(app, client, auth):
    resp, records = _call(app, client, auth, "GET", "/v1/audit/events?genes=CYP2D6", role="auditor")
    _refused(resp, records, 422, "`genes`", "`gene`")
    resp, _ = _call(app, client, auth, "GET", "/v1/audit/events?format=csv&format=ndjson", role="auditor")
    assert resp.status_code == 422 and "`format`" in resp.get_json()["detail"]
    resp = client.get("/v1/clients?include_revokd=1", headers=auth("admin"))
    assert resp.status_code == 422 and "`include_revokd`" in resp.get_json()["detail"]


def test_a_key_given_twice_in_a_json_object_is_refused(app, client, auth):
    body = '{"genotypes": [{"gene": "CYP2D6", "diplotype": "*1/*1", "diplotype": "*4/*4"}]}'
    resp, records = _call(app, client, auth, "POST", INTERPRET, data=body, content_type="application/json")
    _refused(resp, records, 422, "'diplotype'", "more than once")
    batch = '{"items": [{"genotypes": [{"gene": "CYP2D6", "gene": "CYP2C19", "diplotype": "*1/*2"}]}]}'
    resp, records = _call(app, client, auth, "POST", BATCH, data=batch, content_type="application/json")
    _refused(resp, records, 422, "'gene'")


def test_refusals_come_after_the_key_check(client):
    """Reading the input strictly never tells a caller without a key more than 401."""
    assert client.get(f"{LOOKUP}?gene=A&gene=B&drugs=x").status_code == 401
    body = '{"genotypes": [], "genotypes": []}'
    assert client.post(INTERPRET, data=body, content_type="application/json").status_code == 401
    assert client.post(BATCH, data="x", content_type="text/plain").status_code == 401


# -- item 6: nesting and numbers ---------------------------------------------------------------


@pytest.mark.parametrize("url", [INTERPRET, BATCH])
@pytest.mark.parametrize(
    "body, fault",
    [
        pytest.param("[" * 1500 + "]" * 1500, "nested deeper", id="nested-1500"),
        pytest.param('{"items": ' + "[" * 200 + "]" * 200 + "}", "nested deeper", id="nested-200"),
        pytest.param(BODY[:-1] + ', "drugs": [' + "9" * 5000 + "]}", "number longer", id="int-5000-digits"),
        pytest.param(BODY[:-1] + ', "purpose": 1.' + "5" * 5000 + "}", "number longer", id="float-5000-digits"),
    ],
)
def test_deep_json_and_long_numbers_are_a_4xx_problem_and_audited(app, client, auth, caplog, url, body, fault):
    with caplog.at_level(logging.ERROR):
        resp, records = _call(app, client, auth, "POST", url, data=body, content_type="application/json")
    _refused(resp, records, 400, fault)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no "unhandled error"


def test_json_within_the_limits_is_read(app, client, auth):
    body = BODY[:-1] + ', "drugs": ["codeine"], "purpose": "TREAT"}'
    resp, _ = _call(app, client, auth, "POST", INTERPRET, data=body, content_type="application/json")
    assert resp.status_code == 200
    assert [d["drug"] for d in resp.get_json()["drugs"]] == ["codeine"]


# -- item 7: media type and `+` ----------------------------------------------------------------


@pytest.mark.parametrize("url", [INTERPRET, BATCH])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_json_is_415_saying_json_is_expected(app, client, auth, url, content_type):
    kwargs = {"content_type": content_type} if content_type else {}
    resp, records = _call(app, client, auth, "POST", url, data=BODY, **kwargs)
    detail = _refused(resp, records, 415, "must be JSON", "application/json")
    assert "genotypes" not in detail


def test_application_json_with_charset_and_json_suffix_types_are_read(app, client, auth):
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        resp, _ = _call(app, client, auth, "POST", INTERPRET, data=BODY, content_type=content_type)
        assert resp.status_code == 200, content_type


@pytest.mark.parametrize("diplotype", ["*36+*10/*10", "*1/*13+*2", "c.1905+1G>A (*2A)/Reference"])
def test_an_unencoded_plus_in_a_diplotype_says_to_write_2b(app, client, auth, diplotype):
    gene = "DPYD" if diplotype.startswith("c.") else "CYP2D6"
    raw = diplotype.replace(" ", "%20")  # the `+` left as it is: the mistake
    resp, records = _call(app, client, auth, "GET", f"{LOOKUP}?gene={gene}&diplotype={raw}")
    _refused(resp, records, 422, "`diplotype`", "%2B")
    assert "unknown allele" not in resp.get_json()["detail"]


def test_an_encoded_plus_and_a_plus_meaning_space_are_read(app, client, auth):
    resp, _ = _call(app, client, auth, "GET", f"{LOOKUP}?gene=CYP2D6&diplotype=*36%2B*10/*10")
    assert resp.status_code == 200 and resp.get_json()["status"] == "ok"
    resp, _ = _call(app, client, auth, "GET", f"{LOOKUP}?gene=HLA-B&diplotype=*57:01+positive")
    assert resp.status_code == 200 and resp.get_json()["diplotype"] == "*57:01 positive"


def test_an_unencoded_plus_in_a_utc_offset_says_to_write_2b(app, client, auth):
    resp, records = _call(app, client, auth, "GET", "/v1/audit/events?since=2026-01-01T00:00:00+01:00",
                          role="auditor")
    _refused(resp, records, 422, "`since`", "%2B")
