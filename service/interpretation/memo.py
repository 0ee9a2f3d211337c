"""One request's memo of interpretations: a batch repeats a few genotypes over many patients, so
each distinct entry is interpreted, each distinct answer's guidance and response dicts built, and
each distinct input's audit event normalized once per request. Results are frozen and the dicts
never mutated, so sharing them between items is safe."""

from __future__ import annotations

from typing import Any

from service.audit import normalized_event
from service.interpretation.events import audit_input, given, make_event, result_summary, warnings_of
from service.interpretation.present import gene_result_dict, guidance_dict
from service.pgx.results import DrugGuidance, GeneResult, GenotypeEntry


def entry_from(data: dict[str, Any]) -> GenotypeEntry:
    return GenotypeEntry(
        gene=data["gene"],
        diplotype=data.get("diplotype"),
        phenotype=data.get("phenotype"),
        activity_score=data.get("activity_score"),
    )


def entry_key(entry: GenotypeEntry) -> tuple:
    return (entry.gene, entry.diplotype, entry.phenotype, entry.activity_score)


class RequestMemo:
    """Interprets entries with one knowledge base, remembering within one request."""

    def __init__(self, kb):
        self.kb = kb
        self._genes: dict[tuple, GeneResult] = {}
        self._guidance: dict[tuple, tuple[list[DrugGuidance], list[dict[str, Any]]]] = {}
        self._gene_dicts: dict[tuple, dict[str, Any]] = {}
        self._events: dict[tuple, dict[str, Any]] = {}

    def interpret(self, entry: GenotypeEntry) -> GeneResult:
        key = entry_key(entry)
        result = self._genes.get(key)
        if result is None:
            # The engine never raises on caller input: problems come back as invalid/unknown_allele.
            result = self._genes[key] = self.kb.interpret(entry)
        return result

    def guidance(self, drugs: list[str] | None, entries: list[GenotypeEntry],
                 results: list[GeneResult]) -> list[DrugGuidance]:
        return self._guidance_and_dicts(drugs, entries, results)[0]

    def guidance_dicts(self, drugs: list[str] | None, entries: list[GenotypeEntry],
                       results: list[GeneResult]) -> tuple[list[DrugGuidance], list[dict[str, Any]]]:
        """The guidance and its response dicts, shared by every item with the same input (they
        are never mutated), so a large batch holds each distinct answer once."""
        return self._guidance_and_dicts(drugs, entries, results)

    def _guidance_and_dicts(self, drugs, entries, results):
        key = (None if drugs is None else tuple(drugs), frozenset(entry_key(e) for e in entries))
        out = self._guidance.get(key)
        if out is None:
            guidance = self.kb.guidance(drugs, results)
            out = self._guidance[key] = (guidance, [guidance_dict(d) for d in guidance])
        return out

    def answered_event(self, genotypes: list[dict[str, Any]], drugs: list[str] | None,
                       results: list[GeneResult], guidance: list[DrugGuidance]) -> dict[str, Any]:
        """The audit event of an answered body without its patient and purpose, normalized
        (service.audit.normalized_event) once per distinct input in this request. Keyed by the
        input exactly as given (each value with its type: 1, 1.0 and True are different
        inputs), in order."""
        key = (
            tuple(tuple((k, type(v), v) for k, v in given(e)) for e in genotypes),
            None if drugs is None else tuple(drugs),
        )
        event = self._events.get(key)
        if event is None:
            event = self._events[key] = normalized_event(make_event(
                outcome=200,
                input=audit_input(genotypes, drugs),
                result=result_summary(results, guidance),
                release=self.kb.release,
                warnings=warnings_of(results),
            ))
        return event

    def gene_dict(self, entry: GenotypeEntry) -> dict[str, Any]:
        key = entry_key(entry)
        out = self._gene_dicts.get(key)
        if out is None:
            out = self._gene_dicts[key] = gene_result_dict(self.interpret(entry))
        return out
