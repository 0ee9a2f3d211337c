"""Value types shared by every stage of the genotype -> phenotype -> guidance pipeline.

These are the only shapes the HTTP layer, the audit trail and the conformance scripts see of
the domain core. They are plain frozen dataclasses so that results can be cached and shared
between threads safely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


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
    dose_factor: str | None = None  # e.g. "0.5", "1.5-2"
    alternatives: tuple[str, ...] = ()
    source: Source | None = None
    guideline_id: str | None = None
    recommendation_id: str | None = None
    message: str | None = None
