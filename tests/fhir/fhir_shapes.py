"""FHIR input shapes for the tests, written here after reading the Genomics Reporting IG's examples
(HL7/genomics-reporting input/fsh/CGExamples.fsh: the eMERGE Pgx-geno-100x genotypes, the HLA-B
GenotypeExample1, bundle-pgxexample.fsh, genotype-hla-a-glstring-r4.fsh) and the Genomics Operations
reference implementation's outputs (FHIR/genomics-operations). Not copies: the same shapes, built
by small functions so that each test states the one thing it changes."""

from __future__ import annotations

import copy
from typing import Any

LOINC = "http://loinc.org"
HGNC = "http://www.genenames.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CATEGORIES = [
    {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]},
    {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "GE"}]},
]


def gene_component(code: str | None = "HGNC:2621", display: str | None = "CYP2C19",
                   system: str = HGNC, text: str | None = None) -> dict[str, Any]:
    coding = {"system": system}
    if code is not None:
        coding["code"] = code
    if display is not None:
        coding["display"] = display
    value: dict[str, Any] = {"coding": [coding]} if code is not None or display is not None else {}
    if text is not None:
        value["text"] = text
    return {"code": {"coding": [{"system": LOINC, "code": "48018-6", "display": "Gene studied [ID]"}]},
            "valueCodeableConcept": value}


def genotype(value: dict[str, Any] | None, *, components: list[dict[str, Any]] | None = None,
             rid: str = "geno-1", subject: str = "Patient/p1", status: str = "final",
             code: bool = True) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation", "id": rid, "status": status,
        "meta": {"profile": ["http://hl7.org/fhir/uv/genomics-reporting/StructureDefinition/genotype"]},
        "category": copy.deepcopy(CATEGORIES),
        "subject": {"reference": subject},
    }
    if code:
        obs["code"] = {"coding": [{"system": LOINC, "code": "84413-4", "display": "Genotype display name"}]}
    if value is not None:
        obs["valueCodeableConcept"] = value
    obs["component"] = components if components is not None else [gene_component()]
    return obs


def text_genotype(text: str, hgnc: str = "HGNC:2621", symbol: str = "CYP2C19", **kw) -> dict[str, Any]:
    """The IG's SHOULD grammar: valueCodeableConcept.text 'CYP2C19 *2/*2'."""
    return genotype({"text": text}, components=[gene_component(hgnc, symbol)], **kw)


def medication(kind: str = "MedicationRequest", *, code: str | None = "32968", display: str | None = "clopidogrel",
               text: str | None = None, rid: str = "med-1") -> dict[str, Any]:
    concept: dict[str, Any] = {}
    if code is not None or display is not None:
        c = {"system": RXNORM}
        if code is not None:
            c["code"] = code
        if display is not None:
            c["display"] = display
        concept["coding"] = [c]
    if text is not None:
        concept["text"] = text
    res: dict[str, Any] = {"resourceType": kind, "id": rid, "status": "active" if kind == "MedicationStatement"
                           else "draft", "subject": {"reference": "Patient/p1"},
                           "medicationCodeableConcept": concept}
    if kind == "MedicationRequest":
        res["intent"] = "order"
    return res


def bundle(*resources: dict[str, Any], type_: str = "collection", full_urls: bool = True) -> dict[str, Any]:
    entries = []
    for i, r in enumerate(resources):
        e: dict[str, Any] = {"resource": r}
        if full_urls:
            e["fullUrl"] = f"http://example.org/fhir/{r['resourceType']}/{r.get('id', i)}"
        if type_ in ("transaction", "batch"):
            e["request"] = {"method": "POST", "url": r["resourceType"]}
        if type_ == "searchset":
            e["search"] = {"mode": "outcome" if r["resourceType"] == "OperationOutcome" else "match"}
        entries.append(e)
    return {"resourceType": "Bundle", "type": type_, "entry": entries}


# -- the IG's own example shapes -------------------------------------------------------------


