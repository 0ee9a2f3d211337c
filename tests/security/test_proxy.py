"""Behind a TLS-terminating proxy (README, "Behind a TLS-terminating proxy"): with PGX_PROXY_HOPS=1
the client's address from X-Forwarded-For is what the audit records and the rate limit counts;
with the default 0 the header is ignored, so a caller cannot forge its address."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

LOOKUP = "/v1/lookup?gene=CYP2C19&diplotype=*1/*2"


def _source_addr(app, rid: str) -> str:
    with app.extensions["pgx.db"].read() as conn:
        return conn.execute(text("SELECT source_addr FROM audit_event WHERE request_id = :r"), {"r": rid}).scalar_one()


@pytest.mark.parametrize("hops, expected", [(0, "127.0.0.1"), (1, "203.0.113.7")])
def test_forwarded_for_is_believed_only_from_configured_proxies(fresh_app, hops, expected):
    app = fresh_app("sqlite", PGX_PROXY_HOPS=hops, PGX_RATELIMIT_DEFAULT="2/minute")
    client = app.test_client()
    rid = f"proxy-{uuid.uuid4().hex}"
    headers = {"X-Request-ID": rid, "X-Forwarded-For": "198.51.100.1, 203.0.113.7", "X-Forwarded-Proto": "https"}
    assert client.get(LOOKUP, headers=headers).status_code == 401  # audited refusal: no key
    assert _source_addr(app, rid) == expected
    # Rate limits count per client address: with the proxy believed, another client is not limited.
    client.get(LOOKUP, headers=headers)
    assert client.get(LOOKUP, headers=headers).status_code == 429
    other = {"X-Forwarded-For": "203.0.113.99"}
    assert client.get(LOOKUP, headers=other).status_code == (401 if hops else 429)
