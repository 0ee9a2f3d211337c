"""CDS Hooks cards from drug guidance (pure: no Flask, no database).

One card per ordered drug whose guidance calls for action, whatever the number of populations
its guideline has (the most urgent direction leads; the detail lists each population). Our
policy for the card's `indicator` (the spec prescribes none):
- `critical`: CPIC advises against the drug with a Strong classification because the patient
  carries a risk allele of a severe, immediate reaction (an HLA allele status `positive`, such as
  HLA-B*57:01 with abacavir or HLA-B*15:02 with carbamazepine) or is susceptible to malignant
  hyperthermia (RYR1/CACNA1S with volatile anaesthetics or succinylcholine): the guideline's
  "do not use";
- `warning`: any other `alternative`, and `decrease` / `increase`;
- `info`: `caution`; no card at all for `standard`, `none`, or guidance that could not be
  looked up (a missing gene, an indeterminate result).
Optional fields are left out rather than sent null or empty (CDS Hooks' JSON rule).
"""

from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from service.pgx.results import Direction, DrugGuidance, GeneResult, GuidanceStatus

SUMMARY_MAX = 139  # "<140-character"
OVERRIDE_SYSTEM = "https://pgx-service.invalid/CodeSystem/pgx-override-reason"
TOPIC_SYSTEM = "https://pgx-service.invalid/CodeSystem/pgx-card-topic"
LOINC = "http://loinc.org"
# LOINC answer list LL4049-4 (medication recommendation), as the Genomics Reporting IG uses it.
_TOPICS = {
    Direction.ALTERNATIVE: (LOINC, "LA26421-0", "Consider alternative medication"),
    Direction.DECREASE: (LOINC, "LA26422-8", "Decrease dose"),
    Direction.INCREASE: (LOINC, "LA26423-6", "Increase dose"),
    Direction.CAUTION: (TOPIC_SYSTEM, "use-with-caution", "Use with caution"),
}
_ACTION_WORDS = {
    Direction.ALTERNATIVE: "avoid; choose an alternative",
    Direction.DECREASE: "lower dose advised",
    Direction.INCREASE: "higher dose advised",
    Direction.CAUTION: "use with caution",
}
# Which guidance leads a drug's card: the most urgent first.
_RANK = {Direction.ALTERNATIVE: 0, Direction.DECREASE: 1, Direction.INCREASE: 1, Direction.CAUTION: 2}
OVERRIDE_REASONS = (
    ("benefit-outweighs-risk", "Benefit outweighs the risk for this patient"),
    ("previously-tolerated", "Patient has taken this drug before without harm"),
    ("result-not-applicable", "Genotype result does not apply (e.g. transplant, transfusion)"),
    ("will-monitor", "Will monitor closely (levels, response, adverse effects)"),
)
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&])")


@dataclass(frozen=True)
class DraftOrder:
    """A draft MedicationRequest of the hook's context and the drug it names."""

    reference: str  # "MedicationRequest/103"
    drug: str  # the drug name as the knowledge release names it, e.g. "clopidogrel"
    resource: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


def md(text: Any) -> str:
    """Text (from the EHR or our tables) safe inside Markdown: every special character escaped,
    so a genotype string can neither format nor inject a link or HTML."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def calls_for_action(d: DrugGuidance) -> bool:
    return d.status is GuidanceStatus.OK and d.direction in _RANK


def is_contraindication(d: DrugGuidance) -> bool:
    """CPIC's "do not use" results: Strong advice against the drug for an immediate, severe risk."""
    if d.direction is not Direction.ALTERNATIVE or (d.classification or "").lower() != "strong":
        return False
    return any(str(v).endswith(" positive") or v == "Malignant Hyperthermia Susceptibility"
               for v in d.genes.values())


def indicator_of(d: DrugGuidance) -> str:
    if is_contraindication(d):
        return "critical"
    return "info" if d.direction is Direction.CAUTION else "warning"


def _phenotype_phrase(d: DrugGuidance, genes: dict[str, GeneResult]) -> str:
    """How the summary names the result: the phenotype, or the allele status for HLA."""
    parts = []
    for gene, value in d.genes.items():
        value = str(value)
        result = genes.get(gene)
        if value.startswith("*") or value.endswith((" positive", " negative")):
            parts.append(f"{gene}{value}" if value.startswith("*") else f"{gene} {value}")
        elif result is not None and result.phenotype:
            parts.append(f"{gene} {result.phenotype}")
        else:
            parts.append(f"{gene} {value}")
    return " + ".join(parts)


def _percent(dose_factor: str | None) -> str | None:
    try:
        factor = Decimal(str(dose_factor))
    except (InvalidOperation, ValueError):
        return None
    if not factor.is_finite() or factor <= 0:
        return None
    return f"{(factor * 100).normalize():f}%"


def summary_of(d: DrugGuidance, genes: dict[str, GeneResult]) -> str:
    drug = d.drug[:1].upper() + d.drug[1:]
    words = _ACTION_WORDS[d.direction]
    pct = _percent(d.dose_factor) if d.direction in (Direction.DECREASE, Direction.INCREASE) else None
    if pct:
        words = f"start at {pct} of the usual dose"
    phrase = _phenotype_phrase(d, genes)
    for text in (f"{drug} with {phrase}: {words} (CPIC {d.classification})",
                 f"{drug} with {phrase}: {words}"):
        if len(text) <= SUMMARY_MAX:
            return text
    room = SUMMARY_MAX - len(f"{drug} with : {words}") - 1
    return f"{drug} with {phrase[:max(room, 10)]}…: {words}"[:SUMMARY_MAX]


