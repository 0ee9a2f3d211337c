"""Warfarin: a dosing algorithm, not a lookup table.

CPIC's 2017 warfarin guideline (Johnson et al., Clin Pharmacol Ther 2017;102:397-404, PMID
28198005) has no diplotype -> recommendation rows: it asks for a published pharmacogenetic
dosing algorithm (IWPC or Gage) and then adjusts the figure for variants those algorithms do not
model. This module is that pathway, pure: clinical inputs plus the engine's gene results in, a
weekly dose, a range and every step with its reason out.

- IWPC pharmacogenetic algorithm (N Engl J Med 2009;360:753-64, PMID 19228618): the linear
  predictor is the square root of the weekly dose, so the figure is its square, in mg/week.
- Age enters as whole decades, floor(age / 10): IWPC's data recorded age as decade bins
  ("60 - 69" -> 6), so 60 and 69 years give the same figure. A continuous age / 10 would put a
  65-year-old about 1.7 mg/week lower than the data the equation was fitted on.
- A genotype that was not given enters as IWPC's own "unknown" term, with a warning; it is never
  read as the reference genotype.
- Gage (Clin Pharmacol Ther 2008;84:326-31, PMID 18305455): ln of the daily dose, allele counts,
  BSA by Mosteller; selectable as the second algorithm.
- CPIC's adjustments are ranges (15-30 % less per CYP2C9 *5/*6/*8/*11 allele, ...): the answer is
  a range, never one adjusted number that CPIC does not give.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from service.pgx.results import Direction, DrugGuidance, GeneResult, GuidanceStatus, Source

GUIDELINE_NAME = "CPIC Guideline for Pharmacogenetics-Guided Warfarin Dosing (2017)"
GUIDELINE_URL = "https://cpicpgx.org/guidelines/guideline-for-warfarin-and-cyp2c9-and-vkorc1/"
GUIDELINE_PMID = "28198005"

RACES = ("white", "asian", "black", "unknown")
ALGORITHMS = ("iwpc", "gage")
ADULT_AGE = 18

# IWPC pharmacogenetic dosing algorithm, sqrt(mg/week).
IWPC_INTERCEPT = 5.6044
IWPC_AGE_DECADES = -0.2614
IWPC_HEIGHT_CM = 0.0087
IWPC_WEIGHT_KG = 0.0128
IWPC_VKORC1 = {"G/G": 0.0, "A/G": -0.8677, "A/A": -1.6974, None: -0.4854}
IWPC_CYP2C9 = {"*1/*1": 0.0, "*1/*2": -0.5211, "*1/*3": -0.9357, "*2/*2": -1.0616,
               "*2/*3": -1.9206, "*3/*3": -2.3312, None: -0.2188}
IWPC_RACE = {"white": 0.0, "asian": -0.1092, "black": -0.2760, "unknown": -0.1032}
IWPC_ENZYME_INDUCER = 1.1816
IWPC_AMIODARONE = -0.5503

# Gage pharmacogenetic algorithm, ln(mg/day).
GAGE_INTERCEPT = 0.9751
GAGE_VKORC1_PER_A = -0.3238
GAGE_BSA = 0.4317
GAGE_CYP2C9_3_PER_ALLELE = -0.4008
GAGE_AGE_YEARS = -0.00745
GAGE_CYP2C9_2_PER_ALLELE = -0.2066
GAGE_TARGET_INR = 0.2029
GAGE_AMIODARONE = -0.2538
GAGE_SMOKER = 0.0922
GAGE_AFRICAN_AMERICAN = -0.0901
GAGE_DVT_PE = 0.0664

# CYP2C9 alleles the algorithms model (*2, *3) and those CPIC adjusts for afterwards.
MODELLED_ALLELES = ("*1", "*2", "*3")
AFRICAN_VARIANTS = ("*5", "*6", "*8", "*11")
VKORC1_A_COPIES = {"Normal Activity": 0, "Reduced Activity": 1, "Low Activity": 2}


class WarfarinInputError(ValueError):
    """An input the calculation cannot use; `field` names it for the 422 answer."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class ClinicalInputs:
    age_years: float
    height_cm: float
    weight_kg: float
    race: str = "unknown"
    african_ancestry: bool | None = None  # None: true when race is black
    amiodarone: bool = False
    enzyme_inducer: bool = False
    # Whether CYP2C9 *5, *6, *8 and *11 were tested (None: unknown; true when one was found).
    cyp2c9_variants_tested: bool | None = None
    algorithm: str = "iwpc"
    target_inr: float = 2.5  # Gage only
    smoker: bool = False  # Gage only
    thrombosis: bool = False  # Gage only: DVT/PE as the indication


