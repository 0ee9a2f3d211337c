"""Typed refusals of FHIR input, each naming the offending resource and element.

Every refusal is a `FhirInputError` (a subclass per kind) holding one or more `Issue`s; an issue
names the resource (its fullUrl, else `Type/id`, else the entry index), the element as a
FHIRPath expression from the Bundle (`Bundle.entry[2].resource.component[0].valueCodeableConcept`)
and says what is wrong. `operation_outcome()` turns the issues into the OperationOutcome the
HTTP view answers with (422).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem. `code` is a FHIR issue-type (structure, required, value, invalid, conflict,
    not-supported, code-invalid, processing)."""

    code: str
    message: str
    expression: str  # FHIRPath of the offending element, from the posted resource
    resource: str | None = None  # fullUrl, 'Type/id' or 'Bundle.entry[i]'

    @property
    def diagnostics(self) -> str:
        return f"{self.resource}: {self.message}" if self.resource else self.message

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "expression": self.expression,
                "resource": self.resource}


class FhirInputError(Exception):
    """The posted FHIR content cannot be read without guessing."""

    kind = "invalid"

    def __init__(self, issues: list[Issue] | tuple[Issue, ...]):
        self.issues = tuple(issues)
        super().__init__("; ".join(i.diagnostics for i in self.issues))


class NotABundle(FhirInputError):
    kind = "not_a_bundle"


class MalformedBundle(FhirInputError):
    kind = "malformed_bundle"


class UnreadableGenotype(FhirInputError):
    """A Genotype Observation without a readable gene or genotype value, or with two that disagree."""

    kind = "unreadable_genotype"


class NoGenotype(FhirInputError):
    kind = "no_genotype"


class ConflictingInput(FhirInputError):
    """Two resources that disagree (two genotypes for one gene, two patients)."""

    kind = "conflicting_input"


class UnreadableMedication(FhirInputError):
    kind = "unreadable_medication"


class UninterpretableGenotype(FhirInputError):
    """Read, but the domain core refused it (unknown gene, unknown allele, malformed notation)."""

    kind = "uninterpretable_genotype"


def operation_outcome(issues: tuple[Issue, ...] | list[Issue], severity: str = "error") -> dict[str, Any]:
    """An R4 OperationOutcome with one issue per problem (expression = the element's FHIRPath)."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": severity, "code": i.code, "diagnostics": i.diagnostics,
             "expression": [i.expression]}
            for i in issues
        ],
    }
