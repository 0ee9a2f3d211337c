"""A whole sample: every gene of the allele tables called from one VCF column."""

from __future__ import annotations

from .definitions import GeneDefinition
from .matcher import GeneMatch, call_gene
from .reader import VcfData, VcfProblem, norm_chrom, sample_calls


def build_definitions(tables: dict[str, dict]) -> dict[str, GeneDefinition]:
    return {g: GeneDefinition.from_table(t) for g, t in tables.items()}


def wanted_keys(defs: dict[str, GeneDefinition]) -> set[tuple[str, int]]:
    return {(norm_chrom(d.chromosome), p.pos) for d in defs.values() for p in d.positions}


def sample_index(data: VcfData, sample: str | None) -> int:
    if sample is not None:
        if sample not in data.samples:
            raise VcfProblem("unknown_sample", f"sample '{sample}' is not a column of this VCF "
                                               f"(it has {', '.join(data.samples[:10])})")
        return data.samples.index(sample)
    if len(data.samples) > 1:
        raise VcfProblem("sample_required", f"the VCF holds {len(data.samples)} samples "
                                            f"({', '.join(data.samples[:10])}); name one with 'sample'")
    return 0


def call_sample(defs: dict[str, GeneDefinition], data: VcfData, index: int,
                genes: list[str] | None = None) -> dict[str, GeneMatch]:
    calls = sample_calls(data, index)
    out = {}
    for gene in genes or sorted(defs):
        d = defs[gene]
        chrom = norm_chrom(d.chromosome)
        at = {p.pos: calls[(chrom, p.pos)] for p in d.positions if (chrom, p.pos) in calls}
        out[gene] = call_gene(d, at, d.chromosome)
    return out
