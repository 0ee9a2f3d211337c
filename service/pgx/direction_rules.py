"""The one rule from CPIC's recommendation wording to our `direction` (CONTRACT.md vocabulary).

Every row of reference_tables/guidelines/*.yaml must carry the direction this rule gives for its
CPIC recommendation (tests/pgx/test_direction_rules.py checks all of them against CPIC's text), so
the same wording - the same risk - always gets the same direction, whichever drug it is for.

The rule reads CPIC's main text (before "Other Considerations"), without a leading "Based on
<gene> status," and without PMID citations, and takes the first rule below that matches:

1. ``none``: CPIC classifies "No recommendation" (or N/A / blank), or the text says there is none.
2. ``caution``: use is left to clinical judgement or extra monitoring and no dose is stated
   ("cautiously consider", "consider the use ... with increased ... monitoring", "should guide
   use", "enzyme activity must be measured").
3. ``decrease``: CPIC splits by condition - a reduced dose for malignancy and, for non-malignant
   conditions, "consider" a non-thiopurine. The dose instruction governs (it is what applies where
   the drug is standard of care); the non-malignant alternative stays in the wording.
4. ``alternative``: the first instruction is about this drug not being used: avoid, is not
   recommended, (relatively) contraindicated, do not use, select / choose / prescribe / recommend
   / consider an alternative (or another therapy). A fallback dose "if it is warranted" does not
   change that. Avoiding *co-medication* (CYP2D6 inhibitors with tamoxifen) is not about the drug
   and is skipped.
5. ``increase``: the first instruction raises the starting dose.
6. ``decrease``: the first instruction lowers the dose (reduce, a per cent of the normal / lowest
   dose, a lower or lowest starting dose, a decreased dose, "prescribe <= N mg", an initiating
   dose followed by a 2-week wait before titrating), or any sentence asks for slower titration or
   a lower maintenance dose than usual.
7. ``caution``: the usual dose, with an explicit warning or extra monitoring (be aware of a raised
   risk, with caution, monitor closely because a gene's status is unknown).
8. ``standard``: the usual / label / desired starting dose, or no reason to avoid or change it.

Anything else is ``None`` (undecided): the test fails, so a new wording cannot slip through.
"""

from __future__ import annotations

import re

_FLAGS = re.I

_NONE_CLASSIFICATIONS = {"no recommendation", "n/a", ""}
_NONE = re.compile(r"^(no recommendation|no action recommended|insufficient evidence|xn is not|n/a$)", _FLAGS)
_JUDGEMENT = re.compile(
    r"(cautiously consider|consider the use of \S+ with increased frequency of clinical monitoring|"
    r"should guide use|enzyme activity must be measured)", _FLAGS)
_CONDITION_SPLIT = re.compile(r"for non-?malignant conditions, consider alternative non-?thiopurine", _FLAGS)
_CONDITION_DOSE = re.compile(r"for malignan(cy|t conditions), (start|initiate)|reduce (starting|daily) dose|"
                             r"reduced doses", _FLAGS)
_CO_MEDICATION = re.compile(r"^avoid (moderate and strong|strong and moderate) cyp2d6 inhibitors\.\s*", _FLAGS)
_ALTERNATIVE = re.compile(
    r"^(if (the )?patient is \S+-na[iï]ve(,| and alternative agents are available,) do not use\b|"
    r"avoid\b|\S+ is not recommended|\S+ is contraindicated|"
    r"(halogenated .*? )?(are|is) relatively contraindicated|"
    r"(select|choose|prescribe|recommend) (an )?alternative|"
    r"consider (an |a clinically appropriate )?(alternative|antidepressant not)|consider hormonal therapy|"
    r"for non-?malignant conditions, consider alternative)", _FLAGS)
_INCREASE = re.compile(r"^increase starting (daily )?dose", _FLAGS)
_DECREASE_FIRST = re.compile(
    r"(reduc|\d+% of (the )?(lowest|normal|starting)|lower starting dose|lowest recommended starting dose|"
    r"decreased dose|prescribe ?[≤<] ?\d|^initiate with a dose of \S+ (mg|mg/kg)(/day)? and if no clinical response)",
    _FLAGS)
_DECREASE_ANY = re.compile(r"(slower titration|lower maintenance dose|less than typical maintenance dose)", _FLAGS)
_CAUTION = re.compile(r"(aware of possible increased risk|with caution|close monitoring|monitor closely)", _FLAGS)
_STANDARD = re.compile(
    r"(standard|recommended starting dose|label[- ]recommended|label recommended|desired starting dose|"
    r"no need to avoid|no reason to avoid|normal starting dose|no adjustments needed|according to the product label|"
    r"no indication to change|^initiate with a dose of \S+ (mg|mg/kg)(/day)? and increase to)", _FLAGS)


def main_text(text: str) -> str:
    """CPIC's recommendation without its "Other Considerations", leading "Based on ..." and PMIDs."""
    t = text.split(" / Other Considerations")[0].strip()
    t = re.sub(r"^based( on)? (\w|-)+( status| genotype| phenotype)?, ", "", t, flags=_FLAGS)
    return re.sub(r"\s*\(PMIDs?:? [^)]*\)", "", t).strip()


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=[.;])\s+", text, maxsplit=1)[0]


def cpic_direction(text: str, classification: str) -> str | None:
    """CPIC's recommendation text and classification -> our direction, or None if no rule fits."""
    t = main_text(text)
    if classification.strip().lower() in _NONE_CLASSIFICATIONS or _NONE.match(t):
        return "none"
    if _JUDGEMENT.search(t):
        return "caution"
    if _CONDITION_SPLIT.search(t) and _CONDITION_DOSE.search(t):
        return "decrease"
    t = _CO_MEDICATION.sub("", t)
    first = _first_sentence(t)
    if _ALTERNATIVE.match(first):
        return "alternative"
    if _INCREASE.match(first):
        return "increase"
    if _DECREASE_FIRST.search(first) or _DECREASE_ANY.search(t):
        return "decrease"
    if _STANDARD.search(first):
        return "caution" if _CAUTION.search(t) else "standard"
    if _CAUTION.search(t):
        return "caution"
    return None


__all__ = ["cpic_direction", "main_text"]
