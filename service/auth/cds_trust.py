"""Trusting CDS clients (CDS Hooks 2.0, "Trusting CDS Clients"): the registry of EHRs allowed to
call the CDS services, and the verification of the JWT each of their calls carries.

A CDS client is registered by its issuer (`iss`) with its public JSON Web Key Set (and, if it
publishes one, the URL of that set, `jku`). A call is trusted when all of these hold:
- the JWT's header names an asymmetric algorithm (ES*, RS*, PS*): `none` and HMAC are refused
  before anything else is looked at, since a shared secret cannot identify an EHR;
- `typ` is `JWT` and `kid` names a key of the issuer's registered set, of the algorithm's family;
- the signature verifies (PyJWT), `iss` is registered and not revoked;
- `aud` equals the URL of the endpoint called, built from PGX_PUBLIC_BASE_URL (never from the
  request's Host, which a proxy or an attacker sets);
- `exp`, `iat` and `jti` are present; `exp` is in the future, `iat` not in the future (both
  within PGX_CDS_JWT_LEEWAY_S), and the token lives at most PGX_CDS_JWT_MAX_LIFETIME_S;
- its `jti` was never accepted from that issuer: the id is stored in the database until the
  token expires (workers behind a load balancer share nothing else), and a second use is refused.
Anything else raises `CdsAuthError`, which the views answer with 401 and no clinical content.

Registered clients are cached per worker for PGX_AUTH_CACHE_TTL_S seconds, as API keys are: a
revoke through another process takes effect within that time.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import jwt
from flask import Flask
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from service.auth.cds_models import cds_clients, cds_jti
from service.db import Database, as_utc, utcnow

ASYMMETRIC_ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_FAMILY = {"ES": "EC", "RS": "RSA", "PS": "RSA"}
_CURVE = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
# Members of a JWK that only a private (or symmetric) key has: never registered.
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
MAX_ISSUER = 500
MAX_JTI = 200
_PURGE_EVERY_S = 60.0
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_JTI_INSERT = cds_jti.insert()  # built once: its compiled form is cached, the values are parameters


class CdsClientError(ValueError):
    """A registry operation that cannot be done as asked (the message is safe to show)."""


class CdsAuthError(Exception):
    """The call's JWT is not trusted; the message says why, with nothing clinical in it."""


@dataclass(frozen=True)
class CdsClientInfo:
    issuer: str
    key_ids: tuple[str, ...]
    jku: str | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class CdsCaller:
    """Who a verified call came from."""

    issuer: str
    kid: str
    jti: str
    tenant: str | None
    expires_at: datetime


# -- the registry --------------------------------------------------------------------------------


