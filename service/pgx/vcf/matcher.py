"""Named-allele matching, as PharmCAT's matcher scores it.

For one gene: the sample's bases at the defining positions present in the file (an absent
position is missing, never assumed reference); each named allele rebuilt on those positions
(its score = how many of them it defines; blanks then read as the reference allele's base);
every strand assignment consistent with the genotypes (phased positions fixed, phase sets free
to flip as a block, unphased heterozygous positions free); each pair of alleles that explains
the two strands scored as the sum of the two scores (minus one per IUPAC wobble the sample
does not need); all pairs tied at the top kept.

The strand search is per block, not over all 2^n sequences: an allele fits a block in one
orientation, the other, or both; two alleles pair when every block has an orientation that
fits the first allele and whose flip fits the second.
"""

from __future__ import annotations

import dataclasses
import itertools
import re

from .definitions import GeneDefinition
from .reader import SampleCall

_MAX_WOBBLE_ASSIGNMENTS = 4096


@dataclasses.dataclass
class GeneMatch:
    gene: str
    status: str  # called | no_call
    diplotypes: list[tuple[str, int]] = dataclasses.field(default_factory=list)
    variants: list[str] = dataclasses.field(default_factory=list)  # lowest-function genes
    missing_positions: list[int] = dataclasses.field(default_factory=list)
    phased: bool = False
    effectively_phased: bool = True
    warnings: list[str] = dataclasses.field(default_factory=list)
    message: str | None = None
    all_diplotypes: list[tuple[str, int]] = dataclasses.field(default_factory=list)

    @property
    def score(self) -> int | None:
        return self.diplotypes[0][1] if self.diplotypes else None


def _natural(name: str) -> tuple:
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name) if t)


def pair_name(a: str, b: str | None, reference: str) -> str:
    if b is None:
        return a
    first, second = sorted((a, b), key=_natural)
    return f"{first}/{second}"


@dataclasses.dataclass
class _Allele:
    name: str
    score: int
    allowed: list[frozenset[str]]  # per available index: what it accepts (blanks: the reference's)
    wobbles: list[int]  # indices where its own definition is an IUPAC wobble
    reference: bool


def _prepare_sites(defn: GeneDefinition, calls: dict[int, list[SampleCall]], chrom: str,
                   warnings: list[str]) -> tuple[list, list[int], str | None]:
    """Per defining position: (position, (base1, base2|None), phased, phase set) or missing."""
    sites, missing = [], []
    documented = {p.pos: {p.ref, *p.alts} for p in defn.positions}
    for p in defn.positions:
        where = f"{chrom}:{p.pos}"
        recs = calls.get(p.pos)
        if not recs:
            missing.append(p.pos)
            continue
        valid = [c for c in recs if c.ref == p.ref]
        if not valid:
            warnings.append(f"{where}: REF {recs[0].ref} disagrees with the definition's {p.ref} "
                            "(not normalized as PharmCAT expects?); position discarded")
            missing.append(p.pos)
            continue
        if len({c.gt + "|" + ",".join(c.alts) for c in valid}) > 1:
            warnings.append(f"{where}: several records disagree (split multi-allelic site?); merge them "
                            "(bcftools norm -m+) - position discarded")
            missing.append(p.pos)
            continue
        c = valid[0]
        bases = list(c.alleles)
        if not bases or all(b is None for b in bases):
            missing.append(p.pos)
            continue
        if len(bases) == 2 and (bases[0] is None) != (bases[1] is None):
            known = bases[0] or bases[1]
            if known == p.ref:
                warnings.append(f"{where}: half call {c.gt}; read as a no call")
                missing.append(p.pos)
                continue
            return [], missing, f"{where}: half call {c.gt} carries a variant on one strand only"
        fixed = []
        for b in bases:
            if b is None:
                continue
            if b == "?" or not re.fullmatch(r"[ACGT]+", b):
                warnings.append(f"{where}: allele '{b}' in GT {c.gt} is not a base sequence; position discarded")
                fixed = None
                break
            if b not in documented[p.pos]:
                if defn.undocumented_as_reference:
                    warnings.append(f"{where}: {b} is not a variant the definitions know; read as reference")
                    b = p.ref
                else:
                    return [], missing, (f"{where}: {b} is not a variant the definitions know "
                                         "(undocumented variation), so no named allele can be called")
            fixed.append(b)
        if fixed is None:
            missing.append(p.pos)
            continue
        pair = (fixed[0], fixed[1]) if len(fixed) == 2 else (fixed[0], None)
        sites.append((p.pos, pair, c.phased, c.phase_set))
    return sites, missing, None


