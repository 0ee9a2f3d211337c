"""FHIR Genomics Reporting input -> our genotype entries and drug names (pure: no Flask, no DB).

API (also used by the CDS Hooks service for prefetch searchset Bundles and draft orders):

- `read_bundle(bundle, *, codes=None) -> BundleReading`: a Bundle of type collection,
  transaction, batch or searchset. `reading.entries()` are the gene entries in the notations
  `POST /v1/interpretations` accepts (`{"gene": "CYP2C19", "diplotype": "*2/*2"}`,
  HLA as `"*57:01 positive"` or a typed pair `"*15:02/*57:01"`); `reading.drugs` the drug names
  of its MedicationRequest / MedicationStatement resources (None when it has none: every drug
  the genes affect); `reading.patient_ref` the subject all genotypes share; `reading.body()` the
  interpretation body. Raises a `FhirInputError` subclass (service/fhir/errors.py) whose issues
  name the resource and element; never guesses.
- `read_genotypes(bundle, *, require=True) -> tuple[GenotypeObservation, ...]`: only the
  Genotype Observations (a searchset without any is `()` when `require=False`: no genotype on
  file). `read_genotype(resource, where, label)` reads one Observation.
- `read_drugs(bundle)` / `service.fhir.drugs.read_medication(resource, where, label)`: drugs of
  the medication resources of a Bundle / of one resource (for `context.draftOrders`).
- `GenotypeObservation.where` / `.value_path` locate each reading, so that a gene the domain
  core then refuses (unknown allele, unknown gene) is reported on its element:
  `refusals(readings, gene_results)` turns such results into `UninterpretableGenotype`.

Leniency (real senders differ; see the Genomics Reporting IG and its eMERGE examples):
a Genotype Observation is one coded LOINC 84413-4 or claiming the genotype profile. Its gene
comes from the 48018-6 component (an `HGNC:n` code or a symbol, systems genenames.org and
genenames.org/geneId, over http or https; else its text), else from the prefix of the value
('CYP2C19 *2/*2'). Its genotype comes from `valueCodeableConcept.text`, else a GL String coding
(`hla#3.31.0#HLA-A*03:01:01:01+HLA-A*30:01:01` -> `*03:01:01:01/*30:01:01`), else a coding's
display, else a coding's code (PharmVar http or https, ClinVar, ...); codes that are only a gene
symbol, a PharmVar/ClinVar number are no genotype. An HLA Genotype naming one allele
('HLA-B*15:02', as the IG's HLA example does) reports that allele present: `*15:02 positive`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from service.fhir.codes import (
    GENE_OF_HGNC,
    GENE_STUDIED,
    GENOTYPE_CODE,
    GLSTRING,
    HGNC_IDS,
    HGNC_SYSTEMS,
    HLA_GENES,
    LOINC,
    PROFILE_GENOTYPE,
    TEXT_ONLY_GENES,
)
from service.fhir.drugs import MEDICATION_TYPES, DrugCodes, read_medication
from service.fhir.errors import (
    ConflictingInput,
    FhirInputError,
    Issue,
    MalformedBundle,
    NoGenotype,
    NotABundle,
    UninterpretableGenotype,
    UnreadableGenotype,
)

BUNDLE_TYPES = ("collection", "transaction", "batch", "searchset")
SKIPPED_STATUSES = ("entered-in-error", "cancelled")
_SYMBOLS = sorted([*HGNC_IDS, *TEXT_ONLY_GENES], key=len, reverse=True)
_PREFIX = re.compile(r"^(" + "|".join(re.escape(s) for s in _SYMBOLS) + r")(?=[\s*:]|$)\s*", re.IGNORECASE)
_NOT_A_GENOTYPE_CODE = re.compile(r"^(?:\d+|PV\d+)$", re.IGNORECASE)
_GL_UNSUPPORTED = re.compile(r"[|/~^]")


@dataclass(frozen=True, slots=True)
class GenotypeObservation:
    """One Genotype Observation, read."""

    gene: str
    diplotype: str  # in our notation, gene prefix removed
    resource: str  # fullUrl, Type/id or Bundle.entry[i]
    where: str  # the resource's FHIRPath, 'Bundle.entry[2].resource'
    value_path: str  # the element the genotype was read from
    subject: str | None = None
    warnings: tuple[str, ...] = ()

    def entry(self) -> dict[str, str]:
        return {"gene": self.gene, "diplotype": self.diplotype}


@dataclass(frozen=True, slots=True)
class BundleReading:
    genotypes: tuple[GenotypeObservation, ...]
    drugs: tuple[str, ...] | None  # None: no medication resources, so every drug the genes affect
    patient_ref: str | None
    bundle_type: str
    warnings: tuple[str, ...] = field(default=())

    def entries(self) -> list[dict[str, str]]:
        return [g.entry() for g in self.genotypes]

    def body(self) -> dict[str, Any]:
        """The interpretation body POST /v1/interpretations would take for this Bundle."""
        body: dict[str, Any] = {"genotypes": self.entries()}
        if self.drugs is not None:
            body["drugs"] = list(self.drugs)
        if self.patient_ref is not None:
            body["patient_ref"] = self.patient_ref
        return body


# -- the Bundle ---------------------------------------------------------------------------------


def _items(value: Any) -> list[Any] | tuple[()]:
    """An array element's items; anything else (absent, an object where an array belongs) none."""
    return value if isinstance(value, list) else ()


