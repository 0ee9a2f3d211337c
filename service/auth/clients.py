"""API clients and their keys: create, list, revoke, rotate, authenticate.

A key reads `pgx_<key_id>_<secret>`: `key_id` is 12 public hex digits that find the client's row,
`secret` is 256 bits from `secrets`. The key is shown once, when it is made; the database holds
only SHA-256 of the whole key.

Why SHA-256 and not bcrypt/scrypt/argon2: slow, salted hashes exist to make guessing *low-entropy
passwords* from a stolen hash expensive. These keys are 256-bit random values: no dictionary and no
brute force reaches them, so a single fast cryptographic hash is already preimage-resistant, and it
keeps authentication cheap on every request. (Same reasoning as GitHub/Stripe-style API tokens.)
Hashes are compared with `hmac.compare_digest` (constant time).

Positive lookups are cached per worker for `PGX_AUTH_CACHE_TTL_S` seconds (default 5), so the hot
path costs no database round trip. Consequence, by design: a key revoked (or rotated away) through
another worker or process keeps working on a worker that cached it for at most that TTL. A revoke
through this process drops the entry at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from service.auth.models import ApiClient
from service.db import Database, as_utc, utcnow

ROLES = ("pharmacy", "clinician", "auditor", "admin")
KEY_PREFIX = "pgx"
KEY_ID_BYTES = 6  # 12 hex digits, public
SECRET_BYTES = 32  # 256 bits
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
_NAME_RE = re.compile(NAME_PATTERN)
_KEY_RE = re.compile(r"^pgx_([0-9a-f]{12})_([A-Za-z0-9_-]{20,128})$")
_CACHE_MAX = 10_000
_T = ApiClient.__table__


class ClientError(ValueError):
    """A client operation that cannot be done as asked (the message is safe to show)."""


class ClientExists(ClientError):
    pass


class ClientNotFound(ClientError):
    pass


@dataclass(frozen=True)
class ClientInfo:
    id: int
    name: str
    role: str
    key_id: str
    created_at: datetime
    revoked_at: datetime | None = None
    rotated_from: int | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "role": self.role,
            "key_id": self.key_id,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "active": self.active,
        }




def _info(row) -> ClientInfo:
    return ClientInfo(
        id=row.id,
        name=row.name,
        role=row.role,
        key_id=row.key_id,
        created_at=as_utc(row.created_at),
        revoked_at=as_utc(row.revoked_at),
        rotated_from=row.rotated_from,
    )


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_key(presented: str | None) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed key, else None. Never raises."""
    if not presented or len(presented) > 200:
        return None
    match = _KEY_RE.match(presented.strip())
    return (match.group(1), match.group(2)) if match else None


def presented_key_id(presented: str | None) -> str | None:
    """The public key id of a presented key (for audit and logs), or None if it is malformed."""
    parsed = parse_key(presented)
    return parsed[0] if parsed else None


def _new_key() -> tuple[str, str]:
    key_id = secrets.token_hex(KEY_ID_BYTES)
    return key_id, f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ClientError(
            "A client name is 1-64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit."
        )
    return name


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise ClientError(f"Unknown role {role!r}; roles are: {', '.join(ROLES)}.")
    return role


def _app(app: Flask | Database | None) -> Flask | Database:
    """The app (or, for the command line, a bare Database) the operation works on."""
    return app if app is not None else current_app._get_current_object()  # noqa: SLF001


def _db(app: Flask | Database) -> Database:
    return app if isinstance(app, Database) else app.extensions["pgx.db"]


