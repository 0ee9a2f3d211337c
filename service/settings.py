"""Settings, read from the environment only (12-factor): nothing secret lives in the image or repo."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE_PATH = REPO_ROOT / "var" / "pgx.sqlite3"


def _env(name: str, default: str | None = None) -> str | None:
    """A setting from NAME, or from the file named by NAME_FILE (docker/k8s secrets)."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        return Path(file_path).read_text().strip()
    return os.environ.get(name, default)


def default_public_base_url() -> str:
    """The service's URL as its first bind address names it (PGX_BIND, as `pgx serve` sets it),
    when the serving socket's own address is not known; behind a proxy or TLS terminator set
    PGX_PUBLIC_BASE_URL to the URL clients call."""
    first = (os.environ.get("PGX_BIND") or "127.0.0.1:8000").split(",")[0].strip()
    if first.startswith(("unix:", "fd://")) or ":" not in first:
        first = "127.0.0.1:8000"
    host, _, port = first.rpartition(":")
    if host in ("0.0.0.0", ""):  # noqa: S104  # nosec B104 - reading a bind address, not binding
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def default_database_url() -> str:
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


@dataclass
class Settings:
    database_url: str = field(default_factory=lambda: _env("DATABASE_URL") or default_database_url())
    # Seconds a writer waits for the audit lock / SQLite busy lock before the request fails closed (503).
    lock_timeout_s: float = field(default_factory=lambda: float(_env("PGX_LOCK_TIMEOUT_S", "5")))
    # How often a worker checks whether another release was activated (seconds).
    release_poll_s: float = field(default_factory=lambda: float(_env("PGX_RELEASE_POLL_S", "2")))
    max_content_length: int = field(
        default_factory=lambda: int(_env("PGX_MAX_BODY_BYTES", str(8 * 1024 * 1024)))
    )
    # POST /v1/vcf/interpretations: bytes read, and bytes inflated from gzip, per request (413 past it).
    vcf_max_bytes: int = field(default_factory=lambda: int(_env("PGX_VCF_MAX_BYTES", str(4 * 1024 ** 3))))
    batch_max_items: int = field(default_factory=lambda: int(_env("PGX_BATCH_MAX_ITEMS", "5000")))
    # Keyed pseudonymization of patient references (HMAC-SHA256).
    patient_ref_key: str | None = field(default_factory=lambda: _env("PGX_PATIENT_REF_KEY"))
    # Ed25519 private key (PEM) that signs audit checkpoints; kept outside the database.
    audit_signing_key_file: str | None = field(default_factory=lambda: _env("PGX_AUDIT_SIGNING_KEY_FILE"))
    ratelimit_storage_uri: str = field(
        default_factory=lambda: _env("PGX_RATELIMIT_STORAGE_URI", "memory://") or "memory://"
    )
    ratelimit_default: str = field(default_factory=lambda: _env("PGX_RATELIMIT", "600/minute") or "600/minute")
    # Seconds a worker trusts a positive API key lookup; a revoke elsewhere takes effect within this.
    auth_cache_ttl_s: float = field(default_factory=lambda: float(_env("PGX_AUTH_CACHE_TTL_S", "5") or "5"))
    reference_tables_dir: str = field(
        default_factory=lambda: _env("PGX_REFERENCE_TABLES", str(REPO_ROOT / "reference_tables"))
        or str(REPO_ROOT / "reference_tables")
    )
    # CDS Hooks: the public base URL the JWTs' `aud` must name (+ the path called), the clock
    # leeway and the longest token lifetime accepted, the timeout of a fetch from the EHR's FHIR server.
    # None: the address the connection reached (gunicorn's listening socket), else PGX_BIND's.
    public_base_url: str | None = field(default_factory=lambda: (_env("PGX_PUBLIC_BASE_URL") or "").rstrip("/") or None)
    cds_jwt_leeway_s: float = field(default_factory=lambda: float(_env("PGX_CDS_JWT_LEEWAY_S", "30") or "30"))
    cds_jwt_max_lifetime_s: float = field(
        default_factory=lambda: float(_env("PGX_CDS_JWT_MAX_LIFETIME_S", "3600") or "3600")
    )
    cds_fhir_timeout_s: float = field(default_factory=lambda: float(_env("PGX_CDS_FHIR_TIMEOUT_S", "3") or "3"))
    instance_dir: str = field(default_factory=lambda: _env("PGX_INSTANCE_DIR", str(REPO_ROOT / "var")) or "var")
    # Proxies in front that set X-Forwarded-For/-Proto/-Host/-Port (a TLS-terminating proxy: 1).
    # 0 (the default): those headers are ignored, so no caller can forge its address.
    proxy_hops: int = field(default_factory=lambda: int(_env("PGX_PROXY_HOPS", "0") or "0"))
