"""Offline verification of an NDJSON audit export: no database, no service, no network.

Needs only the standard library, `cryptography` and canonical.py (copy both files to an
auditor's machine and run `python verify.py EXPORT --public-key KEY.pem`).

What is checked, line by line (1-based line numbers in findings):
- every record line is exactly its canonical form (canonical.py) with `entry_hash` appended,
  and carries exactly the record fields of format v1;
- entry_hash = SHA-256(canonical body), i.e. the record was not edited;
- seq strictly increases; where two records are consecutive in seq, the later one's prev_hash is
  the earlier one's entry_hash (the chain); seq 1's prev_hash is the genesis hash;
- the last line is the checkpoint line (nothing after it; a missing one means the file was
  truncated), in canonical form, with valid Ed25519 signatures by the given public key over the
  checkpoint (origin, size, head hash, time) and over the export statement (range, count,
  filters, records digest);
- the export statement matches the records: count, records digest (pins which records the export
  holds and in what order: an inserted, deleted or reordered record is caught even in a filtered
  export), all seqs within [first_seq, last_seq];
- a contiguous export (no actor/patient/gene/drug filter) must have no gap in seq, start at
  first_seq, end at last_seq = checkpoint size, and its last entry_hash must be the signed head;
- given an auditor's earlier checkpoint (size p, hash h): it is signed by the same key, the new
  checkpoint is not smaller, and the new export extends it: the record at seq p has entry_hash h,
  or the export starts at p + 1 with prev_hash h, or the new checkpoint is the same (p, h).

Filtered exports: every record is checked on its own (hash, canonical form) and as a member of
the signed set (digest), and chain links are checked between records that happen to be
consecutive. What a filtered export cannot prove is completeness (that no other matching record
exists in the log): for that, verify a contiguous export of the range and filter it locally.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

try:
    from service.audit.canonical import (
        ENTRY_HASH_SUFFIX_LEN,
        FORMAT_VERSION,
        GENESIS_HASH,
        RECORD_KEYS,
        JSONDecodeError,
        canonical_bytes,
        checkpoint_message,
        loads,
    )
except ImportError:  # pragma: no cover - standalone copy on an auditor's machine
    from canonical import (  # type: ignore[no-redef]
        ENTRY_HASH_SUFFIX_LEN,
        FORMAT_VERSION,
        GENESIS_HASH,
        RECORD_KEYS,
        JSONDecodeError,
        canonical_bytes,
        checkpoint_message,
        loads,
    )

_RECORD_KEYSET = frozenset(RECORD_KEYS)
CHECKPOINT_KEYS = frozenset({"origin", "size", "head_hash", "time", "key_id", "signature"})
EXPORT_KEYS = frozenset(
    {
        "origin",
        "checkpoint_size",
        "checkpoint_hash",
        "first_seq",
        "last_seq",
        "count",
        "contiguous",
        "filters",
        "records_digest",
        "time",
        "key_id",
        "signature",
    }
)
_HEX = frozenset("0123456789abcdef")


def _is_hash(value) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class Finding:
    line: int | None
    seq: int | None
    problem: str

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.seq is not None:
            where.append(f"seq {self.seq}")
        return (", ".join(where) + ": " if where else "") + self.problem


@dataclass
class VerifyReport:
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    contiguous: bool | None = None
    checkpoint: dict | None = None
    errors: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if self.ok:
            cp = self.checkpoint or {}
            kind = "contiguous" if self.contiguous else "filtered"
            return (
                f"VALID: {self.records} records ({kind} export, seq {self.first_seq}..{self.last_seq}), "
                f"checkpoint size {cp.get('size')} head {cp.get('head_hash')} signed by {cp.get('key_id')}"
            )
        return f"INVALID: {self.errors[0]}" + (
            f" (and {len(self.errors) - 1} more finding(s))" if len(self.errors) > 1 else ""
        )


def public_key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_key(source: str | bytes | Path | Ed25519PublicKey) -> Ed25519PublicKey:
    if isinstance(source, Ed25519PublicKey):
        return source
    if isinstance(source, Path) or (isinstance(source, str) and "BEGIN" not in source):
        source = Path(source).read_bytes()
    data = source.encode("ascii") if isinstance(source, str) else source
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def _checkpoint_well_formed(cp) -> bool:
    return (
        isinstance(cp, dict)
        and set(cp) == CHECKPOINT_KEYS
        and all(isinstance(cp[k], str) for k in ("origin", "time", "key_id", "signature"))
        and _is_int(cp["size"])
        and cp["size"] >= 0
        and _is_hash(cp["head_hash"])
    )


def _export_well_formed(ex) -> bool:
    return (
        isinstance(ex, dict)
        and set(ex) == EXPORT_KEYS
        and all(isinstance(ex[k], str) for k in ("origin", "time", "key_id", "signature"))
        and all(_is_int(ex[k]) for k in ("checkpoint_size", "first_seq", "last_seq", "count"))
        and isinstance(ex["contiguous"], bool)
        and isinstance(ex["filters"], dict)
        and _is_hash(ex["records_digest"])
        and _is_hash(ex["checkpoint_hash"])
    )


def _canonical_or_none(value) -> bytes | None:
    try:
        return canonical_bytes(value)
    except (TypeError, ValueError, OverflowError):  # e.g. an integer beyond 64 bits
        return None


def _signature_ok(public_key: Ed25519PublicKey, statement: dict) -> bool:
    unsigned = {k: v for k, v in statement.items() if k != "signature"}
    try:
        public_key.verify(base64.b64decode(statement["signature"], validate=True), checkpoint_message(unsigned))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _raw_lines(source) -> Iterator[bytes]:
    """Each line as bytes, with its newline when it has one."""
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and not source.startswith("{")):
        with open(source, "rb", buffering=1 << 20) as fh:
            yield from fh
        return
    if isinstance(source, bytes | bytearray):
        yield from bytes(source).splitlines(keepends=True)
        return
    if isinstance(source, str):
        yield from source.encode("utf-8").splitlines(keepends=True)
        return
    for item in source:  # an iterable of lines (str or bytes), newline optional
        raw = item.encode("utf-8") if isinstance(item, str) else item
        yield raw if raw.endswith(b"\n") else raw + b"\n"


def load_checkpoint(source) -> dict:
    """An auditor's earlier checkpoint: a JSON object with the checkpoint fields, a file holding
    one, or an export file / checkpoint line (its `checkpoint` object)."""
    if isinstance(source, dict):
        obj = source
    else:
        text = Path(source).read_text(encoding="utf-8").strip()
        last = text.splitlines()[-1] if text else ""
        try:
            obj = json.loads(last)
        except ValueError:
            obj = json.loads(text)
    if isinstance(obj, dict) and isinstance(obj.get("checkpoint"), dict):
        obj = obj["checkpoint"]
    if not _checkpoint_well_formed(obj):
        raise ValueError("not a checkpoint (expected origin, size, head_hash, time, key_id, signature)")
    return obj


def verify_export(
    source,
    *,
    public_key,
    previous_checkpoint=None,
    max_errors: int = 20,
    jobs: int | None = None,
) -> VerifyReport:
    """Verify an NDJSON export offline. `source`: a path, the whole text/bytes, or an iterable of lines.

    A file of 32 MiB or more is scanned by `jobs` processes (default: up to 4 CPUs), each over a
    line-aligned byte range; the ranges are then stitched (links across them, order, digest).
    """
    report = VerifyReport()
    errors = report.errors

    def fail(line, seq, problem):
        if len(errors) < max_errors:
            errors.append(Finding(line, seq, problem))

    try:
        pub = load_public_key(public_key) if public_key is not None else None
    except (ValueError, OSError) as exc:
        fail(None, None, f"the public key cannot be read ({exc})")
        return report
    if pub is None:
        fail(None, None, "no public key given: the checkpoint signature cannot be checked")
        return report
    prev_cp = None
    if previous_checkpoint is not None:
        try:
            prev_cp = load_checkpoint(previous_checkpoint)
        except (ValueError, OSError) as exc:
            fail(None, None, f"the previous checkpoint cannot be read ({exc})")
            return report
        if not _signature_ok(pub, prev_cp):
            fail(None, None, "the previous checkpoint's signature is not valid for this public key")

    prev_size = prev_cp["size"] if prev_cp is not None else -1
    prev_head = prev_cp["head_hash"] if prev_cp is not None else None
    chunks = _scan_all(source, prev_size, prev_head, max_errors, jobs)

    # Stitch the chunks (one unless a large file is verified with several processes).
    digest = hashlib.sha256()
    offset = 0
    records = 0
    prev_seq = 0
    prev_entry: str | None = None
    first_prev_hash: str | None = None
    gaps: list[tuple[int, int, int]] = []
    prev_found: bool | None = None
    final: dict | None = None
    final_line = 0
    lineno = 0
    last_newline = True
    for chunk in chunks:
        if chunk.lines == 0:
            continue
        if final is not None:
            fail(offset + 1, None, "content after the checkpoint line (appended or reordered lines)")
        for line, seq, problem in chunk.findings:
            fail(offset + line, seq, problem)
        if chunk.records:
            if records == 0:
                report.first_seq = chunk.first_seq
                first_prev_hash = chunk.first_prev_hash
            else:  # the link between the last record of the previous chunk and this chunk's first
                line, seq = offset + chunk.first_line, chunk.first_seq
                if seq == prev_seq + 1:
                    if chunk.first_prev_hash != prev_entry:
                        fail(line, seq, f"prev_hash does not link to seq {prev_seq} (chain broken: inserted, replaced or reordered record)")
                elif seq <= prev_seq:
                    fail(line, seq, f"seq does not increase after seq {prev_seq} (reordered or inserted record)")
                elif len(gaps) < 1000:
                    gaps.append((line, seq, prev_seq + 1))
            gaps.extend((offset + line, seq, expected) for line, seq, expected in chunk.gaps[: max(0, 1000 - len(gaps))])
            records += chunk.records
            prev_seq, prev_entry = chunk.last_seq, chunk.last_entry
        if chunk.prev_found is not None:
            prev_found = chunk.prev_found
        if chunk.digest_lines is not None:
            digest.update(chunk.digest_lines)
        else:
            digest = chunk.digest
        if chunk.final is not None and final is None:
            final, final_line = chunk.final, offset + chunk.final_line
        lineno = offset + chunk.lines
        last_newline = chunk.last_newline
        offset += chunk.lines
    report.records = records
    report.last_seq = prev_seq if records else None

    if lineno and not last_newline:
        fail(lineno, None, "the file does not end with a newline (truncated)")
    if final is None:
        fail(lineno or None, None, "no checkpoint line at the end (export truncated)")
        return report
    _check_final(report, final, final_line, pub, digest.hexdigest(), gaps, prev_entry, first_prev_hash, fail)
    if prev_cp is not None and report.checkpoint is not None:
        _check_extends(report, prev_cp, prev_found, first_prev_hash, fail)
    return report


@dataclass
class _Chunk:
    """What one scan of consecutive lines found (line numbers relative to the chunk, from 1)."""

    lines: int = 0
    records: int = 0
    first_seq: int | None = None
    first_prev_hash: str | None = None
    first_line: int = 0
    last_seq: int = 0
    last_entry: str | None = None
    gaps: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    prev_found: bool | None = None
    final: dict | None = None
    final_line: int = 0
    last_newline: bool = True
    digest: object = None  # running SHA-256 (single chunk)
    digest_lines: bytes | None = None  # or the "<seq>:<hash>\n" lines (one of several chunks)


def _scan(lines, prev_size: int, prev_head: str | None, max_errors: int, keep_digest_lines: bool) -> _Chunk:
    """Check every line on its own and each record's link to the previous one in this chunk."""
    out = _Chunk()
    findings = out.findings

    def fail(line, seq, problem):
        if len(findings) < max_errors:
            findings.append((line, seq, problem))

    parts: list[bytes] = []
    if keep_digest_lines:
        digest_update = parts.append
    else:
        out.digest = hashlib.sha256()
        digest_update = out.digest.update
    prev_seq = 0
    prev_entry: str | None = None
    gaps = out.gaps
    final: dict | None = None
    last_newline = True
    lineno = 0
    records = 0
    suffix_len = ENTRY_HASH_SUFFIX_LEN
    suffix_head = b',"entry_hash":"'
    keyset = _RECORD_KEYSET
    version = FORMAT_VERSION
    dumps = canonical_bytes
    for raw in lines:
        lineno += 1
        if raw[-1:] == b"\n":
            raw = raw[:-1]
            last_newline = True
        else:
            last_newline = False
        if final is not None:
            fail(lineno, None, "content after the checkpoint line (appended or reordered lines)")
            continue
        try:
            obj = loads(raw)
        except (JSONDecodeError, ValueError):
            fail(lineno, None, "not valid JSON or not UTF-8 (edited, corrupted or truncated line)")
            continue
        if type(obj) is not dict:
            fail(lineno, None, "not a JSON object")
            continue
        seq = obj.get("seq")
        if seq is None and "checkpoint" in obj:
            final, out.final, out.final_line = obj, obj, lineno
            if _canonical_or_none(obj) != raw:
                fail(lineno, None, "the checkpoint line is not in canonical form (edited)")
            continue
        # -- a record: exactly canonical(body) with entry_hash spliced in before the final brace;
        # entry_hash = SHA-256 of the body's bytes --
        entry = obj.pop("entry_hash", None)
        if type(seq) is not int or type(entry) is not str or len(entry) != 64:
            fail(lineno, seq if type(seq) is int else None, "not an audit record (seq or entry_hash missing or malformed)")
            continue
        if obj.keys() != keyset or obj.get("v") != version:
            fail(lineno, seq, "unexpected or missing record fields (edited)")
        body = raw[:-suffix_len] + b"}"
        try:
            expected = dumps(obj)
        except (TypeError, ValueError, OverflowError):
            expected = None
        tail = raw[-suffix_len:]
        if expected != body or tail[:15] != suffix_head or tail[-2:] != b'"}' or tail[15:79] != entry.encode("utf-8"):
            fail(lineno, seq, "the record is not in canonical form (edited)")
        if sha256(body).hexdigest() != entry:
            fail(lineno, seq, "entry_hash does not match the record's content (edited record)")
        prev_hash = obj.get("prev_hash")
        if records == 0:
            out.first_seq, out.first_prev_hash, out.first_line = seq, prev_hash, lineno
            if seq == 1 and prev_hash != GENESIS_HASH:
                fail(lineno, seq, "the first record's prev_hash is not the genesis hash")
        elif seq == prev_seq + 1:
            if prev_hash != prev_entry:
                fail(lineno, seq, f"prev_hash does not link to seq {prev_seq} (chain broken: inserted, replaced or reordered record)")
        elif seq <= prev_seq:
            fail(lineno, seq, f"seq does not increase after seq {prev_seq} (reordered or inserted record)")
        elif len(gaps) < 1000:
            gaps.append((lineno, seq, prev_seq + 1))
        if seq == prev_size:
            out.prev_found = entry == prev_head
            if not out.prev_found:
                fail(lineno, seq, "entry_hash differs from the earlier checkpoint at this seq (history rewritten)")
        digest_update(b"%d:%s\n" % (seq, entry.encode("utf-8")))
        records += 1
        prev_seq, prev_entry = seq, entry
    out.lines, out.records, out.last_seq, out.last_entry, out.last_newline = lineno, records, prev_seq, prev_entry, last_newline
    if keep_digest_lines:
        out.digest_lines = b"".join(parts)
    return out