@dataclass(frozen=True, slots=True)
class _Entry:
    index: int
    resource: dict[str, Any]
    label: str
    where: str


def _label(entry: dict[str, Any], resource: dict[str, Any], index: int) -> str:
    full = entry.get("fullUrl")
    if isinstance(full, str) and full:
        return full
    rid = resource.get("id")
    if isinstance(rid, str) and rid:
        return f"{resource.get('resourceType')}/{rid}"
    return f"Bundle.entry[{index}]"


def _entries(bundle: Any) -> tuple[str, list[_Entry], list[str]]:
    if not isinstance(bundle, dict):
        raise NotABundle([Issue("structure", "the body is not a FHIR resource (a JSON object)", "Bundle")])
    rtype = bundle.get("resourceType")
    if rtype != "Bundle":
        what = f"a {rtype}" if isinstance(rtype, str) else "no resourceType"
        raise NotABundle([Issue("structure", f"expected a Bundle, got {what}", "resourceType",
                                rtype if isinstance(rtype, str) else None)])
    btype = bundle.get("type")
    if btype not in BUNDLE_TYPES:
        raise MalformedBundle([Issue("value", f"Bundle.type must be one of {', '.join(BUNDLE_TYPES)}; "
                                     f"got {btype!r}", "Bundle.type")])
    raw = bundle.get("entry", [])
    if not isinstance(raw, list):
        raise MalformedBundle([Issue("structure", "Bundle.entry is not an array", "Bundle.entry")])
    entries, issues, warnings = [], [], []
    for i, e in enumerate(raw):
        where = f"Bundle.entry[{i}]"
        if not isinstance(e, dict):
            issues.append(Issue("structure", "an entry is not an object", where))
            continue
        resource = e.get("resource")
        if resource is None:
            method = (e.get("request") or {}).get("method") if isinstance(e.get("request"), dict) else None
            if btype in ("transaction", "batch") and method in ("DELETE", "GET", "HEAD"):
                continue  # a request without a resource: nothing to read
            issues.append(Issue("required", "an entry without a resource", where,
                                e.get("fullUrl") if isinstance(e.get("fullUrl"), str) else None))
            continue
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            issues.append(Issue("structure", "the entry's resource has no resourceType", f"{where}.resource"))
            continue
        entry = _Entry(i, resource, _label(e, resource, i), f"{where}.resource")
        if resource["resourceType"] == "OperationOutcome":
            bad = [x for x in _items(resource.get("issue")) if isinstance(x, dict)
                   and x.get("severity") in ("error", "fatal")]
            if bad:  # the sender says its search failed: the genotypes may be incomplete
                text = bad[0].get("diagnostics") or (bad[0].get("details") or {}).get("text") or bad[0].get("code")
                issues.append(Issue("incomplete", f"the Bundle carries an OperationOutcome with an "
                                    f"{bad[0].get('severity')} issue ({text}); its results may be incomplete",
                                    f"{entry.where}.issue", entry.label))
            elif resource.get("issue"):
                warnings.append(f"{entry.label}: the sender's OperationOutcome holds warnings only")
            continue
        entries.append(entry)
    if issues:
        raise MalformedBundle(issues)
    return btype, entries, warnings


def _index(entries: Iterable[_Entry]) -> dict[str, dict[str, Any]]:
    """References -> resources: by fullUrl and by Type/id."""
    out: dict[str, dict[str, Any]] = {}
    for e in entries:
        out[e.label] = e.resource
        rid = e.resource.get("id")
        if isinstance(rid, str):
            out[f"{e.resource['resourceType']}/{rid}"] = e.resource
    return out


def _codes(concept: Any) -> list[tuple[str | None, str | None]]:
    if not isinstance(concept, dict):
        return []
    return [(c.get("system"), c.get("code")) for c in _items(concept.get("coding")) if isinstance(c, dict)]


