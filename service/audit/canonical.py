"""The one definition of the audit trail's bytes: used by the writer and by the offline verifier.

Canonical form (format version 1) of a JSON value:
  `json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)`
  encoded as UTF-8. Values are JSON objects, arrays, strings, integers, finite floats, booleans
  and null only (the writer normalizes everything else before hashing, see `normalize`).

A record's body is every field of the record except `entry_hash` (so `prev_hash` is included):
  entry_hash = hex(SHA-256(canonical(body)))
The first record's `prev_hash` is GENESIS_HASH (64 zeros).

An NDJSON export line of a record is the canonical body with `,"entry_hash":"<hex>"` spliced in
before the closing brace (`record_line`), so a verifier recomputes the body's bytes by parsing
the line, dropping `entry_hash` and re-serializing; a line that is not exactly that string is
not canonical and is rejected.

This module imports the standard library only, so it can be copied next to `verify.py` onto an
auditor's machine.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

FORMAT_VERSION = 1
GENESIS_HASH = "0" * 64
ENTRY_HASH_SUFFIX_LEN = len(',"entry_hash":"') + 64 + len('"}')

# Every record body carries exactly these keys (null where not applicable).
RECORD_KEYS = (
    "v",
    "seq",
    "audit_id",
    "recorded",
    "actor",
    "role",
    "action",
    "outcome",
    "purpose",
    "patient_ref",
    "input",
    "result",
    "genes",
    "drugs",
    "release",
    "request_id",
    "source_addr",
    "warnings",
    "prev_hash",
)

_dumps = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def canonical_text(value: Any) -> str:
    """The canonical JSON text of a (normalized) value."""
    return _dumps(value)


def canonical_bytes(value: Any) -> bytes:
    return _dumps(value).encode("utf-8")


def entry_hash_of(body: dict) -> str:
    """entry_hash of a record body (the record without `entry_hash`)."""
    return hashlib.sha256(canonical_bytes(body)).hexdigest()


def record_line(canonical_body: str, entry_hash: str) -> str:
    """The NDJSON export line (without newline) of a record given its canonical body text."""
    return f'{canonical_body[:-1]},"entry_hash":"{entry_hash}"}}'


def normalize(value: Any) -> Any:
    """A JSON-safe copy whose canonical form is well defined.

    Strings lose lone surrogates (replaced by U+FFFD) so they encode as UTF-8; tuples and sets
    become lists (sets sorted); keys become strings; non-finite floats become strings; anything
    else becomes its `str()`.
    """
    if value is None or isinstance(value, bool) or isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {normalize(str(k)): normalize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalize(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((normalize(v) for v in value), key=canonical_text)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return normalize(str(value))


def checkpoint_message(statement: dict) -> bytes:
    """The bytes an Ed25519 checkpoint or export signature covers: a domain tag + canonical JSON."""
    return b"pgx-audit-statement/v1\n" + canonical_bytes(statement)