PARALLEL_MIN_BYTES = 32 << 20


def _scan_range(path: str, start: int, end: int, prev_size: int, prev_head: str | None, max_errors: int) -> _Chunk:
    def lines():
        with open(path, "rb", buffering=1 << 20) as fh:
            fh.seek(start)
            pos = start
            while pos < end:
                raw = fh.readline()
                if not raw:
                    return
                pos += len(raw)
                yield raw

    return _scan(lines(), prev_size, prev_head, max_errors, keep_digest_lines=True)


def _scan_all(source, prev_size: int, prev_head: str | None, max_errors: int, jobs: int | None) -> list[_Chunk]:
    """One chunk, or for a large file and jobs > 1, line-aligned byte ranges scanned in parallel."""
    is_path = isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and not source.startswith("{"))
    if jobs is None:
        jobs = min(4, os.cpu_count() or 1)
    if is_path and jobs > 1:
        size = os.path.getsize(source)
        if size >= PARALLEL_MIN_BYTES:
            bounds = [0]
            with open(source, "rb") as fh:
                for k in range(1, jobs):
                    fh.seek(max(bounds[-1], size * k // jobs))
                    if fh.tell() > 0:
                        fh.readline()  # to the start of the next line
                    bounds.append(min(size, fh.tell()))
            bounds.append(size)
            ranges = [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
            if len(ranges) <= 1:
                return [_scan(_raw_lines(source), prev_size, prev_head, max_errors, keep_digest_lines=False)]
            with ProcessPoolExecutor(max_workers=len(ranges)) as pool:
                futures = [pool.submit(_scan_range, str(source), a, b, prev_size, prev_head, max_errors) for a, b in ranges]
                return [f.result() for f in futures]
    return [_scan(_raw_lines(source), prev_size, prev_head, max_errors, keep_digest_lines=False)]


def _check_final(report, final, line, pub, digest, gaps, last_entry, first_prev_hash, fail) -> None:
    cp, ex = final.get("checkpoint"), final.get("export")
    if set(final) != {"checkpoint", "export"} or not isinstance(cp, dict) or not isinstance(ex, dict):
        fail(line, None, "the checkpoint line does not hold exactly `checkpoint` and `export`")
        return
    if not _checkpoint_well_formed(cp):
        fail(line, None, "the checkpoint is malformed")
        return
    if not _export_well_formed(ex):
        fail(line, None, "the export statement is malformed")
        return
    report.checkpoint = cp
    report.contiguous = ex.get("contiguous") is True
    kid = public_key_id(pub)
    if cp["key_id"] != kid or ex["key_id"] != kid:
        fail(line, None, f"signed by key {cp['key_id']}, not by the given public key ({kid})")
    if not _signature_ok(pub, cp):
        fail(line, None, "the checkpoint signature is not valid (checkpoint edited or forged)")
    if not _signature_ok(pub, ex):
        fail(line, None, "the export statement's signature is not valid (statement edited or forged)")
    if ex["checkpoint_size"] != cp["size"] or ex["checkpoint_hash"] != cp["head_hash"] or ex["origin"] != cp["origin"]:
        fail(line, None, "the export statement does not match the checkpoint")
    if ex["count"] != report.records:
        fail(line, None, f"the export holds {report.records} records but was signed with {ex['count']} (records deleted or inserted)")
    if ex["records_digest"] != digest:
        fail(line, None, "the records differ from the signed set (a record was inserted, deleted, replaced or reordered)")
    first, last = ex["first_seq"], ex["last_seq"]
    if report.records and (report.first_seq < first or report.last_seq > last):
        fail(line, None, f"records outside the signed range {first}..{last}")
    if report.contiguous:
        for gap_line, seq, expected in gaps[:5]:
            fail(gap_line, seq, f"expected seq {expected}: records missing (deleted)")
        if last != cp["size"]:
            fail(line, None, f"a contiguous export must end at the checkpoint (last_seq {last}, size {cp['size']})")
        expected_count = max(0, last - first + 1)
        if report.records != expected_count:
            fail(line, None, f"a contiguous export of seq {first}..{last} must hold {expected_count} records, it holds {report.records}")
        if report.records:
            if report.first_seq != first:
                fail(1, report.first_seq, f"the export must start at seq {first} (leading records deleted)")
            if report.last_seq != last:
                fail(line, report.last_seq, f"the export must end at seq {last} (trailing records deleted)")
            if last == cp["size"] and last_entry != cp["head_hash"]:
                fail(line, report.last_seq, "the last record is not the signed head (truncated or rewritten)")
            if report.first_seq == 1 and first_prev_hash != GENESIS_HASH:
                fail(1, 1, "the chain does not start at the genesis hash")
        if first > 1 and report.records:
            report.notes.append(
                f"the export starts at seq {first}: its link to seq {first - 1} is checked only against an earlier checkpoint"
            )
    else:
        report.notes.append(
            "filtered export: records, their order and the signed set are verified; completeness "
            "(no other matching record) needs a contiguous export"
        )


def _check_extends(report, prev_cp, prev_found, first_prev_hash, fail) -> None:
    cp = report.checkpoint
    p, h = prev_cp["size"], prev_cp["head_hash"]
    if prev_cp["origin"] != cp["origin"]:
        fail(None, None, f"the earlier checkpoint is of another log ({prev_cp['origin']!r})")
        return
    if cp["size"] < p:
        fail(None, None, f"the log shrank: checkpoint size {cp['size']} < earlier checkpoint size {p} (truncated or rolled back)")
        return
    if cp["size"] == p:
        if cp["head_hash"] != h:
            fail(None, None, f"two different heads signed for size {p} (history rewritten)")
        return
    if not report.contiguous:
        fail(None, None, "a filtered export cannot show that the log extends the earlier checkpoint; verify a contiguous export")
        return
    if prev_found is not None:
        return  # the record at seq p was in the export: checked (and reported) at its line
    if p == 0 and report.first_seq == 1:
        return
    if report.records and report.first_seq == p + 1:
        if first_prev_hash != h:
            fail(1, p + 1, f"prev_hash does not link to the earlier checkpoint's head at seq {p} (history rewritten)")
        return
    fail(None, None, f"this export does not contain seq {p} or {p + 1}: it cannot show that it extends the earlier checkpoint")


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - thin CLI for auditors
    import argparse

    parser = argparse.ArgumentParser(description="Verify a PGx audit NDJSON export offline.")
    parser.add_argument("export")
    parser.add_argument("--public-key", required=True)
    parser.add_argument("--previous-checkpoint")
    parser.add_argument("--jobs", type=int)
    args = parser.parse_args(argv)
    report = verify_export(
        args.export, public_key=args.public_key, previous_checkpoint=args.previous_checkpoint, jobs=args.jobs
    )
    print(report.summary())
    for finding in report.errors[1:]:
        print(f"  {finding}")
    for note in report.notes:
        print(f"  note: {note}")
    return 0 if report.ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
