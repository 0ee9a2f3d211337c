"""Genotype notation as labs write it -> structured pieces the engine can look up.

Pure string handling; which names are *known* is the engine's business (it passes a resolver in).
Nothing here raises on user input: parse failures come back as `NotationError` values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GE = "≥"


@dataclass(frozen=True, slots=True)
class NotationError:
    """A malformed input; `message` names the offending part."""

    message: str


@dataclass(frozen=True, slots=True)
class Component:
    """One gene copy inside a CYP2D6 haplotype: `*36x2` -> base '*36', copies 2."""

    base: str
    copies: int | None  # None = 'xN' (count not known)
    at_least: bool = False  # written 'x≥3' (CPIC bin) rather than an exact count


# ---------------------------------------------------------------------------------------------
# whitespace, gene prefixes

_WS = re.compile(r"\s+")


def squash(text: str) -> str:
    """Trim and collapse runs of whitespace (tabs, NBSP, newlines) to one space."""
    return _WS.sub(" ", text.replace("\u00a0", " ")).strip()


def name_key(name: str) -> str:
    """Spelling-insensitive key for allele names: no whitespace, lower case."""
    return _WS.sub("", name).lower()


def strip_gene_prefix(text: str, symbols: tuple[str, ...]) -> tuple[str, bool]:
    """'CYP2C19*1/CYP2C19*2' -> '*1/*2'; 'HLA-B*57:01' -> '*57:01'. Returns (text, changed)."""
    out = text
    for sym in symbols:
        # only at the start of an allele: 'CFTR' inside 'ivacaftor non-responsive CFTR sequence' stays
        pat = re.compile(r"(^|[/+]\s*)" + re.escape(sym) + r"(?:\s*(?=\*)|\s+|:\s*)", re.IGNORECASE)
        out = pat.sub(r"\1", out)
    return out, out != text


# ---------------------------------------------------------------------------------------------
# diplotype splitting


def split_candidates(text: str) -> list[tuple[str, ...]]:
    """Every way to read `text` as alleles separated by '/': whole string first, then each split.

    Some allele names contain '/' themselves (G6PD 'Telti/Kobe'), so the engine tries each
    reading against its allele index and keeps the one where every part is a known allele.
    """
    parts = [p.strip() for p in text.split("/")]
    out: list[tuple[str, ...]] = [(text.strip(),)]
    n = len(parts)
    if n == 1:
        return out
    # all ways to group consecutive parts into 2 alleles, then into n separate alleles
    for i in range(1, n):
        out.append(("/".join(parts[:i]).strip(), "/".join(parts[i:]).strip()))
    if n > 2:
        out.append(tuple(parts))
    return out


_COPY = re.compile(r"^(?P<base>.+?)\s*[x×X]\s*(?P<n>(?:≥|>=|>)?\s*\d+|[nN])$")


def parse_haplotype(text: str) -> list[Component] | NotationError:
    """CYP2D6 haplotype: '*1', '*1x2', '*2x≥3', '*1xN', '*36+*10', '*13+*68x2+*4'."""
    comps: list[Component] = []
    for raw in text.split("+"):
        part = raw.strip()
        if not part:
            return NotationError(f"empty part in '{text}'")
        m = _COPY.match(part)
        if not m:
            comps.append(Component(part, 1))
            continue
        base, n = m.group("base").strip(), m.group("n").replace(" ", "")
        if n in ("N", "n"):
            comps.append(Component(base, None))
            continue
        at_least = n.startswith(("≥", ">="))
        if n.startswith(">") and not n.startswith(">="):
            # '>2' means at least 3 copies
            count = int(n[1:]) + 1
            at_least = True
        else:
            count = int(n.lstrip("≥>="))
        if count < 1 or count > 20:
            return NotationError(f"copy number '{part}' is out of range")
        comps.append(Component(base, count, at_least))
    return comps


# ---------------------------------------------------------------------------------------------
# activity scores

_SCORE = re.compile(r"^(?P<ge>≥|>=|=>)?\s*(?P<num>\d+(?:\.\d+)?|\.\d+)$")


def parse_activity_score(text: str) -> tuple[int, bool] | NotationError:
    """'1.5' -> (6, False) in quarters; '≥3.0' / '>=3' -> (12, True). 'n/a' is the caller's."""
    t = squash(text).replace(",", ".") if text.count(",") == 1 and "." not in text else squash(text)
    m = _SCORE.match(t)
    if not m:
        return NotationError(f"'{text}' is not an activity score (e.g. '1.5', '≥3.0')")
    value = float(m.group("num"))
    q = value * 4
    if abs(q - round(q)) > 1e-9:
        return NotationError(f"activity score '{text}' is not a multiple of 0.25")
    return round(q), bool(m.group("ge"))


def format_score(quarters: int, at_least: bool = False) -> str:
    """Quarters -> CPIC's spelling: 4 -> '1.0', 5 -> '1.25', (12, True) -> '≥3.0'."""
    s = f"{quarters / 4:.1f}" if quarters % 2 == 0 else f"{quarters / 4:.2f}"
    return GE + s if at_least else s


# ---------------------------------------------------------------------------------------------
# lab-called phenotypes

