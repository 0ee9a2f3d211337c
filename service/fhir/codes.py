"""Code systems and codes of the HL7 Genomics Reporting IG (STU3 3.0.0, FHIR R4 4.0.1) that the
translation reads and writes, and the HGNC ids of the genes the service interprets.

Facts only: the codes are the IG's (input/fsh/Aliases.fsh, CGValueSets.fsh, CGImplications.fsh
of HL7/genomics-reporting at tag 3.0.0-published) and HGNC's (genenames.org).
"""

from __future__ import annotations

IG = "http://hl7.org/fhir/uv/genomics-reporting"
PROFILE_BASE = f"{IG}/StructureDefinition/"
PROFILE_REPORT = PROFILE_BASE + "genomic-report"
PROFILE_GENOTYPE = PROFILE_BASE + "genotype"
PROFILE_IMPLICATION = PROFILE_BASE + "therapeutic-implication"
PROFILE_RECOMMENDATION = PROFILE_BASE + "medication-recommendation"
EXT_RECOMMENDED_ACTION = PROFILE_BASE + "recommended-action"
EXT_RELATED_ARTIFACT = "http://hl7.org/fhir/StructureDefinition/workflow-relatedArtifact"
TBD_CODES = f"{IG}/CodeSystem/tbd-codes-cs"

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
HGNC_SYSTEMS = ("http://www.genenames.org", "http://www.genenames.org/geneId",
                "https://www.genenames.org", "https://www.genenames.org/geneId")
HGNC = HGNC_SYSTEMS[0]
PHARMVAR_SYSTEMS = ("http://www.pharmvar.org", "https://www.pharmvar.org")
CLINVAR = "http://www.ncbi.nlm.nih.gov/clinvar"
GLSTRING = "http://glstring.org"

GENOTYPE_CODE = "84413-4"  # Genotype display name
HAPLOTYPE_CODE = "84414-2"
GENE_STUDIED = "48018-6"  # Gene studied [ID]
REPORT_CODE = "51969-4"  # Genetic analysis report
MEDICATION_ASSESSED = "51963-7"
EVIDENCE_LEVEL = "93044-6"
THERAPEUTIC_IMPLICATION = "therapeutic-implication"
CONCLUSION_STRING = "conclusion-string"

# Our own code system, for the fields the IG has no slot for (components and extensions).
OURS = "https://pgx-service.invalid/fhir"
OUR_CODES = f"{OURS}/CodeSystem/pgx-result"
EXT_RELEASE = f"{OURS}/StructureDefinition/knowledge-release"
EXT_AUDIT_ID = f"{OURS}/StructureDefinition/audit-id"
EXT_AUDIT_SEQ = f"{OURS}/StructureDefinition/audit-seq"
EXT_READING_NOTE = f"{OURS}/StructureDefinition/reading-note"  # how the posted Bundle was read

# HGNC ids of the genes our tables cover (genenames.org). CYP2C is CPIC's name for the
# CYP2C9-CYP2C18 cluster variant rs12777823, not a gene: no HGNC id, sent as text.
HGNC_IDS: dict[str, str] = {
    "ABCG2": "HGNC:74",
    "CACNA1S": "HGNC:1397",
    "CFTR": "HGNC:1884",
    "CYP2B6": "HGNC:2615",
    "CYP2C19": "HGNC:2621",
    "CYP2C9": "HGNC:2623",
    "CYP2D6": "HGNC:2625",
    "CYP3A5": "HGNC:2638",
    "CYP4F2": "HGNC:2645",
    "DPYD": "HGNC:3012",
    "G6PD": "HGNC:4057",
    "HLA-A": "HGNC:4931",
    "HLA-B": "HGNC:4932",
    "IFNL4": "HGNC:44480",
    "MT-RNR1": "HGNC:7470",
    "NAT2": "HGNC:7646",
    "NUDT15": "HGNC:23063",
    "RYR1": "HGNC:10483",
    "SLCO1B1": "HGNC:10959",
    "TPMT": "HGNC:12014",
    "UGT1A1": "HGNC:12530",
    "VKORC1": "HGNC:23663",
}
GENE_OF_HGNC: dict[str, str] = {v: k for k, v in HGNC_IDS.items()}
TEXT_ONLY_GENES = ("CYP2C",)
HLA_GENES = frozenset({"HLA-A", "HLA-B"})

# CPIC phenotype -> member of the IG's genetic-therapeutic-implications-vs (LOINC answers).
# Not listed (Likely ..., Indeterminate, gene-specific phenotypes): sent as text only, as the
# binding is extensible.
PHENOTYPE_LOINC: dict[str, tuple[str, str]] = {
    "Ultrarapid Metabolizer": ("LA10315-2", "Ultrarapid metabolizer"),
    "Rapid Metabolizer": ("LA25390-8", "Rapid metabolizer"),
    "Normal Metabolizer": ("LA25391-6", "Normal metabolizer"),
    "Intermediate Metabolizer": ("LA10317-8", "Intermediate metabolizer"),
    "Poor Metabolizer": ("LA9657-3", "Poor metabolizer"),
    "Increased Function": ("LA25392-4", "Increased function"),
    "Normal Function": ("LA25393-2", "Normal function"),
    "Decreased Function": ("LA25395-7", "Decreased function"),
    "Poor Function": ("LA25394-0", "Poor function"),
}
# HLA carrier results keyed on by the guidelines: 'High risk' / 'Low risk'.
HLA_RISK_LOINC = {"positive": ("LA19541-4", "High risk"), "negative": ("LA19542-2", "Low risk")}

# Dose direction -> Medication Recommendation Task.code (LOINC answer list LL4049-4). Directions
# without an answer seen in the IG (caution, standard, none) get no Task.
TASK_CODES: dict[str, tuple[str, str]] = {
    "alternative": ("LA26421-0", "Consider alternative medication"),
    "decrease": ("LA26422-8", "Decrease dose"),
    "increase": ("LA26423-6", "Increase dose"),
}


def coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out