def is_genotype_observation(resource: dict[str, Any]) -> bool:
    if resource.get("resourceType") != "Observation":
        return False
    if (LOINC, GENOTYPE_CODE) in _codes(resource.get("code")):
        return True
    profiles = (resource.get("meta") or {}).get("profile") if isinstance(resource.get("meta"), dict) else None
    return isinstance(profiles, list) and any(isinstance(p, str) and p.split("|")[0] == PROFILE_GENOTYPE
                                              for p in profiles)


# -- one Genotype Observation -------------------------------------------------------------------


def _symbol_of(code: str) -> str | None:
    """A gene symbol from an HGNC code ('HGNC:2621') or a symbol ('CYP2C19'), or None."""
    code = code.strip()
    if code.upper().startswith("HGNC:"):
        return GENE_OF_HGNC.get("HGNC:" + code[5:].strip())
    m = _PREFIX.match(code)
    return m[1].upper() if m and m.end() == len(code) else None


def _gene_of_component(component: dict[str, Any], path: str, label: str) -> str:
    value = component.get("valueCodeableConcept")
    vpath = f"{path}.valueCodeableConcept"
    if not isinstance(value, dict):
        raise UnreadableGenotype([Issue("required", "the gene-studied component has no valueCodeableConcept",
                                        path, label)])
    genes: dict[str, str] = {}
    for i, c in enumerate(_items(value.get("coding"))):
        if not isinstance(c, dict):
            continue
        code, display = c.get("code"), c.get("display")
        cpath = f"{vpath}.coding[{i}]"
        if c.get("system") in HGNC_SYSTEMS and isinstance(code, str):
            symbol = _symbol_of(code)
            if symbol is None:
                raise UnreadableGenotype([Issue(
                    "code-invalid", f"gene {code!r} is not a gene this service interprets"
                    + (f" (display {display!r})" if display else ""), f"{cpath}.code", label)])
            shown = _symbol_of(display) if isinstance(display, str) else None
            if isinstance(display, str) and shown is not None and shown != symbol:
                raise UnreadableGenotype([Issue(
                    "conflict", f"gene code {code} is {symbol} but its display says {display!r}", cpath, label)])
            genes[symbol] = cpath
        elif isinstance(display, str) and _symbol_of(display):
            genes[_symbol_of(display)] = f"{cpath}.display"  # type: ignore[index]
    if not genes and isinstance(value.get("text"), str) and value["text"].strip():
        text = value["text"].strip()
        genes[_symbol_of(text) or text] = f"{vpath}.text"  # an unknown symbol: the core names it
    if not genes:
        raise UnreadableGenotype([Issue("required", "the gene-studied component names no gene "
                                        "(no HGNC coding, no symbol)", vpath, label)])
    if len(genes) > 1:
        raise UnreadableGenotype([Issue("conflict", f"the gene-studied component names several genes: "
                                        f"{', '.join(genes)}", vpath, label)])
    return next(iter(genes))


def _gene_components(resource: dict[str, Any], where: str, label: str) -> list[tuple[str, str]]:
    out = []
    comps = resource.get("component") or []
    if not isinstance(comps, list):
        raise UnreadableGenotype([Issue("structure", "component is not an array", f"{where}.component", label)])
    for i, comp in enumerate(comps):
        if isinstance(comp, dict) and (LOINC, GENE_STUDIED) in _codes(comp.get("code")):
            path = f"{where}.component[{i}]"
            out.append((_gene_of_component(comp, path, label), path))
    return out


def _gl_string(code: str, path: str, label: str) -> str:
    """'hla#3.31.0#HLA-A*03:01:01:01+HLA-A*30:01:01' -> 'HLA-A*03:01:01:01/HLA-A*30:01:01'."""
    body = code.rsplit("#", 1)[-1].strip()
    if _GL_UNSUPPORTED.search(body):
        raise UnreadableGenotype([Issue(
            "not-supported", f"GL String {body!r} is ambiguous or spans loci ('/', '|', '~' or '^'); "
            "send one typed pair", path, label)])
    alleles = [a.strip() for a in body.split("+")]
    if not 1 <= len(alleles) <= 2 or not all(alleles):
        raise UnreadableGenotype([Issue("invalid", f"GL String {body!r} is not one or two alleles joined "
                                        "by '+'", path, label)])
    return "/".join(alleles)