def parse_jwks(text: str) -> dict[str, Any]:
    """A public JWK Set from JSON text, checked: every key has a unique `kid`, is EC or RSA, holds
    no private part, and loads; raises CdsClientError naming the fault."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CdsClientError(f"The JWK Set is not JSON ({exc.msg}, line {exc.lineno}).") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list) or not data["keys"]:
        raise CdsClientError('A JWK Set is an object {"keys": [JWK, ...]} with at least one key.')
    seen: set[str] = set()
    for i, key in enumerate(data["keys"]):
        if not isinstance(key, dict):
            raise CdsClientError(f"keys[{i}] is not a JSON object.")
        kid = key.get("kid")
        if not isinstance(kid, str) or not kid:
            raise CdsClientError(f"keys[{i}] has no `kid` (CDS Hooks requires one per key).")
        if kid in seen:
            raise CdsClientError(f"The `kid` {kid!r} appears twice; it must be unique in the set.")
        seen.add(kid)
        if key.get("kty") not in ("EC", "RSA"):
            raise CdsClientError(f"Key {kid!r}: `kty` {key.get('kty')!r} is not EC or RSA (asymmetric keys only).")
        private = [m for m in _PRIVATE_MEMBERS if m in key]
        if private:
            raise CdsClientError(f"Key {kid!r} holds private members ({', '.join(private)}): register the public key only.")
        alg = key.get("alg")
        if alg is not None and alg not in ASYMMETRIC_ALGORITHMS:
            raise CdsClientError(f"Key {kid!r}: `alg` {alg!r} is not one of {', '.join(ASYMMETRIC_ALGORITHMS)}.")
        if key.get("use") not in (None, "sig"):
            raise CdsClientError(f"Key {kid!r}: `use` is {key.get('use')!r}; a signing key has `sig`.")
        try:
            jwt.PyJWK(key)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            raise CdsClientError(f"Key {kid!r} cannot be loaded ({type(exc).__name__}).") from None
    return data


def _check_issuer(issuer: str) -> str:
    if not isinstance(issuer, str) or not issuer.strip() or len(issuer) > MAX_ISSUER or issuer != issuer.strip():
        raise CdsClientError(f"An issuer is a non-empty URI of at most {MAX_ISSUER} characters, without spaces around it.")
    return issuer


def _info(row) -> CdsClientInfo:
    keys = json.loads(row.jwks).get("keys", [])
    return CdsClientInfo(row.issuer, tuple(k.get("kid") for k in keys), row.jku,
                         as_utc(row.created_at), as_utc(row.revoked_at))


def _db(app: Flask | Database) -> Database:
    return app if isinstance(app, Database) else app.extensions["pgx.db"]


def add_client(app: Flask | Database, issuer: str, jwks_text: str, jku: str | None = None) -> CdsClientInfo:
    """Register an EHR; a revoked issuer may be registered again (with its new keys)."""
    _check_issuer(issuer)
    jwks = parse_jwks(jwks_text)
    if jku is not None and not (jku.startswith("https://") or urlsplit(jku).hostname in _LOOPBACK and
                                jku.startswith("http://")):
        raise CdsClientError("A `jku` must be an https URL (plain http only on the loopback interface).")
    stored = json.dumps(jwks, sort_keys=True, separators=(",", ":"))
    now = utcnow()
    try:
        with _db(app).write_transaction() as conn:
            row = conn.execute(select(cds_clients).where(cds_clients.c.issuer == issuer)).first()
            if row is not None and row.revoked_at is None:
                raise CdsClientError(f"The issuer {issuer!r} is registered; revoke it first to replace its keys.")
            if row is not None:
                conn.execute(update(cds_clients).where(cds_clients.c.id == row.id).values(
                    jwks=stored, jku=jku, created_at=now, revoked_at=None))
            else:
                conn.execute(cds_clients.insert().values(issuer=issuer, jwks=stored, jku=jku, created_at=now))
    except IntegrityError:  # a concurrent add of the same issuer
        raise CdsClientError(f"The issuer {issuer!r} is registered.") from None
    _drop_cached(app, issuer)
    return CdsClientInfo(issuer, tuple(k["kid"] for k in jwks["keys"]), jku, now, None)


def list_clients(app: Flask | Database, *, include_revoked: bool = True) -> list[CdsClientInfo]:
    query = select(cds_clients).order_by(cds_clients.c.issuer)
    if not include_revoked:
        query = query.where(cds_clients.c.revoked_at.is_(None))
    with _db(app).read() as conn:
        return [_info(r) for r in conn.execute(query).all()]


def revoke_client(app: Flask | Database, issuer: str) -> CdsClientInfo:
    now = utcnow()
    with _db(app).write_transaction() as conn:
        row = conn.execute(select(cds_clients).where(
            cds_clients.c.issuer == issuer, cds_clients.c.revoked_at.is_(None))).first()
        if row is None:
            raise CdsClientError(f"No registered (unrevoked) CDS client with issuer {issuer!r}.")
        conn.execute(update(cds_clients).where(cds_clients.c.id == row.id).values(revoked_at=now))
    _drop_cached(app, issuer)
    info = _info(row)
    return CdsClientInfo(info.issuer, info.key_ids, info.jku, info.created_at, now)


# -- verification --------------------------------------------------------------------------------


class _Registered:
    """One issuer's keys as loaded for verification."""

    __slots__ = ("issuer", "keys", "jku", "revoked")

    def __init__(self, issuer: str, jwks: dict[str, Any], jku: str | None, revoked: bool):
        self.issuer = issuer
        self.keys = {k["kid"]: k for k in jwks.get("keys", [])}
        self.jku = jku
        self.revoked = revoked