def _alleles(defn: GeneDefinition, positions: list[int], any_missing: bool) -> list[_Allele]:
    ref_cells = next(c for _, r, c, _ in defn.accepts if r)
    fill = [ref_cells[p] for p in positions]
    out = []
    for name, reference, cells, wobble_pos in defn.accepts:
        score = sum(1 for p in positions if p in cells)
        if any_missing and score == 0:
            continue
        # blanks read as the reference allele's base; one base: its IUPAC class; a sequence
        # (indel, repeat): exactly itself
        allowed = [cells.get(p, f) for p, f in zip(positions, fill, strict=True)]
        wobbles = [i for i, p in enumerate(positions) if p in wobble_pos] if wobble_pos else []
        out.append(_Allele(name, score, allowed, wobbles, reference))
    return out


def call_gene(defn: GeneDefinition, calls: dict[int, list[SampleCall]], chrom: str | None = None) -> GeneMatch:
    chrom = chrom or defn.chromosome
    warnings: list[str] = []
    sites, missing, refusal = _prepare_sites(defn, calls, chrom, warnings)
    result = GeneMatch(defn.gene, "no_call", missing_positions=missing, warnings=warnings)
    if refusal:
        result.message = refusal
        return result
    if not sites:
        result.message = "none of the gene's defining positions is in the file"
        return result
    lost = sorted(defn.required_positions & set(missing))
    if lost:
        result.message = ("cannot call: required position(s) missing: "
                          + ", ".join(f"{chrom}:{p}" for p in lost))
        return result
    positions = [s[0] for s in sites]
    pairs = [s[1] for s in sites]
    haploid = all(b2 is None for _, b2 in pairs)
    if not haploid and any(b2 is None for _, b2 in pairs):
        result.message = "some positions carry one allele and others two; ploidy is unclear"
        return result
    het = [i for i, (b1, b2) in enumerate(pairs) if b2 is not None and b1 != b2]
    result.phased = all(s[2] for s in sites)  # as the VCF says (homozygous calls need no phase)
    # blocks of heterozygous positions that flip together
    blocks: dict[object, list[int]] = {}
    for i in het:
        _, _, phased, ps = sites[i]
        key = ("ps", ps) if phased and ps is not None else ("phased",) if phased else ("free", i)
        blocks.setdefault(key, []).append(i)
    block_list = list(blocks.values())
    result.effectively_phased = len(block_list) <= 1
    alleles = _alleles(defn, positions, bool(missing))
    hom = [i for i in range(len(pairs)) if i not in set(het)]

    def fits(a: _Allele, i: int, base: str) -> bool:
        return base in a.allowed[i]

    matched: list[tuple[_Allele, list[set[int]]]] = []
    for a in alleles:
        if not all(fits(a, i, pairs[i][0]) for i in hom):
            continue
        orient = []
        for blk in block_list:
            ok = {b for b in (0, 1) if all(fits(a, i, pairs[i][b]) for i in blk)}
            if not ok:
                break
            orient.append(ok)
        else:
            matched.append((a, orient))
    if not matched:
        result.message = "no named allele fits the genotypes at the defining positions"
        return result

    scored: dict[str, int] = {}
    if haploid:
        for a, _ in matched:
            scored[a.name] = _wobble_score(a, pairs, defn, positions, [], None, block_list, True)
    elif not het:
        for (a, _), (b, _) in itertools.combinations_with_replacement(matched, 2):
            s = _wobble_score(a, pairs, defn, positions, [], None, block_list, True) + \
                _wobble_score(b, pairs, defn, positions, [], None, block_list, True)
            scored[pair_name(a.name, b.name, defn.reference_allele.name)] = s
    else:
        for (a, oa), (b, ob) in itertools.combinations_with_replacement(matched, 2):
            choices = [sorted(x & {1 - y for y in yb}) for x, yb in zip(oa, ob, strict=True)]
            if not all(choices):
                continue
            best = None
            if not a.wobbles and not b.wobbles:
                best = a.score + b.score
            else:
                for n, assign in enumerate(itertools.product(*choices)):
                    if n >= _MAX_WOBBLE_ASSIGNMENTS:
                        break
                    same = a.name == b.name
                    s = _wobble_score(a, pairs, defn, positions, assign, oa, block_list, same) + \
                        _wobble_score(b, pairs, defn, positions, [1 - x for x in assign], ob, block_list, same)
                    best = s if best is None else max(best, s)
            name = pair_name(a.name, b.name, defn.reference_allele.name)
            scored[name] = max(scored.get(name, best), best)
    return _finish(defn, result, scored, matched, pairs)