def _genotype_line(gene: str, result: GeneResult | None) -> str:
    if result is None:
        return f"- **{md(gene)}**: no result on file"
    shown = result.diplotype or result.input
    line = f"- **{md(gene)}** {md(shown)}: {md(result.phenotype or 'no phenotype')}"
    if result.activity_score is not None:
        line += f" (activity score {md(result.activity_score)})"
    return line


def detail_of(lead: DrugGuidance, all_guidance: list[DrugGuidance], genes: dict[str, GeneResult],
              release: str) -> str:
    lines = ["**Pharmacogenomic result on file**", ""]
    lines += [_genotype_line(g, genes.get(g)) for g in lead.genes]
    lines += ["", "**Recommendation**", ""]
    for d in all_guidance:
        population = f" ({md(d.population)})" if d.population and len(all_guidance) > 1 else ""
        lines.append(f"- {md(d.recommendation or 'See the guideline.')}{population} "
                     f"CPIC classification: **{md(d.classification or 'not stated')}**.")
    if lead.alternatives:
        lines += ["", "Alternatives named by the guideline: " + ", ".join(md(a) for a in lead.alternatives) + "."]
    lines += ["", f"Knowledge release: {md(release)}."]
    if lead.source is not None:
        lines.append(f"Source: [{md(lead.source.name)}]({lead.source.url})")
    return "\n".join(lines)


def _coding(system: str, code: str, display: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": display}


def _suggestion(label: str, actions: list[dict[str, Any]], recommended: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"label": label, "uuid": str(uuid.uuid4()), "actions": actions}
    if recommended:
        out["isRecommended"] = True
    return out


def _new_order(order: DraftOrder, drug: str) -> dict[str, Any]:
    """A draft MedicationRequest for another drug, for the same patient and encounter."""
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": order.resource.get("intent") or "order",
        "medicationCodeableConcept": {"text": drug},
    }
    for key in ("subject", "encounter", "requester"):
        if isinstance(order.resource.get(key), dict):
            resource[key] = copy.deepcopy(order.resource[key])
    return resource


def _scaled_order(order: DraftOrder, dose_factor: str | None) -> tuple[dict[str, Any], str] | None:
    """The draft with its first dose scaled by the guideline's factor, when both are plain numbers."""
    try:
        factor = Decimal(str(dose_factor))
        quantity = order.resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]
        value = Decimal(str(quantity["value"]))
    except (InvalidOperation, ValueError, KeyError, IndexError, TypeError):
        return None
    if not factor.is_finite() or factor <= 0 or not value.is_finite() or value <= 0:
        return None
    resource = copy.deepcopy(order.resource)
    new_value = (value * factor).normalize()
    resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = (
        int(new_value) if new_value == new_value.to_integral_value() else float(new_value))
    unit = quantity.get("unit") or quantity.get("code") or ""
    return resource, f"{new_value:f} {unit}".strip()


def suggestions_of(lead: DrugGuidance, order: DraftOrder) -> list[dict[str, Any]]:
    drug = lead.drug
    delete = {"type": "delete", "description": f"Remove the draft {drug} order", "resourceId": order.reference}
    out = []
    if lead.direction is Direction.ALTERNATIVE:
        out.append(_suggestion(f"Cancel the {drug} order", [delete], recommended=is_contraindication(lead)))
        for alt in lead.alternatives[:3]:
            create = {"type": "create", "description": f"Create a draft order for {alt} instead",
                      "resource": _new_order(order, alt)}
            out.append(_suggestion(f"Replace {drug} with {alt}", [delete, create]))
    elif lead.direction in (Direction.DECREASE, Direction.INCREASE):
        scaled = _scaled_order(order, lead.dose_factor)
        if scaled is not None:
            resource, dose = scaled
            update = {"type": "update", "description": f"Change the {drug} dose to {dose}, as CPIC advises",
                      "resource": resource}
            out.append(_suggestion(f"Change the dose to {dose}", [update], recommended=True))
        out.append(_suggestion(f"Cancel the {drug} order to re-enter it at an adjusted dose", [delete]))
    return out


def card_for(order: DraftOrder, guidance: list[DrugGuidance], genes: dict[str, GeneResult],
             release: str) -> dict[str, Any] | None:
    """The card for one draft order, or None when no guidance for its drug calls for action."""
    acting = [d for d in guidance if calls_for_action(d)]
    if not acting:
        return None
    acting.sort(key=lambda d: (not is_contraindication(d), _RANK[d.direction]))
    lead = acting[0]
    card: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": summary_of(lead, genes),
        "indicator": indicator_of(lead),
        "detail": detail_of(lead, acting, genes, release),
        "source": {"label": lead.source.name if lead.source else "CPIC guideline",
                   "topic": _coding(*_TOPICS[lead.direction])},
    }
    if lead.source is not None:
        card["source"]["url"] = lead.source.url
    suggestions = suggestions_of(lead, order)
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = "at-most-one"
    if card["indicator"] != "info":
        card["overrideReasons"] = [_coding(OVERRIDE_SYSTEM, code, display) for code, display in OVERRIDE_REASONS]
    if lead.source is not None:
        card["links"] = [{"label": "CPIC guideline", "url": lead.source.url, "type": "absolute"}]
    card["extension"] = {"org.pgx-service.release": release, "org.pgx-service.direction": lead.direction.value,
                         "org.pgx-service.order": order.reference}
    return card