def _genotype_value(resource: dict[str, Any], where: str, label: str) -> tuple[str, str]:
    """(genotype text, its FHIRPath) from the value, by the order in the module docstring."""
    value = resource.get("valueCodeableConcept")
    vpath = f"{where}.valueCodeableConcept"
    if value is None and isinstance(resource.get("valueString"), str):
        return resource["valueString"], f"{where}.valueString"
    if not isinstance(value, dict):
        reason = resource.get("dataAbsentReason")
        why = ""
        if isinstance(reason, dict):
            why = f" (dataAbsentReason: {reason.get('text') or next(iter(_codes(reason)), (None, None))[1]})"
        raise UnreadableGenotype([Issue("required", "the Genotype Observation has no valueCodeableConcept"
                                        + why, vpath if value is not None else where, label)])
    text = value.get("text")
    if isinstance(text, str) and text.strip():
        return text.strip(), f"{vpath}.text"
    codings = [c for c in _items(value.get("coding")) if isinstance(c, dict)]
    for i, c in enumerate(codings):
        if c.get("system") == GLSTRING and isinstance(c.get("code"), str):
            return _gl_string(c["code"], f"{vpath}.coding[{i}].code", label), f"{vpath}.coding[{i}].code"
    for i, c in enumerate(codings):
        if isinstance(c.get("display"), str) and c["display"].strip():
            return c["display"].strip(), f"{vpath}.coding[{i}].display"
    for i, c in enumerate(codings):
        code = c.get("code")
        if isinstance(code, str) and code.strip() and not _NOT_A_GENOTYPE_CODE.match(code.strip()) \
                and _symbol_of(code) is None:
            return code.strip(), f"{vpath}.coding[{i}].code"
    raise UnreadableGenotype([Issue("required", "the genotype value has no text, display or code that "
                                    "is a genotype", vpath, label)])


def _strip_gene(diplotype: str, gene: str, path: str, label: str) -> str:
    """'*2/CYP2C19*17' -> '*2/*17'; an allele naming another gene is refused."""
    parts = []
    for part in diplotype.split("/"):
        m = _PREFIX.match(part.strip())
        if m and m[1].upper() != gene.upper():
            raise UnreadableGenotype([Issue("conflict", f"the genotype {diplotype!r} names {m[1]} in a "
                                            f"{gene} result", path, label)])
        parts.append(part.strip()[m.end():] if m else part.strip())
    return "/".join(parts)


def read_genotype(resource: dict[str, Any], where: str, label: str) -> GenotypeObservation:
    """One Genotype Observation (`where` its FHIRPath, `label` its fullUrl or Type/id)."""
    genes = _gene_components(resource, where, label)
    if len({g for g, _ in genes}) > 1:
        raise UnreadableGenotype([Issue("conflict", "several gene-studied components name different genes: "
                                        + ", ".join(g for g, _ in genes), f"{where}.component", label)])
    text, vpath = _genotype_value(resource, where, label)
    m = _PREFIX.match(text)
    prefix = m[1].upper() if m else None
    gene = genes[0][0] if genes else prefix
    if gene is None:
        raise UnreadableGenotype([Issue("required", f"no gene: no gene-studied component (LOINC {GENE_STUDIED}) "
                                        f"and the genotype {text!r} does not start with a gene symbol", vpath, label)])
    if prefix is not None and gene.upper() != prefix:
        raise UnreadableGenotype([Issue("conflict", f"the genotype {text!r} names {prefix} but the gene-studied "
                                        f"component says {gene}", vpath, label)])
    diplotype = _strip_gene(text[m.end():].strip() if m else text, gene, vpath, label)
    if not diplotype:
        raise UnreadableGenotype([Issue("required", f"the genotype {text!r} names the gene only", vpath, label)])
    warnings: list[str] = []
    if gene in HLA_GENES and "/" not in diplotype and not re.search(r"\b(?:positive|negative)\b", diplotype, re.I):
        # the IG's HLA Genotype reports the allele found ('HLA-B*15:02'): a carrier result
        allele = _PREFIX.sub("", diplotype).strip()
        diplotype = f"{allele} positive"
        warnings.append(f"{label}: the {gene} genotype names one allele, {allele}; read as carrier "
                        f"of {allele} ({diplotype!r})")
    subject = resource.get("subject")
    ref = subject.get("reference") if isinstance(subject, dict) else None
    return GenotypeObservation(gene=gene, diplotype=diplotype, resource=label, where=where, value_path=vpath,
                               subject=ref if isinstance(ref, str) else None, warnings=tuple(warnings))