class TrustStore:
    """Per app and worker: registered issuers cached for a few seconds, the JWK clients of
    issuers that publish a `jku`, and when the expired JWT ids were last purged."""

    def __init__(self, app: Flask | Database, ttl_s: float):
        self._app = app
        self._ttl = ttl_s
        self._entries: dict[str, tuple[float, _Registered | None]] = {}
        self._jwk_clients: dict[str, jwt.PyJWKClient] = {}
        self._lock = threading.Lock()
        self._last_purge = 0.0

    def drop(self, issuer: str) -> None:
        self._entries.pop(issuer, None)

    def registered(self, issuer: str) -> _Registered | None:
        hit = self._entries.get(issuer)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        with _db(self._app).read() as conn:
            row = conn.execute(select(cds_clients).where(cds_clients.c.issuer == issuer)).first()
        reg = None if row is None else _Registered(row.issuer, json.loads(row.jwks), row.jku,
                                                   row.revoked_at is not None)
        if self._ttl > 0:
            with self._lock:
                if len(self._entries) > 1000:
                    self._entries.clear()
                self._entries[issuer] = (time.monotonic() + self._ttl, reg)
        return reg

    def published_key(self, reg: _Registered, kid: str) -> dict[str, Any] | None:
        """The key `kid` from the issuer's allowlisted `jku` (fetched with a 5-minute cache)."""
        if reg.jku is None:
            return None
        with self._lock:
            client = self._jwk_clients.get(reg.jku)
            if client is None:
                client = self._jwk_clients[reg.jku] = jwt.PyJWKClient(
                    reg.jku, cache_jwk_set=True, lifespan=300, timeout=2)
        try:
            key = client.get_signing_key(kid)
        except jwt.PyJWTError:
            return None
        data = getattr(key, "_jwk_data", None)
        return data if isinstance(data, dict) else None

    def purge_due(self) -> bool:
        now = time.monotonic()
        if now - self._last_purge < _PURGE_EVERY_S:
            return False
        self._last_purge = now
        return True


def trust_store(app: Flask) -> TrustStore:
    store = app.extensions.get("pgx.cds.trust")
    if store is None:
        store = app.extensions.setdefault(
            "pgx.cds.trust", TrustStore(app, float(app.config.get("PGX_AUTH_CACHE_TTL_S", 5))))
    return store


def _drop_cached(app: Flask | Database, issuer: str) -> None:
    if isinstance(app, Flask):
        trust_store(app).drop(issuer)


def _key_for(alg: str, jwk_data: dict[str, Any], kid: str) -> jwt.PyJWK:
    """The registered key as a verifier for `alg`, refusing a key of another family or curve
    (a key's own `alg`, when it states one, must be the token's)."""
    if jwk_data.get("kty") != _FAMILY[alg[:2]]:
        raise CdsAuthError(f"the key {kid!r} is not a {_FAMILY[alg[:2]]} key, as {alg} needs")
    if alg in _CURVE and jwk_data.get("crv") != _CURVE[alg]:
        raise CdsAuthError(f"the key {kid!r} is not on curve {_CURVE[alg]}, as {alg} needs")
    if jwk_data.get("alg") not in (None, alg):
        raise CdsAuthError(f"the key {kid!r} is registered for {jwk_data.get('alg')}, not {alg}")
    try:
        return jwt.PyJWK(jwk_data, algorithm=alg)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        raise CdsAuthError(f"the key {kid!r} cannot be used") from None


def _claim_jti(app: Flask, store: TrustStore, issuer: str, jti: str, expires_at: datetime, leeway: float) -> None:
    """Store the JWT id until its token expires; a second use of it is a replay."""
    now = utcnow()
    db = _db(app)
    try:
        with db.write_transaction() as conn:
            if db.is_postgresql:
                # Visible to every instance at commit, as always; only the WAL flush is not waited
                # for. A database crash may forget the last fraction of a second of ids, so a token
                # captured then could be replayed until it expires: accepted for the flush saved
                # on every hook call (the audit records keep synchronous commits).
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            if store.purge_due():
                conn.execute(delete(cds_jti).where(cds_jti.c.expires_at < now - timedelta(seconds=leeway)))
            conn.execute(_JTI_INSERT, {"issuer": issuer, "jti": jti, "expires_at": expires_at})
    except IntegrityError:
        raise CdsAuthError("the token's jti was used before (replay)") from None


