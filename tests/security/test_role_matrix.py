"""The role matrix of CONTRACT.md, cell by cell, on SQLite and PostgreSQL.

Every endpoint x {no key, unknown key, revoked key, pharmacy, clinician, auditor, admin}:
401 without a valid key, 403 for a role the endpoint does not serve, a 2xx answer otherwise.
Denied calls to admin endpoints are also checked to have changed nothing.
"""

from __future__ import annotations

import secrets
import urllib.parse
import uuid
from dataclasses import dataclass, field

import pytest

ROLES = ("pharmacy", "clinician", "auditor", "admin")
ANY = frozenset(ROLES)
PUBLIC = None  # no key needed
PRINCIPALS = ("no-key", "unknown-key", "revoked-key", *ROLES)

INTERPRETATION = {
    "patient_ref": "matrix-patient-1",
    "genotypes": [{"gene": "CYP2C19", "diplotype": "*1/*2"}],
    "drugs": ["clopidogrel"],
}


@dataclass(frozen=True)
class Endpoint:
    id: str
    method: str
    path: str
    roles: frozenset[str] | None
    json: dict | None = None
    mutates_client: str | None = field(default=None)  # "create" | "revoke" | "rotate"
    vcf: str | None = None  # a text/vcf body instead of JSON


ENDPOINTS = [
    Endpoint("lookup", "GET", "/v1/lookup?gene=CYP2C19&diplotype=*1/*2&drug=clopidogrel",
             frozenset({"clinician", "pharmacy"})),
    Endpoint("interpret", "POST", "/v1/interpretations", frozenset({"pharmacy", "clinician"}), INTERPRETATION),
    Endpoint("batch", "POST", "/v1/interpretations/batch", frozenset({"pharmacy"}), {"items": [INTERPRETATION]}),
    Endpoint("fhir-interpret", "POST", "/v1/fhir/interpretations", frozenset({"pharmacy", "clinician"}),
             {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {
                 "resourceType": "Observation", "status": "final", "valueCodeableConcept": {"text": "CYP2C19 *1/*2"},
                 "code": {"coding": [{"system": "http://loinc.org", "code": "84413-4"}]}}}]}),
    Endpoint("vcf-interpret", "POST", "/v1/vcf/interpretations", frozenset({"pharmacy", "clinician"}),
             vcf="##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS\n"
                 "chr10\t94781859\trs4244285\tG\tA\t.\tPASS\t.\tGT\t0/1\n"),
    Endpoint("warfarin", "POST", "/v1/dosing/warfarin", frozenset({"clinician", "pharmacy"}),
             {"age_years": 60, "height_cm": 170, "weight_kg": 70, "race": "white",
              "genotypes": [{"gene": "CYP2C9", "diplotype": "*1/*1"}]}),
    Endpoint("genes", "GET", "/v1/genes", ANY),
    Endpoint("gene", "GET", "/v1/genes/CYP2C19", ANY),
    Endpoint("drugs", "GET", "/v1/drugs", ANY),
    Endpoint("drug", "GET", "/v1/drugs/clopidogrel", ANY),
    Endpoint("releases", "GET", "/v1/releases", ANY),
    Endpoint("release", "GET", "/v1/releases/active", ANY),
    Endpoint("audit-events", "GET", "/v1/audit/events", frozenset({"auditor"})),
    Endpoint("audit-reinterpret", "GET", "/v1/audit/reinterpret?release={active}&since=2999-01-01T00:00:00Z",
             frozenset({"auditor", "admin"})),
    Endpoint("clients-list", "GET", "/v1/clients", frozenset({"admin"})),
    Endpoint("clients-create", "POST", "/v1/clients", frozenset({"admin"}), mutates_client="create"),
    Endpoint("clients-revoke", "POST", "/v1/clients/{target}/revoke", frozenset({"admin"}), mutates_client="revoke"),
    Endpoint("clients-rotate", "POST", "/v1/clients/{target}/rotate", frozenset({"admin"}), mutates_client="rotate"),
    Endpoint("healthz", "GET", "/healthz", PUBLIC),
    Endpoint("readyz", "GET", "/readyz", PUBLIC),
    Endpoint("openapi", "GET", "/openapi.json", PUBLIC),
]


def expected_status(endpoint: Endpoint, principal: str) -> str:
    if endpoint.roles is PUBLIC:
        return "allowed"
    if principal in ("no-key", "unknown-key", "revoked-key"):
        return "401"
    return "allowed" if principal in endpoint.roles else "403"