@dataclass(frozen=True)
class Term:
    """One term of the algorithm's linear predictor."""

    name: str
    value: float | str | None
    coefficient: float
    contribution: float


@dataclass(frozen=True)
class Adjustment:
    step: str
    reason: str
    classification: str | None
    low_factor: float | None = None  # multiply the weekly dose by [low, high]
    high_factor: float | None = None


@dataclass(frozen=True)
class WarfarinAnswer:
    status: str  # ok | dose_clinically | consider_alternative | pediatric | not_computable
    algorithm: str
    weekly_dose_mg: float | None
    dose_range_mg_per_week: tuple[float, float] | None
    recommendation: str
    classification: str | None
    adjustments: tuple[Adjustment, ...] = ()
    terms: tuple[Term, ...] = ()
    warnings: tuple[str, ...] = ()
    genotypes_used: dict[str, str | None] = field(default_factory=dict)


def _check_range(field_name: str, value: float, low: float, high: float, unit: str, hint: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise WarfarinInputError(field_name, f"{field_name} must be a number ({unit})")
    if not low <= value <= high:
        raise WarfarinInputError(field_name, f"{field_name} {value:g} is outside {low:g}-{high:g} {unit}{hint}")


def validate(inputs: ClinicalInputs) -> None:
    _check_range("age_years", inputs.age_years, 0, 120, "years")
    hint = "; give the height in centimetres, not metres" if 0 < inputs.height_cm < 3 else ""
    _check_range("height_cm", inputs.height_cm, 40, 250, "cm", hint)
    _check_range("weight_kg", inputs.weight_kg, 2, 300, "kg")
    if inputs.race not in RACES:
        raise WarfarinInputError("race", f"race must be one of {', '.join(RACES)} (IWPC's categories)")
    if inputs.algorithm not in ALGORITHMS:
        raise WarfarinInputError("algorithm", f"algorithm must be one of {', '.join(ALGORITHMS)}")
    _check_range("target_inr", inputs.target_inr, 1.5, 4.0, "")


def age_decades(age_years: float) -> int:
    """Whole decades, as IWPC's data binned age (see the module docstring)."""
    return int(age_years // 10)


def iwpc_terms(inputs: ClinicalInputs, vkorc1: str | None, cyp2c9: str | None) -> list[Term]:
    decades = age_decades(inputs.age_years)
    rows = [
        ("intercept", None, IWPC_INTERCEPT, 1.0),
        ("age in decades", decades, IWPC_AGE_DECADES, decades),
        ("height (cm)", inputs.height_cm, IWPC_HEIGHT_CM, inputs.height_cm),
        ("weight (kg)", inputs.weight_kg, IWPC_WEIGHT_KG, inputs.weight_kg),
        ("VKORC1 -1639G>A", vkorc1 or "unknown", IWPC_VKORC1[vkorc1], 1.0),
        ("CYP2C9", cyp2c9 or "unknown", IWPC_CYP2C9[cyp2c9], 1.0),
        ("race", inputs.race, IWPC_RACE[inputs.race], 1.0),
        ("enzyme inducer", inputs.enzyme_inducer, IWPC_ENZYME_INDUCER, float(inputs.enzyme_inducer)),
        ("amiodarone", inputs.amiodarone, IWPC_AMIODARONE, float(inputs.amiodarone)),
    ]
    return [Term(name, value, coef, coef * x) for name, value, coef, x in rows]


def iwpc_weekly_dose(terms: list[Term]) -> float:
    """The square of the linear predictor: mg/week."""
    root = sum(t.contribution for t in terms)
    return max(root, 0.0) ** 2


def mosteller_bsa(height_cm: float, weight_kg: float) -> float:
    return math.sqrt(height_cm * weight_kg / 3600.0)


def gage_terms(inputs: ClinicalInputs, vkorc1_a: int, star2: int, star3: int, african: bool) -> list[Term]:
    bsa = mosteller_bsa(inputs.height_cm, inputs.weight_kg)
    rows = [
        ("intercept", None, GAGE_INTERCEPT, 1.0),
        ("VKORC1 -1639A alleles", vkorc1_a, GAGE_VKORC1_PER_A, vkorc1_a),
        ("BSA (m2, Mosteller)", round(bsa, 4), GAGE_BSA, bsa),
        ("CYP2C9*3 alleles", star3, GAGE_CYP2C9_3_PER_ALLELE, star3),
        ("age (years)", inputs.age_years, GAGE_AGE_YEARS, inputs.age_years),
        ("CYP2C9*2 alleles", star2, GAGE_CYP2C9_2_PER_ALLELE, star2),
        ("target INR", inputs.target_inr, GAGE_TARGET_INR, inputs.target_inr),
        ("amiodarone", inputs.amiodarone, GAGE_AMIODARONE, float(inputs.amiodarone)),
        ("smoker", inputs.smoker, GAGE_SMOKER, float(inputs.smoker)),
        ("African American", african, GAGE_AFRICAN_AMERICAN, float(african)),
        ("DVT/PE", inputs.thrombosis, GAGE_DVT_PE, float(inputs.thrombosis)),
    ]
    return [Term(name, value, coef, coef * x) for name, value, coef, x in rows]


def gage_weekly_dose(terms: list[Term]) -> float:
    return math.exp(sum(t.contribution for t in terms)) * 7.0


@dataclass(frozen=True)
class _Cyp2c9:
    iwpc_key: str | None  # the diplotype as the algorithm knows it (*2/*3 only), None = unknown
    alleles: tuple[str, ...]
    african_variants: int  # copies of *5/*6/*8/*11
    poor_metabolizer: bool
    diplotype: str | None


def _read_cyp2c9(result: GeneResult | None) -> _Cyp2c9:
    if result is None:
        return _Cyp2c9(None, (), 0, False, None)
    if not result.ok or not result.diplotype:
        raise WarfarinInputError(
            "genotypes.CYP2C9",
            result.message or f"CYP2C9 {result.input!r} gives no usable result ({result.status})")
    alleles = tuple(result.diplotype.split("/"))
    outside = [a for a in alleles if a not in MODELLED_ALLELES + AFRICAN_VARIANTS]
    if outside:
        raise _OutsideAlgorithm(result, outside)
    modelled = sorted(a if a in MODELLED_ALLELES else "*1" for a in alleles)
    return _Cyp2c9("/".join(modelled), alleles, sum(a in AFRICAN_VARIANTS for a in alleles),
                   result.phenotype == "Poor Metabolizer", result.diplotype)


class _OutsideAlgorithm(Exception):
    def __init__(self, result: GeneResult, alleles: list[str]):
        super().__init__(alleles)
        self.result = result
        self.alleles = alleles


def _read_vkorc1(result: GeneResult | None) -> tuple[str | None, int | None]:
    if result is None:
        return None, None
    copies = VKORC1_A_COPIES.get(result.phenotype or "") if result.ok else None
    if copies is None:
        raise WarfarinInputError(
            "genotypes.VKORC1",
            result.message or f"VKORC1 {result.input!r} gives no -1639G>A genotype ({result.status})")
    return ("G/G", "A/G", "A/A")[copies], copies


def _carries_cyp4f2_star3(result: GeneResult | None) -> bool | None:
    if result is None:
        return None
    if not result.ok or not result.diplotype:
        raise WarfarinInputError("genotypes.CYP4F2",
                                 result.message or f"CYP4F2 {result.input!r} gives no usable result")
    return "*3" in result.diplotype.split("/")


def _rs12777823_present(result: GeneResult | None) -> bool | None:
    if result is None:
        return None
    if not result.ok:
        raise WarfarinInputError("genotypes.CYP2C",
                                 result.message or f"CYP2C {result.input!r} gives no usable result")
    return result.phenotype == "Cluster Variant Present"


def _range(weekly: float, adjustments: list[Adjustment]) -> tuple[float, float]:
    low = high = weekly
    for a in adjustments:
        if a.low_factor is not None and a.high_factor is not None:
            low *= a.low_factor
            high *= a.high_factor
    return round(min(low, high), 1), round(max(low, high), 1)


def dose(inputs: ClinicalInputs, genes: dict[str, GeneResult]) -> WarfarinAnswer:
    """CPIC's 2017 pathway over the chosen algorithm. Raises WarfarinInputError for bad input."""
    validate(inputs)
    african = inputs.race == "black" if inputs.african_ancestry is None else inputs.african_ancestry
    used = {g: (genes[g].diplotype or genes[g].phenotype) if g in genes else None
            for g in ("CYP2C9", "VKORC1", "CYP4F2", "CYP2C")}
    if inputs.age_years < ADULT_AGE:
        return WarfarinAnswer(
            "pediatric", inputs.algorithm, None, None,
            "No adult algorithm applies to a child. In children of European ancestry with CYP2C9 *2/*3 "
            "and VKORC1 -1639G>A known, CPIC suggests a validated pediatric pharmacogenetic algorithm "
            "(Hamberg, PMID 24330000; Biss, PMID 22010099); otherwise dose clinically.",
            "Optional", genotypes_used=used)

    vkorc1, vkorc1_a = _read_vkorc1(genes.get("VKORC1"))
    try:
        cyp = _read_cyp2c9(genes.get("CYP2C9"))
    except _OutsideAlgorithm as e:
        names = ", ".join(e.alleles)
        return WarfarinAnswer(
            "not_computable", inputs.algorithm, None, None,
            f"CYP2C9 {e.result.diplotype} carries {names}, which neither dosing algorithm models (they know *2 "
            "and *3) and CPIC gives no adjustment for: dose clinically, with close INR monitoring, or "
            "consider another anticoagulant.",
            None, warnings=(f"CYP2C9 {names} is outside the IWPC and Gage algorithms and CPIC's adjustments",),
            genotypes_used=used)
    cyp4f2 = _carries_cyp4f2_star3(genes.get("CYP4F2"))
    rs12777823 = _rs12777823_present(genes.get("CYP2C"))

    warnings: list[str] = []
    if vkorc1 is None:
        warnings.append("VKORC1 -1639G>A not given: the algorithm's 'unknown' VKORC1 term is used")
    if cyp.iwpc_key is None:
        warnings.append("CYP2C9 not given: the algorithm's 'unknown' CYP2C9 term is used")

    if inputs.algorithm == "gage":
        if vkorc1_a is None or cyp.iwpc_key is None:
            missing = "VKORC1" if vkorc1_a is None else "CYP2C9"
            raise WarfarinInputError(f"genotypes.{missing}",
                                     f"the Gage algorithm needs {missing}; it has no term for an unknown genotype")
        star2 = cyp.iwpc_key.split("/").count("*2")
        star3 = cyp.iwpc_key.split("/").count("*3")
        terms = gage_terms(inputs, vkorc1_a, star2, star3, african)
        weekly = round(gage_weekly_dose(terms), 1)
    else:
        terms = iwpc_terms(inputs, vkorc1, cyp.iwpc_key)
        weekly = round(iwpc_weekly_dose(terms), 1)

    tested = inputs.cyp2c9_variants_tested
    if cyp.african_variants:
        tested = True
    adjustments: list[Adjustment] = []
    classification = "Moderate" if african else "Strong"
    if african and not tested:
        adjustments.append(Adjustment(
            "african_ancestry_untested",
            "African ancestry and CYP2C9 *5, *6, *8 and *11 not known to be tested: these alleles are common "
            "in this population and the algorithm cannot see them, so CPIC advises dosing clinically, without "
            "the genotype (set cyp2c9_variants_tested if the lab tested them).", "Moderate"))
        return WarfarinAnswer(
            "dose_clinically", inputs.algorithm, None, None,
            "Dose warfarin clinically (a clinical algorithm or the usual starting dose) with INR monitoring; "
            "the genotype-based figure does not apply until CYP2C9 *5, *6, *8 and *11 are tested.",
            "Moderate", tuple(adjustments), tuple(terms), tuple(warnings), used)

    if cyp.poor_metabolizer:
        verb = "should" if african else "might"
        adjustments.append(Adjustment(
            "cyp2c9_poor_metabolizer",
            f"CYP2C9 poor metabolizer ({cyp.diplotype}): an alternative oral anticoagulant {verb} be "
            "considered; if warfarin is used, start from the calculated dose.", "Strong"))
    if cyp.african_variants:
        both_variant = all(a != "*1" for a in cyp.alleles)
        low, high = (0.60, 0.80) if both_variant else (0.70, 0.85)
        pct = "20-40 %" if both_variant else "15-30 %"
        adjustments.append(Adjustment(
            "cyp2c9_african_variant",
            f"CYP2C9 {cyp.diplotype} carries {', '.join(a for a in cyp.alleles if a in AFRICAN_VARIANTS)}, "
            f"which the algorithm does not model: reduce the calculated dose by {pct} "
            f"({'both alleles are variant' if both_variant else 'per variant allele'}), or consider another agent.",
            "Moderate" if african else "Optional", low, high))
    if african:
        if rs12777823:
            adjustments.append(Adjustment(
                "rs12777823_african_american",
                "rs12777823 A carrier (CYP2C cluster) in a patient of African ancestry: reduce the calculated dose "
                "by 10-25 %.", "Moderate", 0.75, 0.90))
        elif rs12777823 is None:
            warnings.append("rs12777823 (CYP2C cluster) not given: CPIC's 10-25 % reduction for carriers of "
                            "African ancestry could not be checked")
    else:
        if cyp4f2:
            adjustments.append(Adjustment(
                "cyp4f2_star3",
                "CYP4F2 *3 (rs2108622 T, p.V433M) carrier: increase the calculated dose by 5-10 %.",
                "Optional", 1.05, 1.10))
        if rs12777823:
            warnings.append("rs12777823 is not used outside African ancestry (CPIC): ignored")

    dose_range = _range(weekly, adjustments)
    if cyp.poor_metabolizer:
        status = "consider_alternative"
        recommendation = (f"CYP2C9 poor metabolizer: consider an alternative oral anticoagulant. If warfarin is "
                          f"used, the calculated start is {dose_range[0]:g}-{dose_range[1]:g} mg/week with close "
                          "INR monitoring.")
        classification = "Strong"
    else:
        status = "ok"
        span = (f"{weekly:g} mg/week" if dose_range[0] == dose_range[1]
                else f"{dose_range[0]:g}-{dose_range[1]:g} mg/week (calculated {weekly:g})")
        recommendation = (f"Start warfarin at about {span}, by the {inputs.algorithm.upper()} pharmacogenetic "
                          "algorithm with CPIC's adjustments, and titrate to the target INR.")
    return WarfarinAnswer(status, inputs.algorithm, weekly, dose_range, recommendation, classification,
                          tuple(adjustments), tuple(terms), tuple(warnings), used)


# -- warfarin among the other drugs: genotype-level guidance ------------------------------------

GENES = ("CYP2C9", "VKORC1")  # the algorithm needs both; CYP4F2 and CYP2C (rs12777823) refine it
OPTIONAL_GENES = ("CYP4F2", "CYP2C")
DOSING_ENDPOINT = "POST /v1/dosing/warfarin"
SOURCE = Source(name=GUIDELINE_NAME, url=GUIDELINE_URL, version="2017 (PMID 28198005)")
_DECREASED = ("*2", "*3", *AFRICAN_VARIANTS)


def genotype_guidance(results: dict[str, GeneResult]) -> DrugGuidance:
    """What the genotype alone says about warfarin: which way the dose goes, and that the dose
    itself needs the clinical inputs of the dosing endpoint."""
    missing = tuple(g for g in GENES if g not in results)
    shown = {g: (r.diplotype or r.phenotype or r.input) for g, r in results.items()
             if g in GENES + OPTIONAL_GENES}
    ask = (f"the weekly dose needs age, height, weight, race, amiodarone and enzyme-inducer use: "
           f"{DOSING_ENDPOINT}")
    if missing:
        return DrugGuidance("warfarin", GuidanceStatus.MISSING_GENES, shown, missing, Direction.NONE,
                            None, "general", None, source=SOURCE,
                            message=f"warfarin is dosed from CYP2C9 and VKORC1 together; "
                                    f"{' and '.join(missing)} not given")
    bad = [g for g in GENES if not results[g].ok]
    if bad:
        r = results[bad[0]]
        return DrugGuidance("warfarin", GuidanceStatus.INDETERMINATE, shown, (), Direction.NONE, None,
                            "general", None, source=SOURCE,
                            message=f"{r.gene} {r.input!r} gives no usable result ({r.status}); dose clinically")
    cyp, vk = results["CYP2C9"], results["VKORC1"]
    a_copies = VKORC1_A_COPIES.get(vk.phenotype or "", 0)
    decreased = [a for a in (cyp.diplotype or "").split("/") if a in _DECREASED]
    if cyp.phenotype == "Poor Metabolizer":
        direction, classification = Direction.ALTERNATIVE, "Strong"
        text = (f"CYP2C9 poor metabolizer: consider an alternative oral anticoagulant; if warfarin is used, "
                f"expect a much lower dose ({ask}).")
    elif a_copies or decreased or cyp.phenotype == "Intermediate Metabolizer":
        direction, classification = Direction.DECREASE, "Strong"
        why = [f"VKORC1 -1639A x{a_copies}"] if a_copies else []
        why += [f"CYP2C9 {', '.join(decreased)}"] if decreased else []
        text = (f"A lower warfarin dose than usual is expected ({'; '.join(why) or cyp.phenotype}); calculate it "
                f"with the pharmacogenetic algorithm and CPIC's adjustments ({ask}).")
    else:
        direction, classification = Direction.STANDARD, "Strong"
        text = (f"No reduced-sensitivity variant in CYP2C9 *2/*3 or VKORC1 -1639: the usual dose range is "
                f"expected; calculate the dose with the pharmacogenetic algorithm ({ask}).")
    return DrugGuidance("warfarin", GuidanceStatus.NEEDS_CLINICAL_INPUTS, shown, (), direction,
                        classification, "general", text, source=SOURCE,
                        message=f"the dose is calculated, not looked up: {DOSING_ENDPOINT}")
