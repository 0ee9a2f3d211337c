"""VCF in, interpretation out, through the one interpretation-and-audit path.

`interpret_vcf(raw, ...)` streams the body (service.interpretation.vcf_input), calls each gene
of the release's allele tables with the pure matcher (service.pgx.vcf), turns the calls into
gene entries and interprets them with `interpret_body` like any other request. A top-score tie
whose diplotypes give different phenotypes is `indeterminate` (never a pick); a tie that agrees
is answered with a warning naming the others. Outside calls (CYP2D6, HLA, ...) are ordinary gene
entries beside the VCF. The audit record holds the VCF's digest and size, the sample, and the
called diplotypes - never the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, BinaryIO

from service.interpretation.events import audit_input
from service.interpretation.memo import RequestMemo, entry_from
from service.interpretation.present import receipt_fields
from service.interpretation.service import Caller, InvalidInput, interpret_body, record, record_refusal
from service.interpretation.vcf_input import BodyStream, TooLarge
from service.pgx.results import GeneStatus
from service.pgx.vcf.matcher import GeneMatch
from service.pgx.vcf.panel import call_sample, sample_index, wanted_keys
from service.pgx.vcf.reader import VcfProblem, read_vcf
from service.releases import current_knowledge


@dataclass(frozen=True, slots=True)
class VcfAnswer:
    status: int
    body: dict[str, Any]
    problem: bool = False


def match_dict(m: GeneMatch, chrom: str) -> dict[str, Any]:
    return {
        "candidates": [d for d, _ in m.diplotypes],
        "score": m.score,
        "missing_positions": [f"{chrom}:{p}" for p in m.missing_positions],
        "phased": m.phased,
        "effectively_phased": m.effectively_phased,
        "variants": list(m.variants),
        "warnings": list(m.warnings),
    }


def _lowest_two(kb, gene: str, variants: list[str], reference: str) -> list[str]:
    """DPYD/RYR1 on unphased data: the pair of the two lowest-function variants found (CPIC's
    DPYD rule), read by the gene table; candidates tie when the table cannot order them."""
    found = list(variants) + [reference, reference]
    pairs = {"/".join(sorted((a, b))) for i, a in enumerate(found) for b in found[i + 1:]}
    scored = []
    for p in sorted(pairs):
        r = kb.interpret(entry_from({"gene": gene, "diplotype": p}))
        if r.status is GeneStatus.OK:
            scored.append((_rank(r), p))
    if not scored:
        return []
    low = min(s for s, _ in scored)
    return [p for s, p in scored if s == low]


def _rank(r) -> tuple:
    try:
        return (0, float(r.activity_score)) if r.activity_score else (1, r.phenotype or "")
    except ValueError:
        return (1, r.phenotype or "")


def _gene_entry(kb, gene: str, m: GeneMatch, reference: str) -> tuple[dict | None, str, str | None]:
    """(entry for the engine or None, status for the match, message)."""
    if m.status != "called":
        return None, "no_call", m.message
    candidates = [d for d, _ in m.diplotypes]
    if not candidates and m.variants is not None:
        candidates = _lowest_two(kb, gene, m.variants, reference)
        if not candidates:
            return None, "no_call", f"{gene}: the variants found ({', '.join(m.variants)}) have no function to rank"
    results = [kb.interpret(entry_from({"gene": gene, "diplotype": d})) for d in candidates]
    phenotypes = {(r.status, r.phenotype, r.activity_score) for r in results}
    if len(phenotypes) > 1:
        listed = "; ".join(f"{d} -> {r.phenotype or r.status.value}" for d, r in zip(candidates, results, strict=True))
        return None, "indeterminate", f"{gene}: equally good diplotypes give different phenotypes ({listed})"
    note = None
    if len(candidates) > 1:
        note = (f"{gene}: {len(candidates)} diplotypes fit equally ({', '.join(candidates)}); "
                f"all give the same result, {candidates[0]} is shown")
    return {"gene": gene, "diplotype": candidates[0]}, "called", note


def interpret_vcf(raw: BinaryIO, *, gzipped: bool, limit: int, caller: Caller, sample: str | None = None,
                  drugs: list[str] | None = None, patient_ref: str | None = None,
                  outside: list[dict[str, Any]] | None = None, kb=None) -> VcfAnswer:
    kb = kb or current_knowledge()
    body = BodyStream(raw, gzipped=gzipped, limit=limit)
    defs = kb.allele_definitions
    try:
        if not defs:
            raise VcfProblem("no_definitions", f"knowledge release {kb.release} has no allele definitions")
        data = read_vcf(body.lines(), wanted_keys(defs))
        index = sample_index(data, sample)
        matches = call_sample(defs, data, index)
    except VcfProblem as exc:
        status = 413 if isinstance(exc, TooLarge) else 422
        detail = f"{exc.code}: {exc}"
        receipt = record_refusal(caller, status, detail, input={"valid": False, "vcf": body.summary(),
                                                                 "sample": sample}, patient_ref=patient_ref,
                                 drugs=list(drugs or ()), release=kb.release)
        return VcfAnswer(status, {"status": status, "title": "VCF refused", "detail": detail, "fault": exc.code,
                                  "audit_id": str(receipt.audit_id)}, problem=True)
    vcf_summary = {**body.summary(), "sample": data.samples[index], "samples": len(data.samples),
                   "records_read": sum(len(v) for v in data.records.values())}
    return answer_matches(kb, matches, caller=caller, vcf_summary=vcf_summary, drugs=drugs,
                          patient_ref=patient_ref, outside=outside)


def answer_matches(kb, matches: dict[str, GeneMatch], *, caller: Caller, vcf_summary: dict[str, Any],
                   drugs: list[str] | None = None, patient_ref: str | None = None,
                   outside: list[dict[str, Any]] | None = None) -> VcfAnswer:
    """One sample's gene matches -> its audited interpretation (the endpoint's and the CLI's)."""
    defs = kb.allele_definitions
    outside = list(outside or ())
    outside_genes = {e["gene"].upper() for e in outside}
    entries, extra_genes, notes = [], [], []
    for gene, m in matches.items():
        if gene in outside_genes:
            notes.append(f"{gene}: the outside call given is used; the VCF's call for it is not")
            continue
        entry, status, message = _gene_entry(kb, gene, m, defs[gene].reference_allele.name)
        info = match_dict(m, defs[gene].chromosome)
        if entry is None:
            extra_genes.append({"gene": gene, "input": "vcf", "diplotype": None, "status": status,
                                "phenotype": None, "message": message, "warnings": list(m.warnings),
                                "match": info})
            continue
        if message:
            notes.append(message)
        entries.append((entry, info))
    genotypes = [e for e, _ in entries] + outside
    request = {"genotypes": genotypes, "drugs": drugs, "patient_ref": patient_ref}
    try:
        done = interpret_body(RequestMemo(kb), request, caller)
    except InvalidInput as exc:
        detail = "; ".join(str(m) for m in exc.normalized_messages().get("genotypes", [str(exc)]))
        receipt = record_refusal(caller, 422, detail, input={**audit_input(genotypes, drugs), "vcf": vcf_summary},
                                 patient_ref=patient_ref, release=kb.release)
        return VcfAnswer(422, {"status": 422, "title": "VCF refused", "detail": detail, "fault": "conflict",
                               "audit_id": str(receipt.audit_id)}, problem=True)
    genes = [dict(g) for g in done.response["genes"]]
    for g, (_, info) in zip(genes, entries, strict=False):
        g["match"] = info
    for g in genes[len(entries):]:
        g["match"] = None  # an outside call
    event = dict(done.event)
    event["input"] = {**event.get("input", {}), "vcf": vcf_summary}
    event["warnings"] = list(event.get("warnings", [])) + notes
    event["result"] = {**event.get("result", {}),
                       "vcf_genes": {g["gene"]: g["status"] for g in extra_genes}}
    (receipt,) = record([event], caller)
    answer = {**done.response, "genes": genes + extra_genes, "warnings": notes,
              "vcf": {"sample": vcf_summary["sample"], "sha256": vcf_summary["sha256"]},
              **receipt_fields(receipt)}
    return VcfAnswer(200, answer)
