"""Drugs named by MedicationRequest / MedicationStatement resources, and RxNorm codes for ours.

A medication is read, in this order, from
1. its RxNorm codings (`http://www.nlm.nih.gov/research/umls/rxnorm`): an ingredient code of a
   drug we cover (reference_tables/fhir/rxnorm_ingredients.yaml), else a clinical-drug, branded
   or brand-name code of the reviewed product table (rxnorm_products.yaml; a combination product
   names each ingredient we have guidance for, e.g. acetaminophen/codeine -> codeine);
2. else the names in the codings' displays and the text: every drug of ours named there as a
   whole word ('Clopidogrel 75 MG Oral Tablet', 'Tylenol with Codeine'); if none is, the name
   itself (its words before the strength, salts dropped), which the guidance then answers as a
   drug without a guideline.
A medication with none of these (e.g. only an unknown code) is refused, naming the element.
`medicationReference` is followed to a contained or Bundle Medication (its `code`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from service.fhir.codes import RXNORM
from service.fhir.errors import ConflictingInput, Issue, UnreadableMedication

TABLES = Path(__file__).resolve().parents[2] / "reference_tables" / "fhir"
MEDICATION_TYPES = ("MedicationRequest", "MedicationStatement")
_SALTS = frozenset(
    "hydrochloride hcl phosphate sulfate sodium potassium calcium magnesium bitartrate tartrate citrate "
    "maleate succinate besylate mesylate fumarate acetate bromide chloride hyclate monohydrate "
    "dihydrate trihydrate".split()
)
_STRENGTH = re.compile(r"^(?:\d|\[|\()")


@dataclass(frozen=True, slots=True)
class Product:
    rxcui: str
    tty: str
    name: str
    ingredients: tuple[str, ...]
    source: str


class DrugCodes:
    """The RxNorm tables: ingredient codes of our drugs, CPIC levels, and product codes."""

    def __init__(self, ingredients: list[dict[str, Any]], products: list[dict[str, Any]]):
        self.rxcui_of: dict[str, str] = {r["drug"]: str(r["rxcui"]) for r in ingredients}
        self.drug_of_rxcui: dict[str, str] = {v: k for k, v in self.rxcui_of.items()}
        self.cpic_levels: dict[str, dict[str, str]] = {r["drug"]: dict(r.get("cpic_levels") or {})
                                                       for r in ingredients}
        self.products: dict[str, Product] = {}
        for p in products:
            product = Product(str(p["rxcui"]), p["tty"], p["name"], tuple(p["ingredients"]), p["source"])
            unknown = [d for d in product.ingredients if d not in self.rxcui_of]
            if unknown or product.rxcui in self.drug_of_rxcui:
                raise ValueError(f"RxNorm product {product.rxcui}: unknown ingredient {unknown} or an "
                                 "ingredient code listed as a product")
            self.products[product.rxcui] = product
        # longest names first, so 'methylene blue' is found before any shorter name inside it
        names = sorted(self.rxcui_of, key=len, reverse=True)
        self._names = re.compile(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b", re.IGNORECASE)

    @classmethod
    def from_directory(cls, path: str | Path = TABLES) -> DrugCodes:
        root = Path(path)
        ingredients = yaml.safe_load((root / "rxnorm_ingredients.yaml").read_text(encoding="utf-8"))
        products = yaml.safe_load((root / "rxnorm_products.yaml").read_text(encoding="utf-8"))
        return cls(ingredients["ingredients"], products["products"])

    def drugs_of_code(self, rxcui: str) -> tuple[str, ...] | None:
        drug = self.drug_of_rxcui.get(rxcui)
        if drug is not None:
            return (drug,)
        product = self.products.get(rxcui)
        return product.ingredients if product is not None else None

    def drugs_named(self, text: str) -> tuple[str, ...]:
        """Our drugs named as whole words in a display or text, in order, each once."""
        found = [m.lower() for m in self._names.findall(text)]
        return tuple(dict.fromkeys(found))


@functools.cache
def default_drug_codes() -> DrugCodes:
    return DrugCodes.from_directory(TABLES)


def plain_name(text: str) -> str | None:
    """A drug name from free text: the words before the strength, salts dropped
    ('Lisinopril 10 MG Oral Tablet' -> 'lisinopril'); for a combination, its first part."""
    first = re.split(r"\s/\s|/", text.strip(), maxsplit=1)[0]
    words = []
    for word in first.lower().split():
        if _STRENGTH.match(word):
            break
        words.append(word)
    words = [w for w in words if w not in _SALTS] or words
    name = " ".join(words).strip(" ,;.")
    return name or None


@dataclass(frozen=True, slots=True)
class MedicationReading:
    """The drugs one medication resource names, and how they were read."""

    drugs: tuple[str, ...]
    how: str  # 'rxnorm' | 'name'
    resource: str
    expression: str


def _concept_of(resource: dict[str, Any], where: str, label: str, bundle_index: dict[str, Any] | None):
    """The medication CodeableConcept and its FHIRPath (following medicationReference)."""
    concept = resource.get("medicationCodeableConcept")
    if concept is not None:
        return concept, f"{where}.medicationCodeableConcept"
    ref = resource.get("medicationReference")
    if isinstance(ref, dict):
        target = ref.get("reference")
        med = None
        if isinstance(target, str) and target.startswith("#"):
            med = next((c for c in (resource.get("contained") if isinstance(resource.get("contained"), list) else ()) if isinstance(c, dict)
                        and c.get("resourceType") == "Medication" and c.get("id") == target[1:]), None)
        elif isinstance(target, str) and bundle_index is not None:
            med = bundle_index.get(target)
        if isinstance(med, dict) and isinstance(med.get("code"), dict):
            return med["code"], f"{where}.medicationReference.resolve().code"
        if isinstance(ref.get("display"), str):
            return {"text": ref["display"]}, f"{where}.medicationReference.display"
        raise UnreadableMedication([Issue(
            "not-found", f"medicationReference {target!r} does not resolve to a Medication in the Bundle "
            "and has no display", f"{where}.medicationReference", label)])
    raise UnreadableMedication([Issue(
        "required", "no medicationCodeableConcept or medicationReference", where, label)])


def read_medication(resource: dict[str, Any], where: str, label: str, *,
                    codes: DrugCodes | None = None,
                    bundle_index: dict[str, Any] | None = None) -> MedicationReading:
    """The drugs a MedicationRequest or MedicationStatement names.

    `where` is the resource's FHIRPath (`Bundle.entry[3].resource`), `label` its name in
    messages (fullUrl or Type/id); `bundle_index` maps references (fullUrl, Type/id) to the
    Bundle's resources, for `medicationReference`. Raises UnreadableMedication or
    ConflictingInput (two RxNorm codings naming different drugs)."""
    codes = codes or default_drug_codes()
    concept, path = _concept_of(resource, where, label, bundle_index)
    if not isinstance(concept, dict):
        raise UnreadableMedication([Issue("structure", "not a CodeableConcept", path, label)])
    codings = concept.get("coding") or []
    if not isinstance(codings, list):
        raise UnreadableMedication([Issue("structure", "coding is not an array", f"{path}.coding", label)])
    by_code: list[tuple[int, tuple[str, ...]]] = []
    names: list[str] = []
    for i, c in enumerate(codings):
        if not isinstance(c, dict):
            raise UnreadableMedication([Issue("structure", "not a Coding", f"{path}.coding[{i}]", label)])
        if c.get("system") == RXNORM and isinstance(c.get("code"), str):
            drugs = codes.drugs_of_code(c["code"].strip())
            if drugs is not None:
                by_code.append((i, drugs))
        if isinstance(c.get("display"), str):
            names.append(c["display"])
    if by_code:
        first_i, first = by_code[0]
        for i, drugs in by_code[1:]:
            if set(drugs) != set(first):
                raise ConflictingInput([Issue(
                    "conflict", f"RxNorm codings name different drugs: coding[{first_i}] {', '.join(first)}, "
                    f"coding[{i}] {', '.join(drugs)}", f"{path}.coding", label)])
        return MedicationReading(first, "rxnorm", label, f"{path}.coding[{first_i}]")
    if isinstance(concept.get("text"), str):
        names.append(concept["text"])
    for text in names:
        found = codes.drugs_named(text)
        if found:
            return MedicationReading(found, "name", label, path)
    for text in names:
        name = plain_name(text)
        if name:
            return MedicationReading((name,), "name", label, path)
    given = [f"{c.get('system')}|{c.get('code')}" for c in codings if isinstance(c, dict)]
    raise UnreadableMedication([Issue(
        "code-invalid", "no RxNorm code we know and no drug name in display or text"
        + (f" (codings: {', '.join(given)})" if given else ""), path, label)])
