"""The service reads the genotypes from the EHR's FHIR server itself when the hook carries
fhirServer and fhirAuthorization instead of the prefetch: a small FHIR server on 127.0.0.1,
started by the test, answers the search (in two pages) and checks the bearer token."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.cds.helpers import genotype_observation, hook_request, medication_request, searchset
from tests.cds.test_hooks import SIGN, answered, last_record, post

TOKEN = "ehr-issued-access-token"


class _Fhir(BaseHTTPRequestHandler):
    pages: dict[str, dict] = {}
    seen: list[tuple[str, dict, str | None]] = []
    delay = 0.0

    def do_GET(self):  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        type(self).seen.append((url.path, query, self.headers.get("Authorization")))
        time.sleep(type(self).delay)
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._send(401, {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login"}]})
            return
        page = type(self).pages.get(query.get("page", "1"))
        self._send(200 if page else 404, page or {"resourceType": "OperationOutcome", "issue": []})

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except BrokenPipeError:  # the service gave up waiting (the timeout test)
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def fhir_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Fhir)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}/fhir"
    first = searchset(genotype_observation("gt-2c19", "CYP2C19", "HGNC:2621", "*2/*2"))
    first["link"] = [{"relation": "next", "url": f"{base}/Observation?page=2"}]
    second = searchset(genotype_observation("gt-2d6", "CYP2D6", "HGNC:2625", "*1/*1"))
    _Fhir.pages = {"1": first, "2": second}
    _Fhir.seen = []
    _Fhir.delay = 0.0
    yield base
    server.shutdown()
    server.server_close()


def _body(base, token=TOKEN):
    meds = [medication_request("mr-f1", "309362", "clopidogrel 75 MG Oral Tablet")]
    return hook_request("order-sign", meds, fhirServer=base, fhirAuthorization={
        "access_token": token, "token_type": "Bearer", "expires_in": 300,
        "scope": "user/Patient.read user/Observation.read", "subject": "pgx-cds-service"})


def test_genotypes_read_from_the_fhir_server(cds, cds_app, ehr_keys, fhir_server):
    cards = answered(post(cds, ehr_keys["ec"], SIGN, _body(fhir_server)))
    assert [c["indicator"] for c in cards] == ["warning"] and "Poor Metabolizer" in cards[0]["summary"]
    path, query, auth = _Fhir.seen[0]
    assert path == "/fhir/Observation"
    assert query == {"patient": "1288992", "code": "http://loinc.org|84413-4"}
    assert auth == f"Bearer {TOKEN}"
    assert len(_Fhir.seen) == 2  # the next page was read too
    record = last_record(cds_app)
    given = record["input"] if isinstance(record["input"], dict) else json.loads(record["input"])
    assert given["genotypes_from"] == "fhirServer"
    assert {g["gene"] for g in given["genotypes"]} == {"CYP2C19", "CYP2D6"}


def test_fhir_server_refusing_the_token_is_412(cds, ehr_keys, fhir_server):
    resp = post(cds, ehr_keys["ec"], SIGN, _body(fhir_server, token="wrong"))
    assert resp.status_code == 412 and "HTTP 401" in resp.get_json()["issue"][0]["diagnostics"]


def test_slow_fhir_server_is_412_within_the_timeout(cds, cds_app, ehr_keys, fhir_server):
    _Fhir.delay = 2.0
    cds_app.config["PGX_CDS_FHIR_TIMEOUT_S"] = 0.3
    try:
        started = time.monotonic()
        resp = post(cds, ehr_keys["ec"], SIGN, _body(fhir_server))
        assert resp.status_code == 412
        assert time.monotonic() - started < 1.5
    finally:
        cds_app.config["PGX_CDS_FHIR_TIMEOUT_S"] = 3.0