def _wobble_score(a: _Allele, pairs, defn: GeneDefinition, positions, assign, orient, blocks, alone: bool) -> int:
    """The allele's score on its strand(s) of the pair: minus one per wobble where every strand
    it is read on carries the REF base."""
    if not a.wobbles:
        return a.score
    refs = {p.pos: p.ref for p in defn.positions}
    strands = [list(assign)]
    if not alone and orient is not None and all((1 - x) in o for x, o in zip(assign, orient, strict=True)):
        strands.append([1 - x for x in assign])  # it fits the other strand too
    where = {i: k for k, blk in enumerate(blocks) for i in blk}
    score = a.score
    for w in a.wobbles:
        b1, b2 = pairs[w]
        bases = []
        for st in strands:
            bases.append(b1 if w not in where or b2 is None or b1 == b2 else pairs[w][st[where[w]]])
        if all(b == refs[positions[w]] for b in bases):
            score -= 1
    return score


def _finish(defn: GeneDefinition, result: GeneMatch, scored: dict[str, int], matched, pairs) -> GeneMatch:
    if not scored:
        result.message = "no pair of named alleles explains both strands"
        if defn.lowest_function:
            result.variants = _variant_list(defn, matched, pairs)
            result.status = "called" if result.variants is not None else "no_call"
        return result
    # sub-alleles shown under their core name (SLCO1B1 *45.001/*45.002 -> *45)
    if defn.display_names:
        renamed: dict[str, int] = {}
        for name, s in scored.items():
            parts = [defn.display_names.get(x, x) for x in name.split("/")]
            key = pair_name(parts[0], parts[1] if len(parts) > 1 else None, defn.reference_allele.name)
            renamed[key] = max(renamed.get(key, s), s)
        scored = renamed
    ranked = sorted(scored.items(), key=lambda kv: (-kv[1], _natural(kv[0])))
    result.all_diplotypes = ranked
    top = [d for d in ranked if d[1] == ranked[0][1]]
    if defn.priorities and not result.effectively_phased and len(ranked) > 1:
        names = {n for n, _ in ranked}
        for candidates, pick in defn.priorities:
            if candidates <= names:
                top = [d for d in ranked if d[0] == pick]
                result.warnings.append(f"unphased {defn.gene} variants fit several diplotypes; {pick} "
                                       "is taken by PharmCAT's frequency-based priority")
                break
    if defn.lowest_function and not result.effectively_phased:
        result.variants = _variant_list(defn, matched, pairs)
        result.status = "called"
        return result
    result.diplotypes = top
    result.status = "called"
    return result


def _variant_list(defn: GeneDefinition, matched, pairs) -> list[str]:
    """Lowest-function genes on unphased data: every non-reference allele that fits a strand,
    twice when it fits both (homozygous)."""
    out = []
    for a, orient in matched:
        if a.reference:
            continue
        out.append(a.name)
        if all(len(o) == 2 for o in orient):  # no heterozygous block needs it on one strand only
            out.append(a.name)
    return out
