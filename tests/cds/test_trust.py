"""Trusting CDS clients: real JWTs signed with generated keys, verified as CDS Hooks 2.0 says."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from service.auth.cds_models import cds_jti
from service.auth.cds_trust import (
    CdsAuthError,
    CdsClientError,
    add_client,
    parse_jwks,
    revoke_client,
    verify_cds_jwt,
)
from tests.cds.helpers import BASE, ISSUER, bearer, claims, ec_key, jwks

PATH = "/cds-services"


def _get(cds, token):
    return cds.get(PATH, headers=bearer(token))


def test_discovery_with_a_good_es384_token(cds, ehr_keys):
    resp = _get(cds, ehr_keys["ec"].sign(claims(PATH)))
    assert resp.status_code == 200, resp.get_json()
    assert {s["id"] for s in resp.get_json()["services"]} == {"pgx-order-select", "pgx-order-sign"}


def test_rs384_token_and_aud_as_array(cds, ehr_keys):
    token = ehr_keys["rsa"].sign(claims(PATH, aud=[BASE + PATH]))
    assert _get(cds, token).status_code == 200


def _refused(resp, fragment):
    assert resp.status_code == 401
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert fragment in body["issue"][0]["diagnostics"]
    assert "services" not in body and "cards" not in body
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_no_token(cds):
    _refused(cds.get(PATH), "no bearer token")


def test_expired(cds, ehr_keys):
    old = claims(PATH)
    old["iat"], old["exp"] = int(time.time()) - 900, int(time.time()) - 600
    _refused(_get(cds, ehr_keys["ec"].sign(old)), "expired")


def test_wrong_audience(cds, ehr_keys):
    _refused(_get(cds, ehr_keys["ec"].sign(claims(PATH, base="https://elsewhere.example"))), "aud")
    # the token of another endpoint of ours is not good here either
    _refused(_get(cds, ehr_keys["ec"].sign(claims("/cds-services/pgx-order-sign"))), "aud")


def test_hs256_is_refused(cds, ehr_keys):
    # even when the "secret" is the EHR's public key (the classic algorithm-confusion attack)
    pem = ehr_keys["ec"].private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    token = _hs256(claims(PATH), pem, {"alg": "HS256", "typ": "JWT", "kid": ehr_keys["ec"].kid})
    _refused(_get(cds, token), "HS256")


def _hs256(payload: dict, secret: bytes, header: dict) -> str:
    head = _unsigned(payload, header)[:-1]
    sig = base64.urlsafe_b64encode(hmac.new(secret, head.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    return f"{head}.{sig}"


def _unsigned(payload: dict, header: dict) -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{enc(header)}.{enc(payload)}."


def test_alg_none_is_refused(cds, ehr_keys):
    token = _unsigned(claims(PATH), {"alg": "none", "typ": "JWT", "kid": ehr_keys["ec"].kid})
    _refused(_get(cds, token), "none")


def test_unknown_kid(cds):
    stranger = ec_key(kid="not-registered")
    _refused(_get(cds, stranger.sign(claims(PATH))), "not in the issuer's JWK Set")


def test_registered_kid_but_other_key_fails_the_signature(cds, ehr_keys):
    impostor = ec_key(kid=ehr_keys["ec"].kid)
    _refused(_get(cds, impostor.sign(claims(PATH))), "signature")


def test_unregistered_issuer(cds, ehr_keys):
    _refused(_get(cds, ehr_keys["ec"].sign(claims(PATH, iss="https://rogue.example/"))), "not a registered")


def test_replayed_jti(cds, cds_app, ehr_keys):
    token = ehr_keys["ec"].sign(claims(PATH))
    assert _get(cds, token).status_code == 200
    _refused(_get(cds, token), "replay")
    # the same jti in a freshly signed token is a replay too
    again = claims(PATH, jti=jwt.decode(token, options={"verify_signature": False})["jti"])
    _refused(_get(cds, ehr_keys["ec"].sign(again)), "replay")
    with cds_app.extensions["pgx.db"].read() as conn:
        rows = conn.execute(select(cds_jti).where(cds_jti.c.jti == again["jti"])).all()
    assert len(rows) == 1  # kept in the database, shared by every worker


@pytest.mark.parametrize("missing", ["exp", "iat", "jti", "aud"])
def test_required_claims(cds, ehr_keys, missing):
    c = claims(PATH)
    del c[missing]
    _refused(_get(cds, ehr_keys["ec"].sign(c)), missing)


def test_iat_in_the_future(cds, ehr_keys):
    c = claims(PATH)
    c["iat"] = int(time.time()) + 600
    c["exp"] = c["iat"] + 300
    _refused(_get(cds, ehr_keys["ec"].sign(c)), "iat")


def test_token_living_too_long(cds, ehr_keys):
    _refused(_get(cds, ehr_keys["ec"].sign(claims(PATH, lifetime=86400))), "longer")


def test_typ_must_be_jwt(cds, ehr_keys):
    _refused(_get(cds, ehr_keys["ec"].sign(claims(PATH), {"typ": "at+jwt"})), "typ")


def test_key_of_another_algorithm_family(cds, ehr_keys):
    # an RS384 header naming the EC key's kid
    token = jwt.encode(claims(PATH), ehr_keys["rsa"].private, algorithm="RS384",
                       headers={"kid": ehr_keys["ec"].kid, "typ": "JWT"})
    _refused(_get(cds, token), "not a RSA key")


def test_unregistered_jku_is_refused(cds, ehr_keys):
    token = ehr_keys["ec"].sign(claims(PATH), {"jku": "https://attacker.example/jwks"})
    _refused(_get(cds, token), "jku")


def test_revoked_issuer(cds, cds_app):
    key = ec_key(kid="k-revoked")
    iss = "https://revoked-ehr.example/"
    with cds_app.app_context():
        add_client(cds_app, iss, jwks(key))
        assert _get(cds, key.sign(claims(PATH, iss=iss))).status_code == 200
        revoke_client(cds_app, iss)
    _refused(_get(cds, key.sign(claims(PATH, iss=iss))), "revoked")


def test_registry_refuses_private_and_symmetric_keys(ehr_keys):
    private = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ehr_keys["ec"].private))
    with pytest.raises(CdsClientError, match="private"):
        parse_jwks(json.dumps({"keys": [{**private, "kid": "x", "kty": "EC"}]}))
    with pytest.raises(CdsClientError, match="kty"):
        parse_jwks(json.dumps({"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}]}))
    with pytest.raises(CdsClientError, match="kid"):
        parse_jwks(json.dumps({"keys": [{k: v for k, v in ehr_keys["ec"].public_jwk().items() if k != "kid"}]}))
    with pytest.raises(CdsClientError, match="not JSON"):
        parse_jwks("{")


def test_verify_raises_cds_auth_error_for_garbage(cds_app):
    with cds_app.app_context(), pytest.raises(CdsAuthError, match="not a JWT"):
        verify_cds_jwt(cds_app, "not.a.jwt", BASE + PATH)
    assert ISSUER


def test_concurrent_replays_accept_the_token_once(cds_app, ehr_keys):
    """The same token sent at once by 8 threads: the database's key on (iss, jti) lets one in."""
    token = ehr_keys["ec"].sign(claims(PATH))

    def call(_):
        return cds_app.test_client().get(PATH, headers=bearer(token)).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(call, range(8)))
    assert statuses == [200] + [401] * 7


class _JwksHandler(BaseHTTPRequestHandler):
    body = b"{}"
    hits = 0

    def do_GET(self):  # noqa: N802 - http.server's name
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_keys_published_at_the_registered_jku(cds, cds_app):
    """An EHR registered with --jku: a key it publishes there (not in the registered set) is fetched
    once and cached; a token naming another jku is refused."""
    registered, published = ec_key(kid="jku-registered"), ec_key(kid="jku-published")
    _JwksHandler.body = jwks(registered, published).encode()
    _JwksHandler.hits = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _JwksHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/jwks.json"
    iss = "https://jku-ehr.example/"
    try:
        with cds_app.app_context():
            add_client(cds_app, iss, jwks(registered), jku=url)
        for _ in range(2):
            assert _get(cds, published.sign(claims(PATH, iss=iss), {"jku": url})).status_code == 200
        assert _JwksHandler.hits == 1
        assert _get(cds, registered.sign(claims(PATH, iss=iss))).status_code == 200
        _refused(_get(cds, published.sign(claims(PATH, iss=iss), {"jku": url + "?other"})), "jku")
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(CdsClientError, match="https"):
        add_client(cds_app, "https://x.example/", jwks(registered), jku="http://example.org/jwks")