_PHENO_ABBREV = {
    "em": "Normal Metabolizer",
    "nm": "Normal Metabolizer",
    "pm": "Poor Metabolizer",
    "im": "Intermediate Metabolizer",
    "um": "Ultrarapid Metabolizer",
    "urm": "Ultrarapid Metabolizer",
    "rm": "Rapid Metabolizer",
    "ipm": "Likely Poor Metabolizer",
    "lpm": "Likely Poor Metabolizer",
    "lim": "Likely Intermediate Metabolizer",
    "extensive metabolizer": "Normal Metabolizer",
    "ultra-rapid metabolizer": "Ultrarapid Metabolizer",
    "ultra rapid metabolizer": "Ultrarapid Metabolizer",
    "ultrarapid": "Ultrarapid Metabolizer",
    "normal": None,  # ambiguous across genes: only matched against the gene's own names
}


def phenotype_candidates(text: str) -> tuple[str, str | None]:
    """Lab phenotype text -> (spelling-normalized text, CPIC term the synonym stands for or None).

    'extensive metaboliser' -> ('extensive metabolizer', 'Normal Metabolizer'); the engine checks
    the result against the gene's own phenotype list (case-insensitively).
    """
    t = squash(text).lower().replace("metaboliser", "metabolizer").replace("metabolisers", "metabolizer")
    t = t.replace("metabolizers", "metabolizer").replace("_", " ")
    t = re.sub(r"\s*\(([a-z]{2,3})\)$", "", t) if re.search(r"metabolizer\s*\([a-z]{2,3}\)$", t) else t
    return t, _PHENO_ABBREV.get(t)


# ---------------------------------------------------------------------------------------------
# HLA

HLA_ALLELE = re.compile(r"^\*?(?P<f1>\d{2,3})(?::(?P<f2>\d{2,4}))?(?::\d{2,3}){0,2}[A-Z]?$")
_HLA_STATUS = {
    "positive": "positive", "pos": "positive", "+": "positive", "present": "positive",
    "detected": "positive", "carrier": "positive",
    "negative": "negative", "neg": "negative", "-": "negative", "absent": "negative",
    "not detected": "negative", "non-carrier": "negative", "noncarrier": "negative",
}


# Before 2010 fields had no colons: four digits were always group + protein ('5701' = 57:01); a
# longer run of digits could split more than one way, so only four are read.
_HLA_PRE_2010 = re.compile(r"^\*?(?P<f1>\d{2})(?P<f2>\d{2})$")


@dataclass(frozen=True, slots=True)
class HlaAllele:
    text: str  # as given without the gene prefix, with a leading '*'
    f1: str
    f2: str | None  # None when only the allele group was typed ('*57')
    old_name: str | None = None  # the pre-2010 spelling it was read from ('*5701')

    @property
    def two_field(self) -> str | None:
        return f"*{self.f1}:{self.f2}" if self.f2 else None


def parse_hla_allele(text: str) -> HlaAllele | NotationError:
    t = text.strip()
    old = _HLA_PRE_2010.match(t)
    if old:
        return HlaAllele(f"*{old['f1']}:{old['f2']}", old["f1"], old["f2"], t)
    m = HLA_ALLELE.match(t)
    if not m:
        return NotationError(f"'{text}' is not an HLA allele (e.g. '*57:01')")
    return HlaAllele(t if t.startswith("*") else "*" + t, m.group("f1"), m.group("f2"))


def parse_hla_carrier(text: str) -> list[tuple[HlaAllele, str]] | NotationError | None:
    """'*57:01 positive', '*57:01 negative; *58:01 positive' -> [(allele, status)], None if not that form."""
    items = [p.strip() for p in re.split(r"[;,]", text) if p.strip()]
    out = []
    for item in items:
        m = re.match(r"^(?P<allele>\S+)\s*(?P<status>positive|pos|negative|neg|present|absent|detected|"
                     r"not detected|carrier|non-carrier|noncarrier|\+|-)$", item, re.IGNORECASE)
        if not m:
            return None if not out else NotationError(f"'{item}' is not a carrier result (e.g. '*57:01 positive')")
        allele = parse_hla_allele(m.group("allele"))
        if isinstance(allele, NotationError):
            return allele
        out.append((allele, _HLA_STATUS[m.group("status").lower()]))
    return out or None


# ---------------------------------------------------------------------------------------------
# single-SNP genotypes (VKORC1 rs9923231, IFNL4 rs12979860, CYP2C rs12777823)

_SNP = re.compile(r"^(?P<id>rs\d+|-?\d+|c\.-?\d+)\s*[:=]?\s*(?:[ACGT]>[ACGT]\s*)?(?P<a>[ACGT])\s*[/|]?\s*(?P<b>[ACGT])$",
                  re.IGNORECASE)


def parse_snp_genotype(text: str) -> tuple[str, str, str] | None:
    """'rs9923231 CT' / 'rs9923231 C/T' / '-1639 GA' -> (id, 'C', 'T'); None if not that form."""
    m = _SNP.match(squash(text))
    if not m:
        return None
    return m.group("id").lower(), m.group("a").upper(), m.group("b").upper()
