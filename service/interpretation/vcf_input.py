"""A VCF request body as a bounded stream of text lines, and its digest for the audit record.

Plain or gzip/bgzip (several gzip members one after the other). Inflated bytes are counted
against the endpoint's own limit, so a small gzip that inflates without end (a compression
bomb) is cut off there; a gzip that stops mid-member is refused as truncated.
"""

from __future__ import annotations

import codecs
import hashlib
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from service.pgx.vcf.reader import VcfProblem

CHUNK = 1 << 16


class TooLarge(VcfProblem):
    def __init__(self, limit: int):
        super().__init__("too_large", f"the VCF inflates past this endpoint's limit of {limit} bytes")
        self.limit = limit


class BodyStream:
    """Iterate text lines of the (possibly gzipped) body; `digest` and sizes once consumed."""

    def __init__(self, raw: BinaryIO, *, gzipped: bool, limit: int):
        self.raw, self.gzipped, self.limit = raw, gzipped, limit
        self.sha = hashlib.sha256()
        self.raw_bytes = 0
        self.text_bytes = 0

    def _chunks(self) -> Iterator[bytes]:
        while True:
            chunk = self.raw.read(CHUNK)
            if not chunk:
                return
            self.raw_bytes += len(chunk)
            self.sha.update(chunk)
            if self.raw_bytes > self.limit:
                raise TooLarge(self.limit)
            yield chunk

    def _inflated(self) -> Iterator[bytes]:
        if not self.gzipped:
            yield from self._chunks()
            return
        d = zlib.decompressobj(wbits=31)
        started = False
        for chunk in self._chunks():
            data = chunk
            while data:
                if not started and data[:2] != b"\x1f\x8b":
                    raise VcfProblem("not_gzip", "the body was sent as application/gzip but is not gzip data")
                started = True
                try:
                    # bounded output per call: a bomb never materializes past the limit
                    out = d.decompress(data, CHUNK)
                except zlib.error as exc:
                    raise VcfProblem("bad_gzip", f"the gzip data is corrupt ({exc})") from None
                data = d.unconsumed_tail
                if out:
                    self._count(len(out))
                    yield out
                if d.eof:  # bgzip: the next member follows
                    data = d.unused_data + data
                    d = zlib.decompressobj(wbits=31)
                    started = False
                    if not data:
                        break
            # drain what zlib holds back for this chunk
            while not d.eof and started:
                out = d.decompress(b"", CHUNK)
                if not out:
                    break
                self._count(len(out))
                yield out
        if started and not d.eof:
            raise VcfProblem("truncated_gzip", "the gzip data ends in the middle of a member (truncated file)")
        if not started and self.raw_bytes == 0:
            raise VcfProblem("not_vcf", "the body is empty")

    def _count(self, n: int) -> None:
        self.text_bytes += n
        if self.text_bytes > self.limit:
            raise TooLarge(self.limit)

    def lines(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")()
        tail = ""
        try:
            for block in self._inflated():
                text = tail + decoder.decode(block)
                parts = text.split("\n")
                tail = parts.pop()
                yield from parts
            tail += decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise VcfProblem("not_vcf", "the body is not UTF-8 text") from None
        if tail:
            yield tail

    def summary(self) -> dict:
        return {"sha256": self.sha.hexdigest(), "bytes": self.raw_bytes, "inflated_bytes": self.text_bytes,
                "gzip": self.gzipped}
