"""Limits and hardening: rate limit (429 + Retry-After), body limit (413), error bodies that leak
nothing, security headers, request ids."""

from __future__ import annotations

import io
import uuid

import pytest
from sqlalchemy.exc import OperationalError

THIRTY_MB = 30 * 1024 * 1024
LEAK_MARKERS = ("Traceback", "SELECT", "api_clients", "sqlalchemy", "psycopg", 'File "', "line ")


@pytest.fixture
def limited_app(backend, fresh_app):
    """A fresh app (own database, own in-memory counters) allowing 5 /v1 requests a minute per client."""
    return fresh_app(backend, PGX_RATELIMIT_DEFAULT="5/minute")


def _key(app, role: str) -> str:
    from service.auth.clients import create_client

    with app.app_context():
        return create_client(app, f"lim-{role}-{uuid.uuid4().hex[:6]}", role)[1]


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class CountingStream(io.RawIOBase):
    """A request body that counts what the server reads of it."""

    def __init__(self, size: int):
        self.size, self.read_bytes = size, 0

    def readable(self):
        return True

    def readinto(self, buf):
        n = min(len(buf), self.size - self.read_bytes)
        buf[:n] = b"x" * n
        self.read_bytes += n
        return n


# -- rate limit ----------------------------------------------------------------------------------


def test_a_burst_beyond_the_limit_gets_429_with_retry_after(limited_app):
    client = limited_app.test_client()
    admin, other = _key(limited_app, "admin"), _key(limited_app, "admin")
    statuses = [client.get("/v1/clients", headers=_bearer(admin)).status_code for _ in range(5)]
    assert statuses == [200] * 5
    resp = client.get("/v1/clients", headers=_bearer(admin))
    assert resp.status_code == 429
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["status"] == 429
    retry_after = int(resp.headers["Retry-After"])
    assert 0 < retry_after <= 60
    # Per client: another key is not affected.
    assert client.get("/v1/clients", headers=_bearer(other)).status_code == 200


def test_callers_without_a_valid_key_are_limited_by_address(limited_app):
    client = limited_app.test_client()
    statuses = [client.get("/v1/clients").status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    # The probes and the document are not limited.
    assert client.get("/healthz").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_retry_after_only_on_refusals(limited_app):
    client = limited_app.test_client()
    resp = client.get("/v1/clients", headers=_bearer(_key(limited_app, "admin")))
    assert resp.status_code == 200
    assert "Retry-After" not in resp.headers
    assert resp.headers["X-RateLimit-Limit"] == "5"


# -- body limit ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [None, "pharmacy"])
def test_a_30mb_body_is_refused_with_413_unread(client, auth, role):
    stream = CountingStream(THIRTY_MB)
    resp = client.post(
        "/v1/interpretations",
        content_type="application/json",
        headers=auth(role) if role else {},
        environ_overrides={"wsgi.input": stream, "CONTENT_LENGTH": str(THIRTY_MB)},
    )
    assert resp.status_code == 413
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["status"] == 413
    assert stream.read_bytes == 0


def test_a_real_30mb_body_is_refused_with_413(client, auth):
    body = b'{"genotypes": [' + b" " * THIRTY_MB + b"]}"
    resp = client.post("/v1/interpretations/batch", data=body, content_type="application/json", headers=auth("pharmacy"))
    assert resp.status_code == 413
    assert resp.mimetype == "application/problem+json"


def test_a_chunked_body_without_length_stops_at_the_limit(app, client, auth):
    limit = app.config["MAX_CONTENT_LENGTH"]
    stream = CountingStream(THIRTY_MB)
    resp = client.post(
        "/v1/interpretations",
        content_type="application/json",
        headers={**auth("pharmacy"), "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input": stream, "wsgi.input_terminated": True, "CONTENT_LENGTH": ""},
    )
    assert resp.status_code == 413
    assert resp.mimetype == "application/problem+json"
    assert stream.read_bytes <= limit + 64 * 1024  # never the whole 30 MB


# -- error bodies leak nothing -------------------------------------------------------------------


def _assert_no_leak(resp, *secrets_):
    text = resp.get_data(as_text=True)
    for marker in (*LEAK_MARKERS, *secrets_):
        assert marker not in text, marker


def test_an_internal_error_answers_a_generic_problem(app, client, auth, monkeypatch):
    import service.http.clients as views

    def explode(*_a, **_k):
        raise RuntimeError('SELECT key_hash FROM api_clients -- Traceback File "x.py", line 1: secret-detail')

    monkeypatch.setattr(views, "list_clients", explode)
    resp = client.get("/v1/clients", headers=auth("admin"))
    assert resp.status_code == 500
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert set(body) <= {"type", "title", "status", "detail", "request_id"}
    assert body["request_id"] == resp.headers["X-Request-ID"]
    _assert_no_leak(resp, "secret-detail")


def test_an_unreachable_key_store_fails_closed_with_503(app, client, auth, monkeypatch):
    import service.auth as auth_module

    key = auth("pharmacy")["Authorization"].split()[1]

    def down(*_a, **_k):
        raise OperationalError("SELECT key_hash FROM api_clients WHERE key_id = %(k)s", {"k": "x"}, Exception("conn refused"))

    monkeypatch.setattr(auth_module, "authenticate", down)
    resp = client.get("/v1/lookup?gene=CYP2C19&diplotype=*1/*1", headers=_bearer(key))
    assert resp.status_code == 503
    assert resp.mimetype == "application/problem+json"
    _assert_no_leak(resp, "conn refused", key)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/lookup?gene=NOPE&diplotype=%2A1/%2A1", None),
        ("GET", "/v1/lookup?gene=CYP2C19&diplotype=%27%3B%20DROP%20TABLE%20x%3B--", None),
        ("POST", "/v1/interpretations", {"genotypes": "not-a-list"}),
        ("POST", "/v1/interpretations", {"genotypes": [{"gene": "CYP2C19", "diplotype": "*1/*1", "x": 1}]}),
        ("POST", "/v1/clients", {"name": "x" * 500, "role": "admin"}),
        ("POST", "/v1/interpretations/batch", {"items": 5}),
    ],
)
def test_refusals_leak_no_trace_or_sql(client, auth, method, path, body):
    role = "admin" if "clients" in path else "pharmacy"
    resp = client.open(path, method=method, json=body, headers=auth(role))
    assert 400 <= resp.status_code < 500, resp.get_data(as_text=True)[:300]
    assert resp.mimetype == "application/problem+json"
    _assert_no_leak(resp)


