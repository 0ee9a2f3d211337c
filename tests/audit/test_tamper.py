"""Property: ANY single mutation of an NDJSON export is rejected; the untouched export is accepted.

Mutations are those an editor of the file could make: edit a field (keeping the line canonical,
with and without recomputing that record's entry_hash), rewrite a record and re-chain everything
after it, insert (duplicate or forged) lines, delete, reorder, truncate, flip one byte, and edit
the checkpoint line.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.audit.canonical import canonical_bytes_stdlib, record_line
from service.audit.verify import verify_export

from .helpers import append, event, export_text, public_key

N_RECORDS = 12


def canonical_text(value) -> str:
    # The adversary's serializer: the stdlib one (accepts anything JSON can hold, e.g. huge ints).
    return canonical_bytes_stdlib(value).decode("utf-8")


def entry_hash_of(body: dict) -> str:
    return hashlib.sha256(canonical_bytes_stdlib(body)).hexdigest()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from service import create_app
    from service.cli.db import upgrade

    tmp = tmp_path_factory.mktemp("tamper")
    url = f"sqlite:///{tmp / 'audit.sqlite3'}"
    upgrade(url)
    app = create_app({"PGX_DATABASE_URL": url, "PGX_INSTANCE_DIR": str(tmp / "var"), "PGX_PATIENT_REF_KEY": "k"})
    append(app, [event(i, input={"gene": "CYP2D6", "note": "é ✓ \"q\""}) for i in range(N_RECORDS)])
    data = export_text(app).encode("utf-8")
    key = public_key(app)
    app.extensions["pgx.db"].dispose()
    return data, key


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def _rec_line(obj: dict, rehash: bool) -> bytes:
    entry = obj.pop("entry_hash")
    if rehash:
        entry = entry_hash_of(obj)
    return (record_line(canonical_text(obj), entry) + "\n").encode("utf-8")


VALUES = st.one_of(st.none(), st.integers(-5, 10**6), st.text(max_size=8), st.booleans(), st.lists(st.integers(), max_size=2))


@st.composite
def mutations(draw, data: bytes):
    lines = _lines(data)
    records = lines[:-1]
    kind = draw(
        st.sampled_from(
            ["edit", "edit_rehash", "rechain_suffix", "insert_dup", "insert_forged", "delete", "swap", "truncate", "flip", "edit_checkpoint"]
        )
    )
    if kind in ("edit", "edit_rehash"):
        i = draw(st.integers(0, len(records) - 1))
        obj = json.loads(records[i])
        field = draw(st.sampled_from(sorted(obj)))
        value = draw(VALUES.filter(lambda v, old=obj[field]: v != old or type(v) is not type(old)))
        obj[field] = value
        if field == "entry_hash" and kind == "edit_rehash":
            kind = "edit"
        lines[i] = _rec_line(obj, rehash=(kind == "edit_rehash" and field != "entry_hash"))
    elif kind == "rechain_suffix":
        # Rewrite one record and recompute every hash after it: only the signed checkpoint catches this.
        i = draw(st.integers(0, len(records) - 1))
        prev = json.loads(records[i - 1])["entry_hash"] if i else None
        for j in range(i, len(records)):
            obj = json.loads(records[j])
            obj.pop("entry_hash")
            if j == i:
                obj["outcome"] = 403 if obj["outcome"] != 403 else 200
            if prev is not None:
                obj["prev_hash"] = prev
            prev = entry_hash_of(obj)
            lines[j] = (record_line(canonical_text(obj), prev) + "\n").encode()
    elif kind == "insert_dup":
        src = draw(st.integers(0, len(lines) - 1))
        at = draw(st.integers(0, len(lines)))
        lines.insert(at, lines[src])
    elif kind == "insert_forged":
        # A well-formed record appended after the last one, hashed and linked correctly.
        last = json.loads(records[-1])
        obj = dict(last)
        obj["prev_hash"] = obj.pop("entry_hash")
        obj["seq"] = last["seq"] + 1
        obj["audit_id"] = "forged"
        obj["entry_hash"] = entry_hash_of(obj)
        at = draw(st.sampled_from([len(records), len(lines)]))
        lines.insert(at, _rec_line(obj, rehash=False))
    elif kind == "delete":
        del lines[draw(st.integers(0, len(lines) - 1))]
    elif kind == "swap":
        i = draw(st.integers(0, len(lines) - 2))
        j = draw(st.integers(i + 1, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "truncate":
        return kind, data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "flip":
        pos = draw(st.integers(0, len(data) - 1))
        new = draw(st.integers(0, 255).filter(lambda b: b != data[pos]))
        return kind, data[:pos] + bytes([new]) + data[pos + 1 :]
    elif kind == "edit_checkpoint":
        obj = json.loads(lines[-1])
        part = draw(st.sampled_from(["checkpoint", "export"]))
        field = draw(st.sampled_from(sorted(obj[part])))
        old = obj[part][field]
        obj[part][field] = draw(VALUES.filter(lambda v: v != old or type(v) is not type(old)))
        lines[-1] = (canonical_text(obj) + "\n").encode()
    return kind, b"".join(lines)


def test_untouched_export_is_accepted(exported):
    data, key = exported
    report = verify_export(data, public_key=key)
    assert report.ok, report.errors
    assert report.records == N_RECORDS


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_mutation_is_rejected(exported, data):
    original, key = exported
    kind, mutated = data.draw(mutations(original))
    if mutated == original:  # e.g. a swap of two identical lines cannot happen, but stay honest
        return
    report = verify_export(mutated, public_key=key)
    assert not report.ok, f"{kind} mutation accepted"
    assert str(report.errors[0])  # says what and where


def test_findings_name_the_record(exported):
    data, key = exported
    lines = _lines(data)
    obj = json.loads(lines[4])
    obj["outcome"] = 500
    lines[4] = _rec_line(obj, rehash=False)
    report = verify_export(b"".join(lines), public_key=key)
    assert str(report.errors[0]).startswith("line 5, seq 5: entry_hash does not match")
    lines = _lines(data)
    del lines[6]
    report = verify_export(b"".join(lines), public_key=key)
    assert any("seq 8" in str(f) and "expected seq 7" in str(f) for f in report.errors), report.errors
    report = verify_export(b"".join(_lines(data)[:-1]), public_key=key)
    assert "truncated" in str(report.errors[0])


def test_wrong_public_key_is_rejected(exported):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    data, _key = exported
    report = verify_export(data, public_key=Ed25519PrivateKey.generate().public_key())
    assert not report.ok and "public key" in str(report.errors[0])


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text() | st.floats(allow_nan=True),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_canonical_form_is_the_same_with_orjson_and_the_stdlib(value):
    """The writer (orjson when installed) and an auditor's stdlib-only verifier agree byte for byte."""
    from service.audit.canonical import canonical_bytes, normalize

    normalized = normalize(value)
    assert canonical_bytes(normalized) == canonical_bytes_stdlib(normalized)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_parallel_verification_rejects_the_same_mutations(exported, data, tmp_path_factory, monkeypatch):
    """Large files are verified by several processes over byte ranges: force that on a small file
    (3 ranges) and check that mutations, wherever they fall relative to the range boundaries, are
    still rejected and the untouched export accepted."""
    import service.audit.verify as verify_mod

    monkeypatch.setattr(verify_mod, "PARALLEL_MIN_BYTES", 0)
    original, key = exported
    path = tmp_path_factory.mktemp("par") / "export.ndjson"
    path.write_bytes(original)
    assert verify_export(path, public_key=key, jobs=3).ok
    kind, mutated = data.draw(mutations(original))
    if mutated == original:
        return
    path.write_bytes(mutated)
    report = verify_export(path, public_key=key, jobs=3)
    assert not report.ok, f"{kind} mutation accepted by the parallel verifier"