def _segment(part: str) -> dict[str, Any]:
    value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    if not isinstance(value, dict):
        raise ValueError("not an object")
    return value


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims, unverified: only to pick the issuer's key and the algorithm;
    jwt.decode then checks the whole token (format included) before anything is trusted."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 16384:
        raise CdsAuthError("the bearer token is not a JWT")
    try:
        return _segment(parts[0]), _segment(parts[1])
    except (ValueError, TypeError, binascii.Error, RecursionError):
        raise CdsAuthError("the bearer token is not a JWT") from None


def verify_cds_jwt(app: Flask, token: str | None, audience: str) -> CdsCaller:
    """The caller of a CDS Hooks request whose bearer token is `token`, called at `audience`
    (the endpoint's public URL). Raises CdsAuthError (-> 401) for anything not trusted;
    a database failure propagates (-> 503, fail closed)."""
    if not token:
        raise CdsAuthError("no bearer token: every CDS Hooks call carries the CDS client's JWT")
    header, unverified = _peek(token)
    alg = header.get("alg")
    if alg not in ASYMMETRIC_ALGORITHMS:
        raise CdsAuthError(f"the algorithm {alg!r} is not accepted (asymmetric signatures only: "
                           f"{', '.join(ASYMMETRIC_ALGORITHMS)})")
    if str(header.get("typ", "")).upper() != "JWT":
        raise CdsAuthError("the JWT header's `typ` must be JWT")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise CdsAuthError("the JWT header has no `kid`")
    issuer = unverified.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise CdsAuthError("the token has no `iss`")
    store = trust_store(app)
    reg = store.registered(issuer)
    if reg is None:
        raise CdsAuthError("the issuer is not a registered CDS client")
    if reg.revoked:
        raise CdsAuthError("the issuer's registration is revoked")
    jku = header.get("jku")
    if jku is not None and jku != reg.jku:
        raise CdsAuthError("the JWT's `jku` is not the one registered for this issuer")
    jwk_data = reg.keys.get(kid) or store.published_key(reg, kid)
    if jwk_data is None:
        raise CdsAuthError(f"the key {kid!r} is not in the issuer's JWK Set")
    key = _key_for(alg, jwk_data, kid)
    leeway = float(app.config.get("PGX_CDS_JWT_LEEWAY_S", 30))
    try:
        claims = jwt.decode(
            token, key, algorithms=[alg], audience=audience, issuer=issuer, leeway=leeway,
            options={"require": ["iss", "aud", "exp", "iat", "jti"], "verify_iat": True},
        )
    except jwt.ExpiredSignatureError:
        raise CdsAuthError("the token has expired") from None
    except jwt.InvalidAudienceError:
        raise CdsAuthError(f"the token's `aud` is not this endpoint ({audience})") from None
    except jwt.ImmatureSignatureError:
        raise CdsAuthError("the token's `iat` is in the future") from None
    except jwt.MissingRequiredClaimError as exc:
        raise CdsAuthError(f"the token has no `{exc.claim}` claim") from None
    except jwt.InvalidSignatureError:
        raise CdsAuthError("the token's signature does not verify") from None
    except jwt.PyJWTError as exc:
        raise CdsAuthError(f"the token is not valid ({type(exc).__name__})") from None
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI:
        raise CdsAuthError(f"the token's `jti` must be a string of 1 to {MAX_JTI} characters")
    exp, iat = claims["exp"], claims["iat"]
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise CdsAuthError("the token's `iat` must be a number")
    max_life = float(app.config.get("PGX_CDS_JWT_MAX_LIFETIME_S", 3600))
    if exp - time.time() > max_life:
        raise CdsAuthError(f"the token lives longer than {int(max_life)} s; issue short-lived tokens")
    expires_at = datetime.fromtimestamp(exp, UTC)
    _claim_jti(app, store, issuer, jti, expires_at, leeway)
    tenant = claims.get("tenant")
    return CdsCaller(issuer, kid, jti, tenant if isinstance(tenant, str) else None, expires_at)