def test_malformed_json_is_a_problem_not_a_trace(client, auth):
    resp = client.post(
        "/v1/interpretations", data=b'{"genotypes": [', content_type="application/json", headers=auth("pharmacy")
    )
    assert resp.status_code in (400, 422)
    assert resp.mimetype == "application/problem+json"
    _assert_no_leak(resp)


# -- headers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/v1/lookup?gene=CYP2C19&diplotype=*1/*1", "/v1/nope"])
def test_security_headers_and_request_id_on_every_answer(client, path):
    resp = client.get(path, headers={"X-Request-ID": "req-42"})
    assert resp.headers["X-Request-ID"] == "req-42"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")


def test_an_unsafe_request_id_is_replaced(client):
    resp = client.get("/healthz", headers={"X-Request-ID": "bad id <script>"})
    assert resp.headers["X-Request-ID"] != "bad id <script>"
    assert len(resp.headers["X-Request-ID"]) == 32


# -- shared counters (Redis) ---------------------------------------------------------------------


@pytest.fixture
def redis_url(tmp_path):
    import shutil
    import socket
    import subprocess
    import time

    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(  # our own server, stopped by its pid below
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            pytest.skip("redis-server did not start")
        yield f"redis://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_workers_share_the_limit_through_redis(backend, new_database_url, redis_url):
    """Two apps (two workers) on one Redis: the limit holds across them, not per worker. When Redis
    goes away, requests are still answered (and limited per worker in memory)."""
    redis_url, redis_proc = redis_url
    from service import create_app
    from service.cli.db import upgrade

    url = new_database_url(backend)
    upgrade(url)
    config = {
        "PGX_DATABASE_URL": url,
        "TESTING": True,
        "PGX_RATELIMIT_DEFAULT": "3/minute",
        "PGX_RATELIMIT_STORAGE_URI": redis_url,
    }
    first, second = create_app(dict(config)), create_app(dict(config))
    try:
        key = _key(first, "admin")
        one, two = first.test_client(), second.test_client()
        assert [one.get("/v1/clients", headers=_bearer(key)).status_code for _ in range(2)] == [200, 200]
        assert two.get("/v1/clients", headers=_bearer(key)).status_code == 200
        refused = two.get("/v1/clients", headers=_bearer(key))
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert one.get("/v1/clients", headers=_bearer(key)).status_code == 429
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
        other = _key(first, "admin")
        assert one.get("/v1/clients", headers=_bearer(other)).status_code == 200
    finally:
        first.extensions["pgx.db"].dispose()
        second.extensions["pgx.db"].dispose()
