"""The one definition of the audit trail's bytes: used by the writer and by the offline verifier.

Canonical form (format version 1) of a value made only of JSON objects, arrays, strings, integers
in [-2**63, 2**64), true, false and null (no floats: the writer turns them into strings, see
`normalize`):
  - RFC 8259 JSON, no insignificant whitespace (separators `,` and `:`);
  - object keys sorted by Unicode code point (= by their UTF-8 bytes);
  - strings escape only `"` and `\\` (as `\\"`, `\\\\`) and U+0000..U+001F (as `\\b \\t \\n \\f \\r`
    or `\\u00xx`, lowercase hex); every other character is written as itself;
  - encoded as UTF-8.
Python's `json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` and
`orjson.dumps(v, option=orjson.OPT_SORT_KEYS)` produce exactly these bytes for such values (a test
checks it); orjson is used when installed because it is ~10x faster.

A record's body is every field of the record except `entry_hash` (so `prev_hash` is included):
  entry_hash = hex(SHA-256(canonical(body)))
The first record's `prev_hash` is GENESIS_HASH (64 zeros).

An NDJSON export line of a record is the canonical body with `,"entry_hash":"<hex>"` spliced in
before the closing brace (`record_line`): a verifier checks that the line is exactly that (the
canonical form), hashes the body bytes, and follows the chain.

Signed statements (checkpoints, export statements) are signed over
  b"pgx-audit-statement/v1\\n" + canonical(statement without `signature`).

This module needs only the standard library (orjson optional), so it can be copied next to
`verify.py` onto an auditor's machine.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

try:  # pragma: no branch
    import orjson
except ImportError:  # pragma: no cover - the stdlib gives the same bytes, slower
    orjson = None

FORMAT_VERSION = 1
GENESIS_HASH = "0" * 64
ENTRY_HASH_SUFFIX_LEN = len(',"entry_hash":"') + 64 + len('"}')
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1

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

_std_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode

if orjson is not None:
    _OPT = orjson.OPT_SORT_KEYS

    def canonical_bytes(value: Any) -> bytes:
        return orjson.dumps(value, option=_OPT)

    def canonical_text(value: Any) -> str:
        return orjson.dumps(value, option=_OPT).decode("utf-8")

    loads = orjson.loads
    JSONDecodeError: type[Exception] = orjson.JSONDecodeError
else:  # pragma: no cover

    def canonical_bytes(value: Any) -> bytes:
        return _std_dumps(value).encode("utf-8")

    def canonical_text(value: Any) -> str:
        return _std_dumps(value)

    loads = json.loads
    JSONDecodeError = ValueError


def canonical_bytes_stdlib(value: Any) -> bytes:
    """The same bytes by the standard library alone (the reference the tests compare against)."""
    return _std_dumps(value).encode("utf-8")


def entry_hash_of(body: dict) -> str:
    """entry_hash of a record body (the record without `entry_hash`)."""
    return hashlib.sha256(canonical_bytes(body)).hexdigest()


def record_line(canonical_body: str, entry_hash: str) -> str:
    """The NDJSON export line (without newline) of a record given its canonical body text."""
    return f'{canonical_body[:-1]},"entry_hash":"{entry_hash}"}}'


def normalize(value: Any) -> Any:
    """A copy made only of what the canonical form allows.

    Strings lose lone surrogates (U+FFFD instead) so they encode as UTF-8; floats become their
    shortest decimal string (`1.5` -> "1.5"; NaN/inf -> "nan"/"inf"); integers outside 64 bits
    become strings; tuples become lists, sets sorted lists; keys become strings; anything else its
    ISO form (dates) or `str()`.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if _INT_MIN <= value <= _INT_MAX else str(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
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
