"""Genotype -> phenotype, exactly as CPIC derives it, from our gene tables.

`PhenotypeEngine.from_gene_tables(load_gene_tables(dir))` compiles every table once (allele
indexes, function-pair and threshold lookups); `interpret()` then does string parsing plus dict
lookups, and memoizes on the raw entry. It never raises on caller input: every problem becomes a
`GeneResult` with status `invalid` / `unknown_allele` / `indeterminate` and a message.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

from .notation import (
    GE,
    Component,
    NotationError,
    format_score,
    name_key,
    parse_activity_score,
    parse_haplotype,
    parse_hla_allele,
    parse_hla_carrier,
    parse_snp_genotype,
    phenotype_candidates,
    split_candidates,
    squash,
    strip_gene_prefix,
)
from .results import Category, GeneResult, GeneStatus, GenotypeEntry, build_gene_result

UNCERTAIN_FUNCTIONS = ("uncertain", "unknown")
INDETERMINATE = "Indeterminate"
# Answers are memoized on the raw entry from its SECOND sighting on (the first only notes the key):
# one-off inputs - most of a long tail - then cost no result storage, and repeated ones (the common
# diplotypes of a busy service) are answered from the memo. Both maps are bounded; full = cleared.
_MEMO_LIMIT = 500_000
_SEEN_LIMIT = 500_000
_NEEDS_SQUASH = re.compile(r"^\s|\s$|\s\s|[\t\n\r\u00a0]")
_NO_INFO: tuple[None, None, None] = (None, None, None)
# methods whose plain 'A/B' inputs `_Gene.quick` answers (the rest always take the full parser)
_QUICK_METHODS = ("activity_score", "function_pair", "x_linked", "any_causative")
_OK, _INDET = GeneStatus.OK, GeneStatus.INDETERMINATE
_COPY_FORM = re.compile(r"^.+?\s*[x×X]\s*(?:(?:≥|>=|>)?\s*\d+|[nN])$")  # notation._COPY: 'name' is a copy form
_SUBALLELE = re.compile(r"^(\*\d+[A-Z]?)\.\d{3}$")
_WELL_FORMED = re.compile(r"^[A-Za-z0-9*][A-Za-z0-9 .,'()>+_:;\-*≥/]*$")


class _Unresolved(Exception):
    """Internal: an input part could not be resolved; carries the result status and message."""

    def __init__(self, status: GeneStatus, message: str, part: str | None = None):
        super().__init__(message)
        self.status, self.message, self.part = status, message, part


class _Haplotype(NamedTuple):
    """One resolved gene copy (or tandem) for the activity-score / function genes (internal; a
    named tuple because the quick path builds tandems per call and tuples are cheap to make)."""

    name: str  # canonical spelling, e.g. '*1x≥3', '*36+*10', 'c.1905+1G>A (*2A)'
    sort_key: tuple
    quarters: int | None  # activity value x 4; None = no value (uncertain/unknown function)
    at_least: bool = False  # a CPIC '≥' bin
    function: str | None = None
    unresolved_copies: bool = False  # 'xN'
    no_value_allele: str | None = None  # which allele made the value n/a


class _Gene:
    """One compiled gene table."""

    def __init__(self, table: dict[str, Any]):
        self.table = table
        self.symbol: str = table["gene"]
        self.method: str = table["method"]
        self.prefixes = tuple(sorted({self.symbol, *table.get("aliases", [])}, key=len, reverse=True))
        self.prefix_probe = tuple(p.lower() for p in self.prefixes)
        alleles = table.get("alleles", [])
        self.alleles = {a["name"]: a for a in alleles}
        self.order = {a["name"]: i for i, a in enumerate(alleles)}
        self.exact: dict[str, str] = {}
        self.loose: dict[str, str | None] = {}  # None marks a spelling two alleles share
        for a in alleles:
            for n in [a["name"], *a.get("synonyms", [])]:
                self.exact[n] = a["name"]
                k = name_key(n)
                self.loose[k] = a["name"] if self.loose.get(k, a["name"]) == a["name"] else None
        self.slash_names = any("/" in a["name"] or "/" in s for a in alleles for s in a.get("synonyms", []) + [""])
        self.star = bool(alleles) and all(a["name"].startswith("*") for a in alleles)
        self.phen = {p["name"]: p for p in table["phenotypes"]}
        self.display = dict(table.get("phenotype_display", {}))
        self.phen_ci: dict[str, str] = {p.lower(): p for p in self.phen}
        for key, shown in self.display.items():
            self.phen_ci[shown.lower()] = key
        # phenotype -> (as shown, category, EHR priority), looked up once per result
        self.pinfo: dict[str | None, tuple[str, Category | None, str | None]] = {
            p["name"]: (self.display.get(p["name"], p["name"]),
                        Category(p["category"]) if p["category"] else None, p["ehr_priority"])
            for p in table["phenotypes"]
        }
        self.pairs: dict[tuple[str, str], str] = {}
        for fp in table.get("function_pairs") or []:
            f1, f2 = fp["functions"]
            self.pairs[(f1, f2)] = self.pairs[(f2, f1)] = fp["phenotype"]
        self.single = {r["function"]: r["phenotype"] for r in table.get("single_allele") or []}
        self.overrides = {o["diplotype"]: o for o in table.get("overrides") or []}
        # activity score genes
        self.values: dict[str, int | None] = {}
        for a in alleles:
            av = a.get("activity_value")
            parsed = parse_activity_score(av) if av else None
            self.values[a["name"]] = parsed[0] if isinstance(parsed, tuple) else None
        self.thresholds = [
            (parse_activity_score(t["min"])[0], t["phenotype"])  # type: ignore[index]
            for t in table.get("activity_thresholds") or []
        ]
        self.indeterminate = table.get("indeterminate_phenotype", INDETERMINATE)
        nonzero = [q for q in self.values.values() if q]
        self.granularity = math.gcd(*nonzero) if nonzero else 1
        self.max_exact = 2 * max(nonzero) if nonzero else 0
        cn = table.get("copy_number")
        self.copy_listed = set(cn["listed"]) if cn else set()
        self.bin_from = cn["bin_from"] if cn else None
        self.xn_key = cn["unresolved_lookup_key"] if cn else None
        self.two_lowest = table.get("score_rule") == "two_lowest"
        # HLA
        self.risk = {r["allele"]: r for r in table.get("risk_alleles") or []}
        # single-SNP genes
        self.genotypes = {g["variant_copies"]: g for g in table.get("genotypes") or []}
        self.genotype_names: dict[str, tuple[int, bool]] = {}
        for g in table.get("genotypes") or []:
            d = g["diplotype"]
            self.genotype_names[name_key(d)] = (g["variant_copies"], False)
            if "/" in d:
                a, b = d.split("/", 1)
                self.genotype_names.setdefault(name_key(f"{b}/{a}"), (g["variant_copies"], a != b))
        # every known allele (and CPIC-listed copy form) as a ready haplotype: the fast path of _split
        self.haps: dict[str, _Haplotype] = {}
        for a in alleles:
            q = self.values.get(a["name"])
            self.haps[a["name"]] = _Haplotype(a["name"], ((self.order[a["name"]], 1),), q, function=a["function"],
                                              no_value_allele=None if q is not None else a["name"])
        # lab names for several CPIC alleles (G6PD 'A-'): loose key -> (haplotype or None, entry)
        self.lab_names: dict[str, tuple[_Haplotype | None, dict[str, Any]]] = {}
        self.group_haps: dict[str, _Haplotype] = {}
        for ln in table.get("lab_names") or []:
            kinds = {(self.alleles[n]["function"], self.values.get(n)) for n in ln["alleles"]}
            hap = None
            if len(kinds) == 1:  # one function and value: the phenotype cannot depend on which allele
                ((function, q),) = kinds
                order = min(self.order[n] for n in ln["alleles"])
                hap = self.group_haps[ln["name"]] = _Haplotype(
                    ln["name"], ((order, 1),), q, function=function, no_value_allele=None if q is not None else ln["name"])
                self.order[ln["name"]], self.values[ln["name"]] = order, q
            for n in (ln["name"], *ln["synonyms"]):
                self.lab_names[name_key(n)] = (hap, ln)
        if self.method == "rsid_genotype":
            rs, ref, alt = table["rsid"], table["ref"], table["alt"]
            for n, (x, y) in enumerate(((ref, ref), (ref, alt), (alt, alt))):
                pc = f"{rs} {'reference' if x == ref else 'variant'} ({x})/{rs} {'reference' if y == ref else 'variant'} ({y})"
                self.genotype_names.setdefault(name_key(pc), (n, False))
        # ---- precompiled answers for the quick path (`quick`) ----
        self.prefix_re = re.compile("|".join(re.escape(p) for p in self.prefixes), re.IGNORECASE)
        # '<allele> has <function>' as the messages spell it, for every allele
        self.has_text = {a["name"]: f"{a['name']} has {a['function'].lower()}" for a in alleles}
        self.uncertain_text = {a["name"]: self.has_text[a["name"]] for a in alleles
                               if a["function"].split(" ")[0].lower() in UNCERTAIN_FUNCTIONS}
        self.indeterminate_info = self.pinfo.get(self.indeterminate, _NO_INFO)
        self.score_out: dict[tuple[int, bool], tuple[str | None, str, Category | None, str | None]] = {}
        self.pair_out: dict[tuple[str, str], tuple] = {}
        if self.method in ("function_pair", "x_linked", "any_causative"):
            functions = {a["function"] for a in alleles}
            for fa in functions:
                for fb in functions:
                    self.pair_out[(fa, fb)] = self._pair_outcome(fa, fb)
        # canonical spellings the quick path may take as they are: filled by PhenotypeEngine, which
        # also adds CPIC's listed copy forms ('*1x2', '*2x≥3') parsed by the full parser
        self.fast: dict[str, _Haplotype] = {}
        self.scored = self.method == "activity_score"
        if self.method in _QUICK_METHODS:
            for name, hap in self.haps.items():
                if self.takes_as_is(name):
                    self.fast[name] = hap
        # tandems ('*36+*10') are composed from these parts (copy forms are added with `fast`); only
        # where the full parser would read each '+' part as exactly that allele
        self.tandem_parts: dict[str, _Haplotype] = {}
        self.tandems = bool(self.copy_listed) and not any("+" in n for n in self.exact)
        if self.tandems:
            self.tandem_parts = {n: h for n, h in self.fast.items() if not _COPY_FORM.match(n)}
        # one allele of an X-linked gene (hemizygous): function -> (status, phenotype, category, lookup, EHR)
        self.single_out: dict[str, tuple] = {}
        if self.method == "x_linked":
            for f in {a["function"] for a in alleles}:
                ph = self.single.get(f)
                if ph is None:
                    shown = INDETERMINATE if INDETERMINATE in self.phen else None
                    _, category, ehr = self.pinfo.get(shown, _NO_INFO) if shown else _NO_INFO
                    self.single_out[f] = (None, shown, category, INDETERMINATE, ehr)
                else:
                    status = _INDET if ph == INDETERMINATE else _OK
                    shown, category, ehr = self.pinfo.get(ph, _NO_INFO)
                    self.single_out[f] = (status, shown or ph, category, ph, ehr)
            self.hemizygous = (f"one {self.symbol} allele: read as hemizygous (male)",)

    def tandem(self, text: str) -> _Haplotype | None:
        """'*36+*10' (parts known, written canonically) -> the haplotype the full parser builds."""
        parts = self.tandem_parts
        key: tuple = ()
        total: int | None = 0
        ge = False
        no_value = None
        for p in text.split("+"):
            h = parts.get(p)
            if h is None:
                return None
            key += h.sort_key
            if h.quarters is None:
                total = None
                no_value = no_value or h.no_value_allele
            elif total is not None:
                total += h.quarters
            ge = ge or h.at_least
        if no_value is not None:
            total = None
        return _Haplotype(text, key, total, ge, None, False, no_value)

    def takes_as_is(self, name: str) -> bool:
        """True when the full parser would read `name` as exactly itself, with no warning: no
        whitespace to normalize, no '/', no gene symbol inside (it would try to strip it)."""
        return (bool(name) and squash(name) == name and "\t" not in name and "/" not in name
                and not self.prefix_re.search(name) and self.exact.get(name) == name)

    def _pair_outcome(self, fa: str, fb: str) -> tuple:
        """(kind, status, phenotype as shown, category, lookup key, EHR) for two functions; kind 0 =
        answered, 1 = CPIC has no such pair, 2 = CPIC says Indeterminate (message names the alleles)."""
        cf = self.table.get("causative_function") if self.method == "any_causative" else None
        if cf is not None and cf in (fa, fb):
            ph = self.table["causative_phenotype"]
            kind, status = 0, _OK
        else:
            ph = self.pairs.get((fa, fb))
            if ph is None:
                ph = INDETERMINATE if INDETERMINATE in self.phen else None
                kind, status, lookup = 1, _INDET, INDETERMINATE
                shown, category, ehr = self.pinfo.get(ph, _NO_INFO) if ph else _NO_INFO
                return kind, status, shown or ph, category, lookup, ehr
            kind, status = (2, _INDET) if ph == INDETERMINATE else (0, _OK)
        shown, category, ehr = self.pinfo.get(ph, _NO_INFO)
        return kind, status, shown or ph, category, ph, ehr

    def _hemizygous(self, h: _Haplotype, text: str) -> GeneResult | None:
        o = self.single_out.get(h.function)  # type: ignore[arg-type]
        if o is None:
            return None
        status, shown, category, lookup, ehr = o
        if status is None:
            status, message = _INDET, f"CPIC assigns no phenotype to a single {h.name} ({h.function})"
        else:
            message = self.has_text[h.name] if status is not _OK else None
        return build_gene_result(self.symbol, text, status, h.name, shown, None, category, lookup, {}, ehr,
                                 self.hemizygous, message)

    def score_outcome(self, q: int, ge: bool) -> tuple[str | None, str, Category | None, str | None]:
        """(phenotype as shown, score, category, EHR) for an activity score in quarters; a small
        table filled on first use (a function of the score only, not of any input string)."""
        out = self.score_out.get((q, ge))
        if out is None:
            score = format_score(q, ge)
            ph = self.phenotype_for_score(q)
            shown, category, ehr = self.pinfo.get(ph, _NO_INFO)
            out = self.score_out[(q, ge)] = (shown or ph, score, category, ehr)
        return out

    def quick(self, text: str) -> GeneResult | None:
        """The common shape 'A/B' with both sides canonical names: two dict probes and one
        precompiled outcome. Gives exactly the full parser's answer, or None when the input needs
        the full parser (anything else: prefixes, spaces, synonyms, tandems, overrides...)."""
        a, sep, b = text.partition("/")
        fast = self.fast
        ha = fast.get(a)
        if ha is None:
            if not self.tandems or "+" not in a or not sep or (ha := self.tandem(a)) is None:
                return None
        if not sep:
            return self._hemizygous(ha, text) if self.method == "x_linked" else None
        hb = fast.get(b)
        if hb is None:
            if not self.tandems or "+" not in b or (hb := self.tandem(b)) is None:
                return None
        if self.slash_names and text in self.haps:
            return None
        if hb.sort_key < ha.sort_key:
            ha, hb = hb, ha
            diplotype = f"{ha.name}/{hb.name}"
            warnings: tuple[str, ...] = ("reordered alleles",)
        else:
            diplotype, warnings = text, ()
        if self.overrides and diplotype in self.overrides:
            return None
        if self.scored:
            qa, qb = ha.quarters, hb.quarters
            if qa is None or qb is None:
                x, y = ha.no_value_allele, hb.no_value_allele
                has = self.has_text
                fn = (f"{has[x]}, {has[y]}" if x != y else has[x]) if x and y else has[x or y]  # type: ignore[index]
                shown, category, ehr = self.indeterminate_info
                return build_gene_result(self.symbol, text, _INDET, diplotype, shown or self.indeterminate, None,
                                         category, "n/a", {}, ehr, warnings, "no activity score: " + fn)
            ge = ha.at_least or hb.at_least
            out = self.score_out.get((qa + qb, ge)) or self.score_outcome(qa + qb, ge)
            return build_gene_result(self.symbol, text, _OK, diplotype, out[0], out[1], out[2], out[1], {},
                                     out[3], warnings, None)
        o = self.pair_out.get((ha.function, hb.function))  # type: ignore[arg-type]
        if o is None:
            return None
        kind = o[0]
        if kind == 0:
            message = None
        elif kind == 1:
            message = f"CPIC assigns no phenotype to {ha.function} + {hb.function} ({diplotype})"
        else:
            odd = self.uncertain_text
            why = [odd[h.name] for h in (ha, hb) if h.name in odd]
            message = ", ".join(why) if why else f"CPIC assigns no phenotype to {diplotype}"
        return build_gene_result(self.symbol, text, o[1], diplotype, o[2], None, o[3], o[4], {}, o[5],
                                 warnings, message)

    # ---- facts ---------------------------------------------------------------------------------
    def category(self, phenotype: str | None) -> Category | None:
        return self.pinfo.get(phenotype, _NO_INFO)[1]

    def ehr(self, phenotype: str | None) -> str | None:
        return self.pinfo.get(phenotype, _NO_INFO)[2]

    def function_of(self, allele: str) -> str:
        a = self.alleles.get(allele)
        return a["function"] if a is not None else self.group_haps[allele].function  # type: ignore[return-value]

    def is_uncertain(self, allele: str) -> bool:
        return self.function_of(allele).split(" ")[0].lower() in UNCERTAIN_FUNCTIONS

    def phenotype_for_score(self, q: int) -> str:
        found = self.thresholds[0][1]
        for low, ph in self.thresholds:
            if q >= low:
                found = ph
        return found

    # ---- allele names ------------------------------------------------------------------------------
    def resolve_name(self, text: str, warnings: list[str]) -> str | None:
        name = self.exact.get(text)
        if name is None:
            name = self.loose.get(name_key(text))
            if name is None and self.lab_names and name_key(text) in self.lab_names:
                return self._lab_name(text, warnings)
            if name is None:
                # PharmVar sub-allele ('*2.034'): same core allele, same function
                m = _SUBALLELE.match(text) if self.star else None
                core = self.exact.get(m.group(1)) if m else None
                if core is None:
                    return None
                warnings.append(f"sub-allele {text} read as {self.symbol} {core} (same function)")
                return core
        if text != name:
            warnings.append(f"'{text}' read as {self.symbol} {name}")
        return name

    def _lab_name(self, text: str, warnings: list[str]) -> str:
        hap, ln = self.lab_names[name_key(text)]
        members = ln["alleles"]
        if hap is None:
            raise _Unresolved(GeneStatus.UNKNOWN_ALLELE,
                              f"'{text}' is a lab name for {self.symbol} alleles of different function ("
                              + "; ".join(f"{n}: {self.function_of(n)}" for n in members)
                              + "); give the allele as CPIC names it", text)
        warnings.append(f"lab name '{text}' read as {self.symbol} {hap.name}: any of {', '.join(members)}, "
                        f"all {hap.function}, so the phenotype does not depend on which")
        return hap.name

    def well_formed(self, text: str) -> bool:
        if not text or len(text) > 120 or not _WELL_FORMED.match(text):
            return False
        return not self.star or text.startswith("*") or text[:1].isalnum()


class PhenotypeEngine:
    """CPIC phenotype derivation for every gene in the loaded gene tables."""

    def __init__(self, genes: dict[str, _Gene]):
        self._genes = genes
        self._aliases: dict[str, str] = {}
        for sym, g in genes.items():
            for a in (sym, *g.table.get("aliases", [])):
                self._aliases[a.upper()] = sym
                self._aliases[a.upper().replace("-", "_")] = sym
                self._aliases[a.upper().replace("-", "")] = sym
        self._memo: dict[tuple, GeneResult] = {}
        self._seen: set[tuple] = set()  # keys seen once (plain tuples of strings: cheap to keep)
        for g in genes.values():
            for form in sorted(g.copy_listed) if g.fast else ():
                self._add_copy_form(g, form)
        # exact gene spellings -> genes whose plain 'A/B' inputs the quick path answers
        self._quick = {alias: genes[sym] for alias, sym in self._aliases.items() if genes[sym].fast}

    def _add_copy_form(self, g: _Gene, form: str) -> None:
        """A CPIC-listed copy form ('*1x2', '*2x≥3') parsed once by the full parser, for the quick path."""
        if not g.takes_as_is(form.split("x")[0]) or g.resolve_name(form, []) is not None:
            return
        comps = parse_haplotype(form)
        if isinstance(comps, NotationError):
            return
        warnings: list[str] = []
        try:
            hap = self._cyp2d6_haplotype(g, form, comps, warnings)
        except _Unresolved:
            return
        if (not warnings and hap.name == form and squash(form) == form and not g.prefix_re.search(form)
                and not hap.unresolved_copies and (hap.quarters is None) == (hap.no_value_allele is not None)):
            g.fast[form] = hap
            if g.tandems and "+" not in form:
                g.tandem_parts[form] = hap

    @classmethod
    def from_gene_tables(cls, tables: dict[str, dict[str, Any]]) -> PhenotypeEngine:
        return cls({sym: _Gene(t) for sym, t in tables.items()})

    @property
    def gene_names(self) -> list[str]:
        return sorted(self._genes)

    def resolve_gene(self, gene: str) -> str | None:
        """'cyp2d6' -> 'CYP2D6', 'IFNL3' -> 'IFNL4'; None when unknown."""
        if not isinstance(gene, str):
            return None
        return self._aliases.get(squash(gene).upper())

    def describe(self, gene: str) -> dict[str, Any]:
        """JSON-able view of one gene: alleles, their function/activity value, and the rule."""
        sym = self.resolve_gene(gene)
        if sym is None:
            raise KeyError(gene)
        t = copy.deepcopy(self._genes[sym].table)
        t["derivation"] = _DERIVATION[t["method"]]
        return t

    # ---- entry point ---------------------------------------------------------------------------
    def interpret(self, entry: GenotypeEntry) -> GeneResult:
        try:
            diplotype = entry.diplotype
            key: tuple | None = (entry.gene, diplotype, entry.phenotype, entry.activity_score)
            hit = self._memo.get(key)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - not an entry / unhashable field values: no memo, still answered
            key = hit = None
        if hit is not None:
            return hit
        result = None
        if key is not None and diplotype.__class__ is str and key[2] is None and key[3] is None:
            g = self._quick.get(key[0])
            if g is not None:
                result = g.quick(diplotype)
        if result is None:
            try:
                result = self._interpret(entry)
            except Exception as exc:  # noqa: BLE001 - the contract: bad input never crashes the caller
                result = GeneResult(gene=str(getattr(entry, "gene", "")), input=_input_of(entry),
                                    status=GeneStatus.INVALID,
                                    message=f"could not interpret input ({type(exc).__name__})")
        if key is not None:
            seen = self._seen
            if key in seen:
                memo = self._memo
                if len(memo) >= _MEMO_LIMIT:
                    memo.clear()
                memo[key] = result
            else:
                if len(seen) >= _SEEN_LIMIT:
                    seen.clear()
                seen.add(key)
        return result

    def interpret_many(self, entries: Iterable[GenotypeEntry]) -> list[GeneResult]:
        return [self.interpret(e) for e in entries]

    def _interpret(self, entry: GenotypeEntry) -> GeneResult:
        # fast path: known gene symbol, a diplotype only, no stray whitespace
        value = entry.diplotype
        sym = self._aliases.get(entry.gene) if isinstance(entry.gene, str) else None
        if (sym is not None and entry.phenotype is None and entry.activity_score is None
                and isinstance(value, str) and value and not _NEEDS_SQUASH.search(value)):
            return self._diplotype(self._genes[sym], value, value)
        raw_gene = entry.gene if isinstance(entry.gene, str) else ""
        given = {k: v for k, v in (("diplotype", entry.diplotype), ("phenotype", entry.phenotype),
                                    ("activity_score", entry.activity_score)) if v is not None}
        text_in = _input_of(entry)
        sym = self.resolve_gene(raw_gene)
        if sym is None:
            return GeneResult(gene=raw_gene, input=text_in, status=GeneStatus.INVALID,
                              message=f"unknown gene '{raw_gene}'" if raw_gene.strip() else "gene is missing")
        given = {k: v for k, v in given.items() if not (isinstance(v, str) and not v.strip())}
        if len(given) != 1:
            what = "none" if not given else " and ".join(given)
            return GeneResult(gene=sym, input=text_in, status=GeneStatus.INVALID,
                              message=f"give exactly one of diplotype, phenotype, activity_score (got {what})")
        kind, value = next(iter(given.items()))
        if not isinstance(value, str):
            return GeneResult(gene=sym, input=text_in, status=GeneStatus.INVALID,
                              message=f"{kind} must be a string")
        g = self._genes[sym]
        text = squash(value)
        if kind == "diplotype":
            return self._diplotype(g, text, value)
        if kind == "phenotype":
            return self._phenotype(g, text, value)
        return self._score(g, text, value)

    # ---- result helper -----------------------------------------------------------------------
    @staticmethod
    def _result(g: _Gene, given: str, status: GeneStatus, *, diplotype: str | None = None,
                phenotype: str | None = None, score: str | None = None, lookup: str | None = None,
                allele_status: dict[str, str] | None = None, warnings: list[str] | tuple = (),
                message: str | None = None) -> GeneResult:
        shown, category, ehr = g.pinfo.get(phenotype, _NO_INFO) if phenotype else _NO_INFO
        return build_gene_result(g.symbol, given, status, diplotype, shown or phenotype, score, category, lookup,
                                 allele_status or {}, ehr, tuple(dict.fromkeys(warnings)) if warnings else (),
                                 message)

    def _error(self, g: _Gene, given: str, status: GeneStatus, message: str,
               warnings: list[str] | tuple = ()) -> GeneResult:
        return self._result(g, given, status, warnings=warnings, message=message)

    # ---- diplotype ---------------------------------------------------------------------------
    def _diplotype(self, g: _Gene, text: str, given: str) -> GeneResult:
        warnings: list[str] = []
        if g.prefix_re.search(text):
            text = squash(strip_gene_prefix(text, g.prefixes)[0])
        stripped = text
        if not stripped:
            return self._error(g, given, GeneStatus.INVALID, "diplotype is empty")
        try:
            if g.method == "carrier_status":
                return self._hla(g, stripped, given, warnings)
            if g.method == "rsid_genotype":
                return self._snp(g, stripped, given, warnings)
            parts = self._split(g, stripped, warnings)
            return self._by_method(g, parts, given, warnings)
        except _Unresolved as u:
            return self._error(g, given, u.status, u.message, warnings)

    def _split(self, g: _Gene, text: str, warnings: list[str]) -> list[_Haplotype]:
        """Try each reading of the '/'s; keep the first where every part is a known allele."""
        haps = g.haps
        hit = haps.get(text)
        if hit is not None:
            return [hit]
        if text.count("/") == 1:
            a, b = text.split("/")
            ha, hb = haps.get(a.strip()), haps.get(b.strip())
            if ha is not None and hb is not None:
                return [ha, hb]
        errors: list[tuple[int, _Unresolved]] = []
        # only genes with '/' inside allele names (G6PD 'Telti/Kobe') need the ambiguous readings
        readings = split_candidates(text) if g.slash_names else [tuple(text.split("/"))]
        for reading in readings:
            trial: list[str] = []
            try:
                haps = [self._haplotype(g, part, trial) for part in reading]
            except _Unresolved as u:
                errors.append((len(reading), u))
                continue
            warnings.extend(trial)
            return haps
        # report against the usual 'A/B' reading when there is one: it names the bad side
        err = next((u for n, u in errors if n == 2), errors[0][1])
        if err.status is GeneStatus.UNKNOWN_ALLELE and err.part:
            low = err.part.lower()
            near = [n for n in g.alleles if len(low) >= 2 and n.lower().startswith(low)][:4]
            if near:
                err.message += f" (did you mean: {', '.join(near)}?)"
        raise err

    def _haplotype(self, g: _Gene, part: str, warnings: list[str]) -> _Haplotype:
        part = re.sub(r"\s*\+\s*", "+", part.strip()) if g.copy_listed else part.strip()
        if not part:
            raise _Unresolved(GeneStatus.INVALID, "an allele is missing (empty side of '/')")
        name = g.resolve_name(part, warnings)
        if name is not None:
            return g.haps.get(name) or g.group_haps[name]
        if not g.copy_listed:
            return self._unknown(g, part)
        comps = parse_haplotype(part)
        if isinstance(comps, NotationError):
            raise _Unresolved(GeneStatus.INVALID, comps.message)
        return self._cyp2d6_haplotype(g, part, comps, warnings)

    def _unknown(self, g: _Gene, part: str) -> _Haplotype:
        if g.well_formed(part):
            raise _Unresolved(GeneStatus.UNKNOWN_ALLELE, f"unknown {g.symbol} allele '{part}'", part)
        raise _Unresolved(GeneStatus.INVALID, f"'{part}' is not a {g.symbol} allele notation")

    def _cyp2d6_haplotype(self, g: _Gene, part: str, comps: list[Component], warnings: list[str]) -> _Haplotype:
        names, key, total, ge, no_value, xn = [], [], 0, False, None, False
        for c in comps:
            base = g.resolve_name(c.base, warnings)
            if base is None:
                self._unknown(g, c.base)
            assert base is not None
            v = g.values.get(base)
            if v is None and no_value is None:
                no_value = base
            if c.copies is None:  # xN
                names.append(f"{base}xN")
                key.append((g.order[base], 99))
                xn = True
                continue
            n = c.copies
            exact = f"{base}x{n}"
            binned = f"{base}x{GE}{g.bin_from}"
            if n == 1 and not c.at_least:
                names.append(base)
            elif not c.at_least and (n < (g.bin_from or 3) or exact in g.copy_listed):
                names.append(exact)
                if exact not in g.copy_listed:
                    warnings.append(f"CPIC lists no {exact}; its activity value is {n} x that of {base}")
            elif binned in g.copy_listed:
                names.append(binned)
                if not c.at_least or n != g.bin_from:
                    warnings.append(f"{part} written as CPIC's copy-number bin {binned}")
                n, c = g.bin_from or 3, Component(base, g.bin_from, True)
            elif v == 0:
                names.append(binned if c.at_least else exact)
            else:
                # 3+ copies of an allele with activity but no CPIC bin (e.g. *10x3, *41x7): CPIC gives
                # no value, and extrapolating could turn IM into UM. Refuse rather than guess.
                shown = binned if c.at_least else exact
                raise _Unresolved(GeneStatus.INDETERMINATE,
                                  f"CPIC defines no activity value for {shown} ({'3 or more' if c.at_least else n} "
                                  f"copies of {base}); CPIC lists {base} copy forms: "
                                  f"{', '.join(sorted(x for x in g.copy_listed if x.startswith(base + 'x'))) or 'none'}")
            key.append((g.order[base], n))
            if v is not None:
                total += v * n
                ge = ge or (c.at_least and v > 0)
        name = "+".join(names)
        return _Haplotype(name, tuple(key), None if (no_value or xn) else total, ge,
                          unresolved_copies=xn, no_value_allele=no_value)

    def _by_method(self, g: _Gene, haps: list[_Haplotype], given: str, warnings: list[str]) -> GeneResult:
        m = g.method
        n = len(haps)
        if m == "single_allele":
            if n != 1:
                return self._error(g, given, GeneStatus.INVALID,
                                   f"{g.symbol} has one (mitochondrial) allele; got {n}", warnings)
            return self._single(g, haps[0], given, warnings)
        if m == "x_linked" and n == 1:
            warnings.append(f"one {g.symbol} allele: read as hemizygous (male)")
            return self._single(g, haps[0], given, warnings)
        if n == 1:
            return self._error(g, given, GeneStatus.INVALID,
                               f"{g.symbol} needs two alleles separated by '/' (e.g. "
                               f"'{haps[0].name}/{next(iter(g.alleles))}'); got one", warnings)
        if n > 2 and not (g.two_lowest or m == "any_causative"):
            return self._error(g, given, GeneStatus.INVALID, f"{g.symbol} takes two alleles; got {n}", warnings)
        if n == 2:
            a, b = haps
            if b.sort_key < a.sort_key:
                ordered = [b, a]
                warnings.append("reordered alleles")
            else:
                ordered = haps
        else:
            ordered = sorted(haps, key=lambda h: h.sort_key)
            if [h.name for h in ordered] != [h.name for h in haps]:
                warnings.append("reordered alleles")
        diplotype = "/".join(h.name for h in ordered)
        if g.overrides and diplotype in g.overrides:
            o = g.overrides[diplotype]
            status = GeneStatus.INDETERMINATE if o["phenotype"] == INDETERMINATE else GeneStatus.OK
            return self._result(g, given, status, diplotype=diplotype, phenotype=o["phenotype"],
                                score=o.get("activity_score"), lookup=o.get("activity_score") or o["phenotype"],
                                warnings=warnings, message=o["reason"] if status is not GeneStatus.OK else None)
        if m == "activity_score":
            return self._scored(g, ordered, diplotype, given, warnings)
        if m == "any_causative":
            causative = [h.name for h in ordered if h.function == g.table["causative_function"]]
            if causative:
                ph = g.table["causative_phenotype"]
                return self._result(g, given, GeneStatus.OK, diplotype=diplotype, phenotype=ph, lookup=ph,
                                    warnings=warnings)
            if n > 2:
                rank = {"Uncertain function": 0, "Unknown function": 0}
                ordered = sorted(ordered, key=lambda h: rank.get(h.function or "", 1))[:2]
        return self._paired(g, ordered, diplotype, given, warnings)

    def _single(self, g: _Gene, h: _Haplotype, given: str, warnings: list[str]) -> GeneResult:
        ph = g.single.get(h.function or "")
        if ph is None:
            return self._result(g, given, GeneStatus.INDETERMINATE, diplotype=h.name, phenotype=INDETERMINATE
                                if INDETERMINATE in g.phen else None, lookup=INDETERMINATE, warnings=warnings,
                                message=f"CPIC assigns no phenotype to a single {h.name} ({h.function})")
        status = GeneStatus.INDETERMINATE if ph == INDETERMINATE else GeneStatus.OK
        return self._result(g, given, status, diplotype=h.name, phenotype=ph, lookup=ph, warnings=warnings,
                            message=f"{h.name} has {h.function.lower()}" if status is not GeneStatus.OK and h.function
                            else None)

    def _paired(self, g: _Gene, haps: list[_Haplotype], diplotype: str, given: str,
                warnings: list[str]) -> GeneResult:
        a, b = haps[0], haps[1]
        ph = g.pairs.get((a.function or "", b.function or ""))
        if ph is None:
            return self._result(g, given, GeneStatus.INDETERMINATE, diplotype=diplotype,
                                phenotype=INDETERMINATE if INDETERMINATE in g.phen else None,
                                lookup=INDETERMINATE, warnings=warnings,
                                message=f"CPIC assigns no phenotype to {a.function} + {b.function} ({diplotype})")
        if ph == INDETERMINATE:
            odd = [h.name for h in haps if g.is_uncertain(h.name)]
            why = (", ".join(f"{x} has {g.function_of(x).lower()}" for x in odd)
                   if odd else f"CPIC assigns no phenotype to {diplotype}")
            return self._result(g, given, GeneStatus.INDETERMINATE, diplotype=diplotype, phenotype=ph,
                                lookup=ph, warnings=warnings, message=why)
        return self._result(g, given, GeneStatus.OK, diplotype=diplotype, phenotype=ph, lookup=ph,
                            warnings=warnings)

    def _scored(self, g: _Gene, haps: list[_Haplotype], diplotype: str, given: str,
                warnings: list[str]) -> GeneResult:
        no_value = [h.no_value_allele for h in haps if h.no_value_allele]
        if no_value:
            fn = ", ".join(f"{x} has {g.function_of(x).lower()}" for x in dict.fromkeys(no_value))
            return self._result(g, given, GeneStatus.INDETERMINATE, diplotype=diplotype, phenotype=g.indeterminate,
                                lookup="n/a", warnings=warnings, message=f"no activity score: {fn}")
        if any(h.unresolved_copies for h in haps):
            return self._result(g, given, GeneStatus.INDETERMINATE, diplotype=diplotype, phenotype=g.indeterminate,
                                lookup=g.xn_key, warnings=warnings,
                                message="copy number 'xN' is not resolved; CPIC needs x2 or x≥3 "
                                        "(the value of each copy counts)")
        used = haps
        if g.two_lowest and len(haps) > 2:
            used = sorted(haps, key=lambda h: h.quarters)[:2]  # type: ignore[arg-type,return-value]
            warnings.append(f"{len(haps)} {g.symbol} variants given: presumed in trans, the two lowest "
                            f"activity values count ({used[0].name}, {used[1].name})")
        q = sum(h.quarters for h in used)  # type: ignore[misc]
        ge = any(h.at_least for h in used)
        score = format_score(q, ge)
        ph = g.phenotype_for_score(q)
        return self._result(g, given, GeneStatus.OK, diplotype=diplotype, phenotype=ph, score=score, lookup=score,
                            warnings=warnings)

    # ---- HLA ----------------------------------------------------------------------------------
    def _hla(self, g: _Gene, text: str, given: str, warnings: list[str]) -> GeneResult:
        risk = g.risk
        letter = g.symbol.removeprefix("HLA-")
        text, wrong = _own_locus(text, letter)
        if wrong:
            return self._error(g, given, GeneStatus.INVALID, f"'{text}' names an HLA-{wrong} allele, not {g.symbol}",
                               warnings)
        carrier = parse_hla_carrier(text)
        if isinstance(carrier, NotationError):
            return self._error(g, given, GeneStatus.INVALID, carrier.message, warnings)
        if carrier is not None:
            status: dict[str, str] = {}
            for allele, st in carrier:
                key = allele.two_field
                if key not in risk:
                    return self._error(g, given, GeneStatus.UNKNOWN_ALLELE,
                                       f"{allele.text} is not a CPIC risk allele for {g.symbol} "
                                       f"(risk alleles: {', '.join(risk)})", warnings)
                if allele.old_name:
                    warnings.append(_old_hla_name(allele))
                elif allele.text != key:
                    warnings.append(f"{allele.text} read as {key}")
                if status.get(key, f"{key} {st}") != f"{key} {st}":
                    return self._error(g, given, GeneStatus.INVALID, f"{key} given as both positive and negative")
                status[key] = f"{key} {st}"
            return self._hla_result(g, given, status, "; ".join(status.values()), warnings)
        parts = [p.strip() for p in text.split("/")]
        if len(parts) != 2:
            return self._error(g, given, GeneStatus.INVALID,
                               f"{g.symbol} needs a typed pair ('*15:02/*57:01') or a carrier result "
                               f"('*57:01 positive')", warnings)
        typed = []
        for p in parts:
            p2, _ = strip_gene_prefix(p, g.prefixes)
            m = re.match(r"^([A-Z]+\d?)\*", p2)
            if m:
                if m.group(1) != letter:
                    return self._error(g, given, GeneStatus.INVALID,
                                       f"'{p}' is an HLA-{m.group(1)} allele, not {g.symbol}", warnings)
                p2 = p2[len(letter):]
            a = parse_hla_allele(p2)
            if isinstance(a, NotationError):
                return self._error(g, given, GeneStatus.INVALID, a.message, warnings)
            if a.old_name:
                warnings.append(_old_hla_name(a))
            typed.append(a)
        ordered = sorted(typed, key=lambda a: (int(a.f1), int(a.f2 or 0), a.text))
        if ordered != typed:
            warnings.append("reordered alleles")
        status = {}
        for r in risk:
            f1, f2 = r[1:].split(":")
            if any(a.f1 == f1 and a.f2 is None for a in typed) and not any(a.two_field == r for a in typed):
                return self._error(g, given, GeneStatus.INDETERMINATE,
                                   f"allele group *{f1} typed without a second field: {r} status unknown", warnings)
            status[r] = f"{r} {'positive' if any(a.two_field == r for a in typed) else 'negative'}"
        return self._hla_result(g, given, status, "/".join(a.text for a in ordered), warnings, typed_pair=True)

    def _hla_result(self, g: _Gene, given: str, status: dict[str, str], diplotype: str,
                    warnings: list[str], typed_pair: bool = False) -> GeneResult:
        phenos = [g.risk[a]["positive" if s.endswith("positive") else "negative"] for a, s in status.items()]
        positive = any(s.endswith("positive") for s in status.values())
        ehr = "Abnormal/Priority/High Risk" if positive else "Normal/Routine/Low Risk"
        lookup = None if typed_pair or len(status) != 1 else next(iter(status.values()))
        r = self._result(g, given, GeneStatus.OK, diplotype=diplotype, phenotype=None, lookup=lookup,
                         allele_status=status, warnings=warnings)
        return _replace(r, phenotype="; ".join(phenos), ehr_priority=ehr)

    # ---- single-SNP genes -------------------------------------------------------------------------
    def _snp(self, g: _Gene, text: str, given: str, warnings: list[str]) -> GeneResult:
        t = g.table
        named = g.genotype_names.get(name_key(text))
        if named is not None:
            copies, reordered = named
            if reordered:
                warnings.append("reordered alleles")
        else:
            parsed = parse_snp_genotype(text)
            if parsed is None:
                return self._error(g, given, GeneStatus.INVALID,
                                   f"'{text}' is not a {g.symbol} genotype (e.g. '{t['rsid']} "
                                   f"{t['ref']}{t['alt']}')", warnings)
            ident, a, b = parsed
            alias = t.get("position_alias")
            if ident == t["rsid"]:
                ref, alt = t["ref"], t["alt"]
            elif alias and ident.lstrip("c.") == alias["name"].lstrip("c."):
                ref, alt = alias["ref"], alias["alt"]
            else:
                return self._error(g, given, GeneStatus.UNKNOWN_ALLELE,
                                   f"{g.symbol} is typed at {t['rsid']}"
                                   + (f" ({alias['name']})" if alias else "") + f", not '{ident}'", warnings)
            bad = [x for x in (a, b) if x not in (ref, alt)]
            if bad:
                return self._error(g, given, GeneStatus.UNKNOWN_ALLELE,
                                   f"{ident} has alleles {ref}/{alt}; '{bad[0]}' is not one of them", warnings)
            copies = (a == alt) + (b == alt)
            if a == alt and b == ref:
                warnings.append("reordered alleles")
        gt = g.genotypes[copies]
        ph = gt["phenotype"]
        return self._result(g, given, GeneStatus.OK, diplotype=gt["diplotype"], phenotype=ph, lookup=ph,
                            warnings=warnings)

    # ---- phenotype and activity score inputs ----------------------------------------------------
    def _phenotype(self, g: _Gene, text: str, given: str) -> GeneResult:
        warnings: list[str] = []
        stripped, _ = strip_gene_prefix(text, g.prefixes)
        stripped = squash(stripped)
        if g.method == "carrier_status":
            carrier = parse_hla_carrier(_own_locus(stripped, g.symbol.removeprefix("HLA-"))[0])
            if carrier is None or isinstance(carrier, NotationError):
                return self._error(g, given, GeneStatus.UNKNOWN_ALLELE,
                                   f"'{text}' is not an {g.symbol} carrier result (e.g. '*57:01 positive')")
            return self._hla(g, stripped, given, warnings)
        low, synonym = phenotype_candidates(stripped)
        name = g.phen_ci.get(low)
        if name is None and synonym:
            name = g.phen_ci.get(synonym.lower())
        if name is None:
            return self._error(g, given, GeneStatus.UNKNOWN_ALLELE,
                               f"'{text}' is not a CPIC phenotype for {g.symbol} "
                               f"(known: {', '.join(g.display.get(p, p) for p in g.phen)})")
        shown = g.display.get(name, name)
        if stripped != shown:
            warnings.append(f"'{text}' normalized to {shown}")
        if name == g.indeterminate or name == INDETERMINATE:
            lookup = "n/a" if g.method == "activity_score" else name
            return self._result(g, given, GeneStatus.INDETERMINATE, phenotype=name, lookup=lookup, warnings=warnings,
                                message="the lab called the phenotype Indeterminate")
        lookup: str | None = name
        if g.method == "activity_score":
            lookup = self._score_for_phenotype(g, name)
            if lookup is None:
                warnings.append(f"{shown} spans several {g.symbol} activity scores; CPIC recommendations are "
                                f"keyed on the score, so give the activity score or the diplotype")
        return self._result(g, given, GeneStatus.OK, phenotype=name, lookup=lookup, warnings=warnings)

    @staticmethod
    def _score_for_phenotype(g: _Gene, phenotype: str) -> str | None:
        ts = g.table["activity_thresholds"]
        hits = [t for t in ts if t["phenotype"] == phenotype]
        if len(hits) != 1:
            return None
        low, high = hits[0]["min"], hits[0]["max"]
        if high is None and not g.copy_listed:  # open top band ends at the highest possible score
            high = format_score(g.max_exact)
        return low if low == high else None

    def _score(self, g: _Gene, text: str, given: str) -> GeneResult:
        if g.method != "activity_score":
            return self._error(g, given, GeneStatus.INVALID,
                               f"{g.symbol} has no activity score; give a diplotype or a phenotype")
        if text.lower() in ("n/a", "na", "indeterminate"):
            return self._result(g, given, GeneStatus.INDETERMINATE, phenotype=g.indeterminate, lookup="n/a",
                                message="activity score n/a (an allele of uncertain or unknown function)")
        parsed = parse_activity_score(text)
        if isinstance(parsed, NotationError):
            return self._error(g, given, GeneStatus.INVALID, parsed.message)
        q, ge = parsed
        warnings: list[str] = []
        if q % g.granularity:
            return self._error(g, given, GeneStatus.INVALID,
                               f"{g.symbol} activity scores are multiples of {format_score(g.granularity)}; "
                               f"got '{text}'")
        if ge and not g.copy_listed:
            return self._error(g, given, GeneStatus.INVALID, f"{g.symbol} activity scores have no '≥' bins")
        if ge and q < 12:
            return self._error(g, given, GeneStatus.INVALID, "CPIC writes '≥' only for scores of 3.0 and above")
        if not g.copy_listed and q > g.max_exact:
            return self._error(g, given, GeneStatus.INVALID,
                               f"{g.symbol} activity score '{text}' is above the maximum "
                               f"{format_score(g.max_exact)}")
        score = format_score(q, ge)
        if score != text:
            warnings.append(f"activity score '{text}' written as {score}")
        if g.copy_listed and not ge and q > 16:
            warnings.append(f"CPIC writes {g.symbol} scores above 4.0 only as '≥' bins; guidance for {score} "
                            f"follows CPIC's highest bin at or below it")
        ph = g.phenotype_for_score(q)
        return self._result(g, given, GeneStatus.OK, phenotype=ph, score=score, lookup=score, warnings=warnings)


_LOCUS = re.compile(r"(^|[;,]\s*)(?:HLA[-_ ]?)?([A-Z]{1,4}\d?)\*", re.IGNORECASE)


def _own_locus(text: str, letter: str) -> tuple[str, str | None]:
    """Drop the locus from each allele of a carrier result ('B*57:01 positive; HLA-B*58:01
    negative' -> '*57:01 positive; *58:01 negative'); -> (text, another locus named or None)."""
    loci = {m[2].upper() for m in _LOCUS.finditer(text)}
    if loci - {letter}:
        return text, min(loci - {letter})
    return (_LOCUS.sub(r"\1*", text) if loci else text), None


def _old_hla_name(a: Any) -> str:
    return f"{a.old_name} (HLA nomenclature before 2010, fields without colons) read as {a.text}"


def _input_of(entry: Any) -> str:
    for k in ("diplotype", "phenotype", "activity_score"):
        v = getattr(entry, k, None)
        if v is not None:
            return v if isinstance(v, str) else repr(v)
    return ""


def _replace(r: GeneResult, **changes: Any) -> GeneResult:
    from dataclasses import replace

    return replace(r, **changes)


_DERIVATION = {
    "activity_score": "sum of the two allele activity values (DPYD: the two lowest variant values); "
                      "copy number multiplies the value, 3 or more copies use CPIC's '≥' bins; any allele "
                      "without a value gives n/a (Indeterminate); score -> phenotype by activity_thresholds",
    "function_pair": "the pair of allele clinical functions -> phenotype (function_pairs)",
    "any_causative": "any causative variant -> causative_phenotype; otherwise the function pair",
    "x_linked": "one allele (male, hemizygous) -> single_allele rule; two alleles -> function_pairs",
    "single_allele": "the single (mitochondrial) allele's function -> phenotype",
    "carrier_status": "each CPIC risk allele is positive when either typed allele matches it at two fields",
    "rsid_genotype": "number of variant alleles at the SNP -> phenotype (genotypes)",
}

__all__ = ["PhenotypeEngine"]