@pytest.fixture(scope="session")
def revoked_keys(app):
    """role -> a key that was valid (and used, so cached) and then revoked."""
    from service.auth.clients import create_client, revoke_client

    cache: dict[str, str] = {}

    def make(role: str) -> str:
        if role not in cache:
            client = app.test_client()
            with app.app_context():
                info, key = create_client(app, f"revoked-{role}-{uuid.uuid4().hex[:6]}", role)
            # Use it once so the worker's positive cache holds it, then revoke.
            client.get("/v1/releases", headers={"Authorization": f"Bearer {key}"})
            with app.app_context():
                revoke_client(app, info.name)
            cache[role] = key
        return cache[role]

    return make


def _headers(principal: str, endpoint: Endpoint, api_key, revoked_keys) -> dict[str, str]:
    if principal == "no-key":
        return {}
    if principal == "unknown-key":
        return {"Authorization": f"Bearer pgx_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"}
    if principal == "revoked-key":
        role = sorted(endpoint.roles)[0] if endpoint.roles else "admin"
        return {"Authorization": f"Bearer {revoked_keys(role)}"}
    return {"Authorization": f"Bearer {api_key(principal)}"}


def _active_client(app, name):
    from service.auth.clients import list_clients

    with app.app_context():
        return [c for c in list_clients(app) if c.name == name]


CELLS = [pytest.param(e, p, id=f"{e.id}-{p}") for e in ENDPOINTS for p in PRINCIPALS]


@pytest.mark.parametrize(("endpoint", "principal"), CELLS)
def test_role_matrix_cell(app, client, api_key, revoked_keys, endpoint: Endpoint, principal: str):
    from service.auth.clients import create_client

    headers = _headers(principal, endpoint, api_key, revoked_keys)
    path, body, target = endpoint.path, endpoint.json, None
    if endpoint.mutates_client in ("revoke", "rotate"):
        target = f"target-{uuid.uuid4().hex[:8]}"
        with app.app_context():
            create_client(app, target, "pharmacy")
        path = path.format(target=target)
    elif endpoint.mutates_client == "create":
        target = f"new-{uuid.uuid4().hex[:8]}"
        body = {"name": target, "role": "clinician"}
    if "{active}" in path:
        with app.app_context():
            from service.releases import current_knowledge
            path = path.format(active=urllib.parse.quote(current_knowledge().release, safe=""))

    if endpoint.vcf is not None:
        resp = client.open(path, method=endpoint.method, data=endpoint.vcf,
                           headers={**headers, "Content-Type": "text/vcf"})
    else:
        resp = client.open(path, method=endpoint.method, json=body, headers=headers)
    expected = expected_status(endpoint, principal)

    if expected == "allowed":
        assert 200 <= resp.status_code < 300, (resp.status_code, resp.get_data(as_text=True)[:500])
    else:
        assert resp.status_code == int(expected), (resp.status_code, resp.get_data(as_text=True)[:500])
        assert resp.mimetype == "application/problem+json"
        problem = resp.get_json()
        assert problem["status"] == int(expected)
        if expected == "401":
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        # Nothing changed for a refused admin call.
        if endpoint.mutates_client == "create":
            assert _active_client(app, target) == []
        elif endpoint.mutates_client in ("revoke", "rotate"):
            (still,) = _active_client(app, target)
            assert still.rotated_from is None  # neither revoked nor rotated


def test_matrix_covers_every_v1_operation_in_the_openapi_document(client):
    """A new /v1 endpoint must enter the matrix (and declare its roles)."""
    spec = client.get("/openapi.json").get_json()
    documented = {
        (method.upper(), path)
        for path, ops in spec["paths"].items()
        for method in ops
        if method in ("get", "post", "put", "patch", "delete") and path.startswith("/v1/")
    }
    in_matrix = {
        (e.method, e.path.split("?")[0].replace("{target}", "{name}")
         .replace("/v1/genes/CYP2C19", "/v1/genes/{gene}").replace("/v1/drugs/clopidogrel", "/v1/drugs/{drug}")
         .replace("/v1/releases/active", "/v1/releases/{label}"))
        for e in ENDPOINTS
    }
    assert documented <= in_matrix, sorted(documented - in_matrix)


def test_every_v1_operation_documents_bearer_security_and_refusals(client):
    spec = client.get("/openapi.json").get_json()
    for path, ops in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, op in ops.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            assert op.get("security") == [{"bearerAuth": []}], (method, path)
            assert {"401", "403", "429"} <= set(op["responses"]), (method, path)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/lookup?gene=&diplotype=", None),
        ("POST", "/v1/interpretations", {"genotypes": 42}),
        ("POST", "/v1/interpretations/batch", {"items": "x"}),
        ("GET", "/v1/audit/events?since=not-a-time", None),
        ("POST", "/v1/clients", {"name": ""}),
    ],
)
def test_authorization_comes_before_validation(client, method, path, body):
    """Without a key, an invalid request is 401, never a 422 that would describe the schema."""
    resp = client.open(path, method=method, json=body)
    assert resp.status_code == 401
    assert "errors" not in resp.get_json()