def emerge_bundle() -> dict[str, Any]:
    """eMERGE (CGExamples.fsh Pgx-geno-1001..1003): CYP2C19 coded as ClinVar 638797 with the
    diplotype in the display, CYP2C9 and VKORC1 as text without a space after the gene."""
    patient = {"resourceType": "Patient", "id": "CGPatientExample01"}
    return bundle(
        patient,
        genotype({"coding": [{"system": "http://www.ncbi.nlm.nih.gov/clinvar", "code": "638797",
                              "display": "CYP2C19*2/*2"}]},
                 components=[gene_component("HGNC:2621", "CYP2C19")], rid="Pgx-geno-1001",
                 subject="Patient/CGPatientExample01"),
        genotype({"text": "CYP2C9*1/*1"}, components=[gene_component("HGNC:2623", "CYP2C9")],
                 rid="Pgx-geno-1002", subject="Patient/CGPatientExample01"),
        genotype({"text": "VKORC1 rs9923231 C/T"}, components=[gene_component("HGNC:23663", "VKORC1")],
                 rid="Pgx-geno-1003", subject="Patient/CGPatientExample01"),
    )


def pgx_transaction(diplotype_display: str = "CYP2C9 *4/*35B") -> dict[str, Any]:
    """bundle-pgxexample.fsh: a transaction whose genotype codes PharmVar with code = the gene and
    the diplotype in the display, beside haplotype and variant Observations and a
    MedicationStatement for mercaptopurine."""
    haplotype = genotype({"coding": [{"system": "http://www.pharmvar.org", "code": "CYP2C9",
                                      "display": "CYP2C9 *35B"}]},
                         components=[gene_component("HGNC:2623", "CYP2C9")], rid="haplotype-1", code=False)
    haplotype["code"] = {"coding": [{"system": LOINC, "code": "84414-2", "display": "Haplotype Name"}]}
    haplotype["meta"]["profile"] = ["http://hl7.org/fhir/uv/genomics-reporting/StructureDefinition/haplotype"]
    variant = {"resourceType": "Observation", "id": "variant-1", "status": "final",
               "code": {"coding": [{"system": LOINC, "code": "69548-6"}]},
               "valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA9633-4", "display": "Present"}]},
               "component": [gene_component("HGNC:2623", "CYP2C9")]}
    return bundle(
        {"resourceType": "Patient", "id": "ExamplePatient"},
        genotype({"coding": [{"system": "http://www.pharmvar.org", "code": "CYP2C9",
                              "display": diplotype_display}]},
                 components=[gene_component("HGNC:2623", "CYP2C9")], rid="genotype-pgx-example"),
        haplotype, variant,
        medication("MedicationStatement", code="103", display="mercaptopurine", rid="current-med-example"),
        type_="transaction",
    )


def hla_b_example() -> dict[str, Any]:
    """GenotypeExample1: HLA-B*15:02 as a ClinVar coding (presence of the allele), with a
    MedicationStatement for carbamazepine (RxNorm 2002)."""
    return bundle(
        genotype({"coding": [{"system": "http://www.ncbi.nlm.nih.gov/clinvar", "code": "14909",
                              "display": "HLA-B*15:02"}]},
                 components=[gene_component("HGNC:4932", "HLA-B")], rid="GenotypeExample1"),
        medication("MedicationStatement", code="2002", display="Carbamazepine"),
    )


def hla_a_glstring(code: str = "hla#3.31.0#HLA-A*03:01:01:01+HLA-A*30:01:01") -> dict[str, Any]:
    """genotype-hla-a-glstring-r4.fsh: the typed pair as a GL String coding."""
    return bundle(genotype({"coding": [{"system": "http://glstring.org", "version": "1.0", "code": code}]},
                           components=[gene_component("HGNC:4931", "HLA-A")], rid="genotype-hla-a"))


def genomics_operations_searchset() -> dict[str, Any]:
    """The Genomics Operations RI's shape: https PharmVar with the diplotype as the code, gene
    system genenames.org/geneId, one category only, in a searchset with an informational
    OperationOutcome."""
    obs = genotype({"coding": [{"system": "https://www.pharmvar.org", "code": "CYP2D6 *1/*41"}]},
                   components=[gene_component("HGNC:2625", "CYP2D6", system="http://www.genenames.org/geneId")],
                   rid="dv-1")
    obs["category"] = obs["category"][:1]
    outcome = {"resourceType": "OperationOutcome", "id": "oo-1",
               "issue": [{"severity": "information", "code": "informational", "diagnostics": "1 match"}]}
    return bundle(obs, outcome, type_="searchset")
