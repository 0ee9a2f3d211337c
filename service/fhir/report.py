"""An interpretation answer -> a Genomic Report Bundle (FHIR R4, Genomics Reporting IG STU3).

`genomic_report(answer, *, issued=None, codes=None) -> dict` takes the answer of
`POST /v1/interpretations` (`genes`, `drugs`, `release`, `audit_id`, `audit_seq`,
`patient_ref`) and returns a Bundle of type collection holding:
- one Genomic Report DiagnosticReport (LOINC 51969-4) whose `result` lists every Observation and
  whose `recommended-action` extensions point to every Task; the knowledge release, audit id
  and seq ride on it as extensions of ours (Bundle.identifier carries the audit id too);
- one Genotype Observation per gene result (84413-4; `valueCodeableConcept.text` in the IG's
  grammar 'CYP2C19 *2/*2'; a 48018-6 component with the HGNC id; categories laboratory and GE);
  phenotype, activity score, category and status as components of our code system;
- one Therapeutic Implication Observation per drug guidance and population: a
  therapeutic-implication component per gene (the IG's LOINC answer where one exists, e.g.
  LA9657-3 Poor metabolizer, LA19541-4 High risk for an HLA risk allele found; text otherwise),
  the drug as RxNorm ingredient (51963-7), the CPIC level (93044-6), our recommendation wording
  (conclusion-string), the guideline cited (workflow-relatedArtifact), and direction, status,
  classification, population, dose factor as components of ours;
- one Medication Recommendation Task (status requested, intent proposal, LL4049-4 code) per
  guidance whose direction is alternative, decrease or increase, `reasonReference` -> its
  Therapeutic Implication;
- a Patient (identifier = the caller's patient_ref) when the answer names one.
Every reference is a `urn:uuid:` fullUrl of the Bundle; the uuids derive from the audit id, so
the same answer always gives the same Bundle.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from service.fhir import codes as c
from service.fhir.codes import coding
from service.fhir.drugs import DrugCodes, default_drug_codes

_NAMESPACE = uuid.UUID("6c1f1a4e-2b7e-4f0a-9d35-5f2f3b7f9a10")
_HLA_STATUS_SUFFIXES = (" positive", " negative")


def _ours(code: str, display: str) -> dict[str, Any]:
    return {"coding": [coding(c.OUR_CODES, code, display)]}


def _categories() -> list[dict[str, Any]]:
    return [{"coding": [coding(c.OBS_CATEGORY, "laboratory", "Laboratory")]},
            {"coding": [coding(c.V2_0074, "GE", "Genetics")]}]


class _Ids:
    """urn:uuid fullUrls, stable for one audit id."""

    def __init__(self, seed: str | None):
        self._ns = uuid.uuid5(_NAMESPACE, seed) if seed else uuid.uuid4()

    def __call__(self, kind: str, n: int | str = 0) -> str:
        return f"urn:uuid:{uuid.uuid5(self._ns, f'{kind}/{n}')}"


def _gene_concept(gene: str) -> dict[str, Any]:
    hgnc = c.HGNC_IDS.get(gene)
    if hgnc is None:
        return {"text": gene}
    return {"coding": [coding(c.HGNC, hgnc, gene)], "text": gene}


def _component(code: dict[str, Any], **value: Any) -> dict[str, Any]:
    return {"code": code, **value}


def _ours_string(code: str, display: str, value: str) -> dict[str, Any]:
    return _component(_ours(code, display), valueString=value)


def _genotype(gene: dict[str, Any], full_url: str, subject: dict[str, Any] | None, issued: str) -> dict[str, Any]:
    name = gene["gene"]
    given = gene.get("diplotype") or gene.get("input")
    components = [_component({"coding": [coding(c.LOINC, c.GENE_STUDIED, "Gene studied [ID]")]},
                             valueCodeableConcept=_gene_concept(name))]
    if gene.get("phenotype"):
        components.append(_component(_ours("phenotype", "CPIC phenotype"),
                                     valueCodeableConcept=_phenotype_concept(gene["phenotype"])))
    if gene.get("activity_score") is not None:
        components.append(_ours_string("activity-score", "CPIC activity score", str(gene["activity_score"])))
    if gene.get("category"):
        components.append(_component(_ours("category", "Metabolism category"),
                                     valueCodeableConcept=_ours(f"category-{gene['category']}", gene["category"])))
    components.append(_component(_ours("result-status", "Result status"),
                                 valueCodeableConcept=_ours(f"status-{gene['status']}", gene["status"])))
    if gene.get("diplotype") is None:  # the entry gave a phenotype or a score: no genotype
        components.append(_ours_string("input", "Input as given", str(gene.get("input"))))
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": full_url.rsplit(":", 1)[-1],
        "meta": {"profile": [c.PROFILE_GENOTYPE]},
        "status": "final",
        "category": _categories(),
        "code": {"coding": [coding(c.LOINC, c.GENOTYPE_CODE, "Genotype display name")]},
        "issued": issued,
        "valueCodeableConcept": {"text": f"{name} {given}"},
        "component": components,
    }
    if subject:
        obs["subject"] = subject
    notes = [w for w in gene.get("warnings") or ()] + ([gene["message"]] if gene.get("message") else [])
    if notes:
        obs["note"] = [{"text": n} for n in notes]
    return obs


def _phenotype_concept(phenotype: str, text: str | None = None) -> dict[str, Any]:
    loinc = c.PHENOTYPE_LOINC.get(phenotype)
    out: dict[str, Any] = {"text": text or phenotype}
    if loinc:
        out["coding"] = [coding(c.LOINC, *loinc)]
    return out


def _implication_concept(gene: str, value: str, result: dict[str, Any] | None) -> dict[str, Any]:
    """The therapeutic-implication value for one gene of a guidance: by the value the guideline
    was looked up by (an HLA allele status, an activity score, a phenotype)."""
    if gene in c.HLA_GENES and value.endswith(_HLA_STATUS_SUFFIXES):
        risk = c.HLA_RISK_LOINC[value.rsplit(" ", 1)[1]]
        return {"coding": [coding(c.LOINC, *risk)], "text": f"{gene} {value}"}
    phenotype = (result or {}).get("phenotype")
    if phenotype and value != phenotype and phenotype in c.PHENOTYPE_LOINC:
        # looked up by activity score: the score's phenotype is the implication
        return _phenotype_concept(phenotype, f"{gene} {phenotype} (activity score {value})")
    return _phenotype_concept(value, f"{gene} {value}")


def _drug_concept(drug: str, codes: DrugCodes) -> dict[str, Any]:
    rxcui = codes.rxcui_of.get(drug)
    out: dict[str, Any] = {"text": drug}
    if rxcui:
        out["coding"] = [coding(c.RXNORM, rxcui, drug)]
    return out


def _evidence(guidance: dict[str, Any], codes: DrugCodes) -> str | None:
    source = guidance.get("source") or {}
    if source.get("organization") not in (None, "CPIC"):
        return None
    levels = codes.cpic_levels.get(guidance["drug"], {})
    found = [(g, levels[g]) for g in guidance.get("genes") or {} if g in levels]
    if not found:
        return None
    if len({lv for _, lv in found}) == 1:
        return f"CPIC Level {found[0][1]}"
    return "CPIC Level " + ", ".join(f"{lv} ({g})" for g, lv in found)


def _implication(guidance: dict[str, Any], full_url: str, genotype_urls: dict[str, str],
                 results: dict[str, dict[str, Any]], subject: dict[str, Any] | None, issued: str,
                 codes: DrugCodes) -> dict[str, Any]:
    genes = guidance.get("genes") or {}
    tbd = {"coding": [coding(c.TBD_CODES, c.THERAPEUTIC_IMPLICATION, "Therapeutic Implication")]}
    components = [_component(tbd, valueCodeableConcept=_implication_concept(g, str(v), results.get(g)))
                  for g, v in genes.items()]
    components.append(_component({"coding": [coding(c.LOINC, c.MEDICATION_ASSESSED, "Medication assessed [ID]")]},
                                 valueCodeableConcept=_drug_concept(guidance["drug"], codes)))
    evidence = _evidence(guidance, codes)
    if evidence:
        components.append(_component({"coding": [coding(c.LOINC, c.EVIDENCE_LEVEL, "Level of evidence")]},
                                     valueCodeableConcept={"text": evidence}))
    wording = guidance.get("recommendation") or guidance.get("message")
    if wording:
        components.append(_component({"coding": [coding(c.TBD_CODES, c.CONCLUSION_STRING, "Conclusion string")]},
                                     valueString=wording))
    direction = guidance.get("direction") or "none"
    components.append(_component(_ours("direction", "Dose direction"),
                                 valueCodeableConcept=_ours(f"direction-{direction}", direction)))
    components.append(_component(_ours("guidance-status", "Guidance status"),
                                 valueCodeableConcept=_ours(f"guidance-{guidance['status']}", guidance["status"])))
    for key, label in (("classification", "Classification of recommendation"), ("population", "Population"),
                       ("dose_factor", "Dose factor (fraction of the usual dose per administration)"),
                       ("frequency", "Dosing frequency")):
        if guidance.get(key) is not None:
            components.append(_ours_string(key.replace("_", "-"), label, str(guidance[key])))
    for gene in guidance.get("missing_genes") or ():
        components.append(_ours_string("missing-gene", "Gene needed but not given", gene))
    derived = [{"reference": genotype_urls[g], "display": g} for g in genes if g in genotype_urls]
    if not derived:  # nothing tested that the guideline keys on: say so, point nowhere
        derived = [{"display": "no result for " + ", ".join(guidance.get("missing_genes") or ["the genes needed"])}]
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": full_url.rsplit(":", 1)[-1],
        "meta": {"profile": [c.PROFILE_IMPLICATION]},
        "status": "final",
        "category": _categories(),
        "code": tbd,
        "issued": issued,
        "derivedFrom": derived,
        "component": components,
    }
    source = guidance.get("source") or {}
    if source.get("url"):
        artifact = {"type": "citation", "url": source["url"]}
        if source.get("name"):
            artifact["display"] = source["name"]
        obs["extension"] = [{"url": c.EXT_RELATED_ARTIFACT, "valueRelatedArtifact": artifact}]
    if subject:
        obs["subject"] = subject
    return obs


def _task(guidance: dict[str, Any], full_url: str, implication_url: str, subject: dict[str, Any] | None,
          issued: str) -> dict[str, Any]:
    code = c.TASK_CODES[guidance["direction"]]
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": full_url.rsplit(":", 1)[-1],
        "meta": {"profile": [c.PROFILE_RECOMMENDATION]},
        "status": "requested",
        "intent": "proposal",
        "code": {"coding": [coding(c.LOINC, *code)]},
        "description": guidance.get("recommendation") or code[1],
        "authoredOn": issued,
        "reasonReference": {"reference": implication_url, "display": guidance["drug"]},
    }
    if subject:
        task["for"] = subject
    return task


def genomic_report(answer: dict[str, Any], *, issued: str | None = None, codes: DrugCodes | None = None,
                   notes: tuple[str, ...] | list[str] = ()) -> dict[str, Any]:
    """The Genomic Report Bundle of an interpretation answer (see the module docstring); `notes`
    (how a posted Bundle was read: an entry skipped, an HLA allele read as a carrier result)
    ride on the report as reading-note extensions."""
    codes = codes or default_drug_codes()
    issued = issued or dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    ids = _Ids(answer.get("audit_id"))
    entries: list[dict[str, Any]] = []
    subject = None
    if answer.get("patient_ref"):
        patient_url = ids("Patient")
        entries.append({"fullUrl": patient_url, "resource": {
            "resourceType": "Patient", "id": patient_url.rsplit(":", 1)[-1],
            "identifier": [{"system": f"{c.OURS}/patient-ref", "value": str(answer["patient_ref"])}]}})
        subject = {"reference": patient_url}
    genes = answer.get("genes") or []
    results = {g["gene"]: g for g in genes}
    genotype_urls: dict[str, str] = {}
    observations: list[dict[str, Any]] = []
    for i, gene in enumerate(genes):
        url = genotype_urls[gene["gene"]] = ids("Genotype", i)
        observations.append({"fullUrl": url, "resource": _genotype(gene, url, subject, issued)})
    tasks: list[dict[str, Any]] = []
    for i, guidance in enumerate(answer.get("drugs") or []):
        url = ids("TherapeuticImplication", i)
        observations.append({"fullUrl": url, "resource": _implication(
            guidance, url, genotype_urls, results, subject, issued, codes)})
        if guidance.get("direction") in c.TASK_CODES:
            task_url = ids("MedicationRecommendation", i)
            tasks.append({"fullUrl": task_url, "resource": _task(guidance, task_url, url, subject, issued)})
    report_url = ids("GenomicReport")
    report = _report(answer, report_url, observations, tasks, subject, issued)
    report["extension"].extend({"url": c.EXT_READING_NOTE, "valueString": n} for n in notes)
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": ids("Bundle").rsplit(":", 1)[-1],
        "meta": {"lastUpdated": issued},
        "type": "collection",
        "timestamp": issued,
        "entry": [{"fullUrl": report_url, "resource": report}, *entries, *observations, *tasks],
    }
    if answer.get("audit_id"):
        bundle["identifier"] = {"system": c.EXT_AUDIT_ID, "value": str(answer["audit_id"])}
    return bundle


def _report(answer: dict[str, Any], full_url: str, observations: list[dict[str, Any]],
            tasks: list[dict[str, Any]], subject: dict[str, Any] | None, issued: str) -> dict[str, Any]:
    extensions = [{"url": c.EXT_RECOMMENDED_ACTION, "valueReference": {"reference": t["fullUrl"]}} for t in tasks]
    extensions.append({"url": c.EXT_RELEASE, "valueString": str(answer.get("release"))})
    if answer.get("audit_id"):
        extensions.append({"url": c.EXT_AUDIT_ID, "valueString": str(answer["audit_id"])})
    if answer.get("audit_seq") is not None:
        extensions.append({"url": c.EXT_AUDIT_SEQ, "valueInteger": int(answer["audit_seq"])})
    summary = "; ".join(f"{g['gene']} {g.get('diplotype') or g.get('input')}: {g.get('phenotype') or g['status']}"
                        for g in answer.get("genes") or [])
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": full_url.rsplit(":", 1)[-1],
        "meta": {"profile": [c.PROFILE_REPORT]},
        "extension": extensions,
        "status": "final",
        "category": [{"coding": [coding(c.V2_0074, "GE", "Genetics")]}],
        "code": {"coding": [coding(c.LOINC, c.REPORT_CODE, "Genetic analysis report")]},
        "effectiveDateTime": issued,
        "issued": issued,
        "result": [{"reference": o["fullUrl"]} for o in observations],
    }
    if subject:
        report["subject"] = subject
    if summary:
        report["conclusion"] = f"{summary}. Knowledge release {answer.get('release')}."
    return report