class _Cache:
    """key_id -> (expires_at, key_hash, ClientInfo); per app, per worker process."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, str, ClientInfo]] = {}
        self._lock = threading.Lock()

    def get(self, key_id: str) -> tuple[str, ClientInfo] | None:
        entry = self._entries.get(key_id)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._entries.pop(key_id, None)
            return None
        return entry[1], entry[2]

    def put(self, key_id: str, key_hash: str, info: ClientInfo, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= _CACHE_MAX:
                self._entries.clear()
            self._entries[key_id] = (time.monotonic() + ttl, key_hash, info)

    def drop(self, key_id: str) -> None:
        self._entries.pop(key_id, None)

    def clear(self) -> None:
        self._entries.clear()


def _cache(app: Flask | Database) -> _Cache:
    if isinstance(app, Database):  # command line: no request path, nothing to cache
        return _Cache()
    cache = app.extensions.get("pgx.auth.cache")
    if cache is None:
        cache = app.extensions.setdefault("pgx.auth.cache", _Cache())
    return cache


def _insert(conn, name: str, role: str, rotated_from: int | None) -> tuple[ClientInfo, str]:
    key_id, key = _new_key()
    now = utcnow()
    result = conn.execute(
        _T.insert().values(
            key_id=key_id,
            name=name,
            role=role,
            key_hash=hash_key(key),
            created_at=now,
            revoked_at=None,
            rotated_from=rotated_from,
        )
    )
    client_id = result.inserted_primary_key[0]
    return ClientInfo(client_id, name, role, key_id, now, None, rotated_from), key


# `audit(conn, act, client, previous)`: called inside the transaction that makes the change
# (act "create", "revoke" or "rotate"; `previous` the rotated-away key), so the change and its
# audit record commit together or not at all. The caller (HTTP view, command line) writes it.
AuditHook = Callable[[Any, str, ClientInfo, ClientInfo | None], None]


def create_client(app: Flask | Database | None, name: str, role: str, *,
                  audit: AuditHook | None = None) -> tuple[ClientInfo, str]:
    """A new client and its key (the only time the key exists outside the caller's hands)."""
    app = _app(app)
    _check_name(name)
    _check_role(role)
    try:
        with _db(app).write_transaction() as conn:
            taken = conn.execute(select(_T.c.id).where(_T.c.name == name).limit(1)).first()
            if taken is not None:
                raise ClientExists(f"A client named {name!r} exists (or existed); choose another name.")
            info, key = _insert(conn, name, role, None)
            if audit is not None:
                audit(conn, "create", info, None)
            return info, key
    except IntegrityError as exc:  # a concurrent create of the same name
        raise ClientExists(f"A client named {name!r} exists; choose another name.") from exc


def list_clients(app: Flask | Database | None = None, *, include_revoked: bool = False) -> list[ClientInfo]:
    app = _app(app)
    query = select(_T).order_by(_T.c.name, _T.c.id)
    if not include_revoked:
        query = query.where(_T.c.revoked_at.is_(None))
    with _db(app).read() as conn:
        return [_info(row) for row in conn.execute(query).all()]


def get_client(app: Flask | Database | None, name: str) -> ClientInfo:
    """The active client of that name."""
    app = _app(app)
    with _db(app).read() as conn:
        row = conn.execute(select(_T).where(_T.c.name == name, _T.c.revoked_at.is_(None))).first()
    if row is None:
        raise ClientNotFound(f"No active client named {name!r}.")
    return _info(row)


def _active_row(conn, name: str):
    row = conn.execute(select(_T).where(_T.c.name == name, _T.c.revoked_at.is_(None))).first()
    if row is None:
        raise ClientNotFound(f"No active client named {name!r}.")
    return row


def revoke_client(app: Flask | Database | None, name: str, *, audit: AuditHook | None = None) -> ClientInfo:
    """Revoke the active key of a client; the row stays (audit records name it)."""
    app = _app(app)
    now = utcnow()
    with _db(app).write_transaction() as conn:
        row = _active_row(conn, name)
        conn.execute(update(_T).where(_T.c.id == row.id).values(revoked_at=now))
        info = _info(row)
        info = ClientInfo(info.id, info.name, info.role, info.key_id, info.created_at, now, info.rotated_from)
        if audit is not None:
            audit(conn, "revoke", info, None)
    _cache(app).drop(row.key_id)
    return info


def rotate_client(app: Flask | Database | None, name: str, *,
                  audit: AuditHook | None = None) -> tuple[ClientInfo, str]:
    """A new key for the client (same name and role); the old key is revoked in the same transaction."""
    app = _app(app)
    now = utcnow()
    with _db(app).write_transaction() as conn:
        row = _active_row(conn, name)
        conn.execute(update(_T).where(_T.c.id == row.id).values(revoked_at=now))
        info, key = _insert(conn, row.name, row.role, row.id)
        if audit is not None:
            old = _info(row)
            audit(conn, "rotate", info,
                  ClientInfo(old.id, old.name, old.role, old.key_id, old.created_at, now, old.rotated_from))
    _cache(app).drop(row.key_id)
    return info, key


def authenticate(app: Flask | Database | None, presented_key: str | None) -> ClientInfo | None:
    """The active client whose key this is, or None (malformed, unknown, revoked or wrong secret)."""
    parsed = parse_key(presented_key)
    if parsed is None:
        return None
    app = _app(app)
    key_id = parsed[0]
    presented_hash = hash_key(presented_key.strip())
    cache = _cache(app)
    hit = cache.get(key_id)
    if hit is not None:
        stored_hash, info = hit
        return info if hmac.compare_digest(stored_hash, presented_hash) else None
    with _db(app).read() as conn:
        row = conn.execute(select(_T).where(_T.c.key_id == key_id)).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, presented_hash):
        return None
    info = _info(row)
    ttl = 0.0 if isinstance(app, Database) else float(app.config.get("PGX_AUTH_CACHE_TTL_S", 5))
    cache.put(key_id, row.key_hash, info, ttl)
    return info


def admin_exists(app: Flask | Database | None = None) -> bool:
    app = _app(app)
    with _db(app).read() as conn:
        row = conn.execute(
            select(_T.c.id).where(_T.c.role == "admin", _T.c.revoked_at.is_(None)).limit(1)
        ).first()
    return row is not None
