"""Streaming VCF reader: keeps only the lines at allele-defining positions.

A whole-genome file is read line by line; a line is split only when its CHROM and POS are of
interest, so memory stays flat whatever the file size. `chr10` and `10` are read alike.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator

_GRCH37 = re.compile(r"grch37|hg19|b37|hs37|ncbi37|g1k_v37|assembly=37\b", re.IGNORECASE)
# GRCh37 lengths of chromosomes that carry PGx genes; a contig header with one of them is GRCh37.
_GRCH37_LENGTHS = {"1": 249250621, "2": 243199373, "4": 191154276, "6": 171115067, "7": 159138663,
                   "8": 146364022, "10": 135534747, "12": 133851895, "13": 115169878, "16": 90354753,
                   "19": 59128983, "22": 51304566, "X": 155270560}
_CONTIG = re.compile(r"^##contig=<(.*)>$")


class VcfProblem(ValueError):
    """Input that cannot be read as a GRCh38 VCF; `code` names the fault."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclasses.dataclass(frozen=True)
class Record:
    chrom: str
    pos: int
    ref: str
    alts: tuple[str, ...]
    format: tuple[str, ...]
    samples: tuple[str, ...]


@dataclasses.dataclass
class VcfData:
    samples: list[str]
    records: dict[tuple[str, int], list[Record]]
    lines: int = 0


def norm_chrom(chrom: str) -> str:
    c = chrom[3:] if chrom[:3].lower() == "chr" else chrom
    return "M" if c == "MT" else c


def _check_header(line: str) -> None:
    m = _CONTIG.match(line)
    if m:
        fields = dict(kv.split("=", 1) for kv in re.split(r",(?=[A-Za-z_]+=)", m.group(1)) if "=" in kv)
        cid, length = norm_chrom(fields.get("ID", "")), fields.get("length", "")
        if fields.get("assembly") and _GRCH37.search("assembly=" + fields["assembly"]):
            raise VcfProblem("grch37", f"contig {fields.get('ID')} is declared on {fields['assembly']}; "
                                       "positions are matched on GRCh38 only")
        if length.isdigit() and _GRCH37_LENGTHS.get(cid) == int(length):
            raise VcfProblem("grch37", f"contig {fields.get('ID')} has the GRCh37 length {length}; "
                                       "positions are matched on GRCh38 only")
    elif line.startswith("##reference=") and _GRCH37.search(line):
        raise VcfProblem("grch37", f"the header names a GRCh37/hg19 reference ({line[12:].strip()[:80]}); "
                                   "positions are matched on GRCh38 only")


def read_vcf(lines: Iterable[str], wanted: set[tuple[str, int]]) -> VcfData:
    """Read a VCF's header and its records at `wanted` (normalized chrom, pos) keys."""
    it: Iterator[str] = iter(lines)
    first = next(it, None)
    if first is None or not first.startswith("##fileformat=VCF"):
        raise VcfProblem("not_vcf", "the input does not start with a '##fileformat=VCF' line")
    samples: list[str] | None = None
    data = VcfData(samples=[], records={})
    wanted_pos = {p for _, p in wanted}
    n = 0
    for line in it:
        n += 1
        if samples is None:
            if line.startswith("##"):
                _check_header(line.rstrip("\r\n"))
                continue
            if not line.startswith("#CHROM"):
                raise VcfProblem("not_vcf", f"line {n + 1}: a record before the '#CHROM' header line")
            cols = line.rstrip("\r\n").split("\t")
            if len(cols) < 8 or cols[:2] != ["#CHROM", "POS"]:
                raise VcfProblem("not_vcf", "the '#CHROM' header line is not tab-separated VCF columns")
            if len(cols) < 10:
                raise VcfProblem("no_samples", "the VCF has no sample column (no genotypes)")
            if cols[8] != "FORMAT":
                raise VcfProblem("not_vcf", "column 9 of the '#CHROM' line is not FORMAT")
            samples = cols[9:]
            data.samples = samples
            continue
        if not line or line[0] == "#":
            continue
        # cheap pre-filter: split only the first two fields of every line
        tab1 = line.find("\t")
        tab2 = line.find("\t", tab1 + 1)
        if tab1 < 0 or tab2 < 0:
            raise VcfProblem("not_vcf", f"line {n + 1} is not a tab-separated VCF record")
        pos_text = line[tab1 + 1:tab2]
        if not pos_text.isdigit():
            raise VcfProblem("not_vcf", f"line {n + 1}: POS '{pos_text[:20]}' is not a number")
        pos = int(pos_text)
        if pos not in wanted_pos:
            continue
        key = (norm_chrom(line[:tab1]), pos)
        if key not in wanted:
            continue
        cols = line.rstrip("\r\n").split("\t")
        if len(cols) < 9 + len(samples):
            raise VcfProblem("not_vcf", f"line {n + 1} has {len(cols)} columns, the header {9 + len(samples)}")
        fmt = tuple(cols[8].split(":"))
        if "GT" not in fmt:
            raise VcfProblem("no_gt", f"line {n + 1} ({line[:tab1]}:{pos}) has no GT field in FORMAT")
        alts = tuple(a for a in cols[4].split(",") if a != ".")
        rec = Record(key[0], pos, cols[3].upper(), tuple(a.upper() for a in alts), fmt, tuple(cols[9:]))
        data.records.setdefault(key, []).append(rec)
    if samples is None:
        raise VcfProblem("not_vcf", "the input has no '#CHROM' header line")
    data.lines = n + 1
    return data


@dataclasses.dataclass(frozen=True)
class SampleCall:
    """One sample's genotype at one position: allele strings (None = no call), phase, phase set."""

    ref: str
    alts: tuple[str, ...]
    gt: str
    alleles: tuple[str | None, ...]
    phased: bool
    phase_set: str | None


def sample_calls(data: VcfData, index: int) -> dict[tuple[str, int], list[SampleCall]]:
    out: dict[tuple[str, int], list[SampleCall]] = {}
    for key, recs in data.records.items():
        for rec in recs:
            values = rec.samples[index].split(":")
            fields = dict(zip(rec.format, values, strict=False))
            gt = fields.get("GT", ".")
            parts = re.split(r"[/|]", gt)
            alleles: list[str | None] = []
            for p in parts:
                if p == "." or p == "":
                    alleles.append(None)
                elif p.isdigit():
                    k = int(p)
                    alleles.append(rec.ref if k == 0 else (rec.alts[k - 1] if k <= len(rec.alts) else "?"))
                else:
                    alleles.append("?")
            ps = fields.get("PS")
            phased = "|" in gt and "/" not in gt
            out.setdefault(key, []).append(SampleCall(rec.ref, rec.alts, gt, tuple(alleles[:2]), phased,
                                                      ps if phased and ps not in (None, ".") else None))
    return out
