"""Value types shared by every stage of the genotype -> phenotype -> guidance pipeline.

These are the only shapes the HTTP layer, the audit trail and the conformance scripts see of
the domain core. They are plain frozen dataclasses so that results can be cached and shared
between threads safely.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any


class GeneStatus(StrEnum):
    """How far the core got with one gene entry (the contract's gene-result `status`)."""

    OK = "ok"
    INDETERMINATE = "indeterminate"  # parsed and known, but CPIC assigns no phenotype
    UNKNOWN_ALLELE = "unknown_allele"  # well-formed, but names an allele/phenotype we do not know
    INVALID = "invalid"  # malformed notation, unknown gene, or more than one input kind


class Category(StrEnum):
    FAST = "fast"
    NORMAL = "normal"
    SLOW = "slow"


class GuidanceStatus(StrEnum):
    OK = "ok"
    NO_RECOMMENDATION = "no_recommendation"
    MISSING_GENES = "missing_genes"
    INDETERMINATE = "indeterminate"
    NOT_IN_GUIDELINE = "not_in_guideline"
    NEEDS_CLINICAL_INPUTS = "needs_clinical_inputs"  # a dosing algorithm (warfarin): see its endpoint


class Direction(StrEnum):
    STANDARD = "standard"
    DECREASE = "decrease"
    INCREASE = "increase"
    ALTERNATIVE = "alternative"
    CAUTION = "caution"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class GenotypeEntry:
    """One gene entry as the caller gave it: exactly one of the three inputs is set."""

    gene: str
    diplotype: str | None = None
    phenotype: str | None = None
    activity_score: str | None = None


@dataclass(frozen=True, slots=True)
class GeneResult:
    """One gene's interpretation of one genotype (the contract's *gene result*)."""

    gene: str
    input: str
    status: GeneStatus
    diplotype: str | None = None  # normalized, e.g. "*1/*1x2"; None for phenotype/score input
    phenotype: str | None = None  # CPIC spelling without the gene name
    activity_score: str | None = None  # exactly as CPIC writes it ("1.5", "≥3.0")
    category: Category | None = None
    # The value guidelines are keyed on for this gene: the activity score for CYP2D6, CYP2C9 and
    # DPYD, an allele status for HLA ("*57:01 positive"), otherwise the phenotype. For HLA typed
    # pairs several keys follow from one result, hence a mapping "risk allele -> status".
    lookup_key: str | None = None
    allele_status: dict[str, str] = field(default_factory=dict)
    ehr_priority: str | None = None  # "Abnormal/Priority/High Risk", "Normal/Routine/Low Risk", None
    warnings: tuple[str, ...] = ()
    message: str | None = None  # why status is not ok, naming the offending part

    @property
    def ok(self) -> bool:
        return self.status is GeneStatus.OK


class _GeneResultBuilder:
    """Same slot layout as `GeneResult`, but plain (fast) attribute stores.

    A frozen dataclass assigns each of its 12 fields through `object.__setattr__` in its
    `__init__`, which costs microseconds per result and dominated the engine's cold path. The
    builder fills the identical slots with ordinary stores and then becomes a `GeneResult`
    (`__class__` assignment, allowed between classes with the same slot layout). The object is a
    genuine `GeneResult` - frozen, `dataclasses.asdict`/`replace`/`==` as usual - and is complete
    before anyone else can see it.
    """

    __slots__ = GeneResult.__slots__  # type: ignore[attr-defined]


def build_gene_result(gene: str, input: str, status: GeneStatus, diplotype: str | None,  # noqa: A002
                      phenotype: str | None, activity_score: str | None, category: Category | None,
                      lookup_key: str | None, allele_status: dict[str, str], ehr_priority: str | None,
                      warnings: tuple[str, ...], message: str | None) -> GeneResult:
    """`GeneResult(...)` with every field given positionally, about 5x cheaper (see above)."""
    r: Any = _GeneResultBuilder()
    r.gene = gene
    r.input = input
    r.status = status
    r.diplotype = diplotype
    r.phenotype = phenotype
    r.activity_score = activity_score
    r.category = category
    r.lookup_key = lookup_key
    r.allele_status = allele_status
    r.ehr_priority = ehr_priority
    r.warnings = warnings
    r.message = message
    r.__class__ = GeneResult
    return r


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    url: str
    version: str | None = None


@dataclass(frozen=True, slots=True)
class DrugGuidance:
    """Guidance for one drug and one population (the contract's *drug guidance*)."""

    drug: str
    status: GuidanceStatus
    genes: dict[str, str]  # gene -> value the guideline was looked up by
    missing_genes: tuple[str, ...] = ()
    direction: Direction = Direction.NONE
    classification: str | None = None  # Strong / Moderate / Optional / No Recommendation
    population: str | None = None
    recommendation: str | None = None  # our own wording
    dose_factor: str | None = None  # fraction of the usual dose per administration: "0.5", "1.5-2"
    frequency: str | None = None  # set where the guideline changes how often: "3 times a week"
    alternatives: tuple[str, ...] = ()
    source: Source | None = None
    guideline_id: str | None = None
    recommendation_id: str | None = None
    message: str | None = None
    phenoconversion: str | None = None  # which result a concomitant inhibitor left this guidance on


# The builder must mirror GeneResult's fields exactly, in order (checked once, at import).
if tuple(f.name for f in fields(GeneResult)) != _GeneResultBuilder.__slots__:  # pragma: no cover
    raise RuntimeError("GeneResult fields and _GeneResultBuilder slots differ")
