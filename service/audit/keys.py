"""Keys of the audit trail, all kept outside the database.

- Patient-reference key (`PGX_PATIENT_REF_KEY`): patient references are stored as
  HMAC-SHA256(key, ref) hex. An auditor searches by the real reference: the export filter hashes
  the query value the same way. Development default: a random key generated once into
  `<instance dir>/patient-ref-key` (mode 0600); production must set the variable (or
  `PGX_PATIENT_REF_KEY_FILE`) so every host pseudonymizes alike.
- Checkpoint signing key (`PGX_AUDIT_SIGNING_KEY_FILE`, an Ed25519 private key in PEM):
  development default `<instance dir>/audit-signing-key.pem` (0600), generated once;
  `pgx audit pubkey` prints its public key for auditors.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PATIENT_KEY_FILE = "patient-ref-key"
SIGNING_KEY_FILE = "audit-signing-key.pem"


def _create_once(path: Path, content: bytes) -> None:
    """Write `content` to `path` (0600) unless it exists; safe against concurrent workers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # atomic; fails if another process won the race
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)


def load_patient_key(configured: str | None, instance_dir: str | Path) -> bytes:
    if configured:
        return configured.encode("utf-8")
    path = Path(instance_dir) / PATIENT_KEY_FILE
    if not path.exists():
        _create_once(path, secrets.token_hex(32).encode("ascii"))
    return path.read_bytes().strip()


def pseudonymize(key: bytes, patient_ref: str | None) -> str | None:
    """HMAC-SHA256 hex of a patient reference (surrounding whitespace ignored); None stays None."""
    if patient_ref is None:
        return None
    ref = str(patient_ref).strip()
    if not ref:
        return None
    return hmac.new(key, ref.encode("utf-8"), hashlib.sha256).hexdigest()


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short, stable name of a public key: hex of the first 8 bytes of SHA-256(raw key)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_public_key(pem: bytes | str) -> Ed25519PublicKey:
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


@dataclass(frozen=True)
class Signer:
    private_key: Ed25519PrivateKey
    key_id: str

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private_key.sign(message)).decode("ascii")


def load_signer(configured_file: str | None, instance_dir: str | Path) -> Signer:
    if configured_file:
        path = Path(configured_file)
    else:
        path = Path(instance_dir) / SIGNING_KEY_FILE
        if not path.exists():
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            _create_once(path, pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return Signer(key, key_id(key.public_key()))