def _read_genotypes(entries: list[_Entry], require: bool) -> tuple[tuple[GenotypeObservation, ...], list[str]]:
    readings: list[GenotypeObservation] = []
    issues: list[Issue] = []
    warnings: list[str] = []
    for e in entries:
        if not is_genotype_observation(e.resource):
            continue
        if e.resource.get("status") in SKIPPED_STATUSES:
            warnings.append(f"{e.label}: skipped, status {e.resource['status']}")
            continue
        try:
            readings.append(read_genotype(e.resource, e.where, e.label))
        except FhirInputError as exc:
            issues.extend(exc.issues)
    if issues:
        raise UnreadableGenotype(issues)
    by_gene: dict[str, GenotypeObservation] = {}
    kept: list[GenotypeObservation] = []
    for r in readings:
        seen = by_gene.get(r.gene)
        if seen is None:
            by_gene[r.gene] = r
            kept.append(r)
        elif seen.diplotype != r.diplotype:
            raise ConflictingInput([Issue("conflict", f"two genotypes for {r.gene}: {seen.diplotype!r} "
                                          f"({seen.resource}) and {r.diplotype!r}", r.value_path, r.resource)])
        else:
            warnings.append(f"{r.resource}: the same {r.gene} genotype as {seen.resource}; read once")
    subjects = {r.subject for r in kept if r.subject is not None}
    if len(subjects) > 1:
        raise ConflictingInput([Issue("conflict", "the genotypes belong to different subjects: "
                                      + ", ".join(sorted(subjects)), "Bundle.entry.resource.subject")])
    if require and not kept:
        raise NoGenotype([Issue("required", f"the Bundle holds no Genotype Observation (LOINC {GENOTYPE_CODE})",
                                "Bundle.entry")])
    for r in kept:
        warnings.extend(r.warnings)
    return tuple(kept), warnings


def read_genotypes(bundle: Any, *, require: bool = True) -> tuple[GenotypeObservation, ...]:
    _btype, entries, _warnings = _entries(bundle)
    return _read_genotypes(entries, require)[0]


def read_drugs(bundle: Any, *, codes: DrugCodes | None = None) -> tuple[str, ...] | None:
    _btype, entries, _warnings = _entries(bundle)
    return _read_drugs(entries, codes)


def _read_drugs(entries: list[_Entry], codes: DrugCodes | None) -> tuple[str, ...] | None:
    index = None
    drugs: list[str] = []
    found = False
    issues: list[Issue] = []
    kinds: set[type[FhirInputError]] = set()
    for e in entries:
        if e.resource["resourceType"] not in MEDICATION_TYPES:
            continue
        found = True
        if index is None:
            index = _index(entries)
        try:
            drugs.extend(read_medication(e.resource, e.where, e.label, codes=codes, bundle_index=index).drugs)
        except FhirInputError as exc:
            issues.extend(exc.issues)
            kinds.add(type(exc))
    if issues:
        raise (kinds.pop() if len(kinds) == 1 else FhirInputError)(issues)
    return tuple(dict.fromkeys(drugs)) if found else None


def read_bundle(bundle: Any, *, codes: DrugCodes | None = None) -> BundleReading:
    """A Bundle's genotypes, drugs and patient (see the module docstring)."""
    btype, entries, warnings = _entries(bundle)
    genotypes, more = _read_genotypes(entries, require=True)
    drugs = _read_drugs(entries, codes)
    subjects = {g.subject for g in genotypes if g.subject}
    return BundleReading(genotypes=genotypes, drugs=drugs, patient_ref=next(iter(subjects), None),
                         bundle_type=btype, warnings=tuple(warnings + more))


def refusals(readings: Iterable[GenotypeObservation], gene_results: Iterable[dict[str, Any]]) -> list[Issue]:
    """Issues for the gene results the domain core refused (status invalid / unknown_allele),
    each on the element its genotype was read from. `gene_results` are the answer's gene dicts
    (or objects with `gene`, `status`, `message`), in the order of the readings."""
    issues = []
    for reading, result in zip(readings, gene_results, strict=True):
        get = result.get if isinstance(result, dict) else lambda k, r=result: getattr(r, k, None)
        status = str(getattr(get("status"), "value", get("status")))
        if status in ("invalid", "unknown_allele"):
            code = "code-invalid" if status == "unknown_allele" else "value"
            issues.append(Issue(code, f"{reading.gene} {reading.diplotype!r}: {get('message') or status}",
                                reading.value_path, reading.resource))
    return issues


def refuse_uninterpretable(readings: Iterable[GenotypeObservation], gene_results: Iterable[Any]) -> None:
    issues = refusals(readings, gene_results)
    if issues:
        raise UninterpretableGenotype(issues)
