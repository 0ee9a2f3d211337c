"""Marshmallow schemas of the guidance API: requests as validated, responses as sent.

The response schemas are what the OpenAPI document shows and what every answer is dumped
through, so the document describes the real responses. Field names are the contract's
(CONTRACT.md); fields beyond it are additions, never renames.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from service.extensions import ProblemDetailsSchema

GENE_STATUSES = ("ok", "indeterminate", "unknown_allele", "invalid")
CATEGORIES = ("fast", "normal", "slow")
GUIDANCE_STATUSES = ("ok", "no_recommendation", "missing_genes", "indeterminate", "not_in_guideline",
                     "needs_clinical_inputs")
DIRECTIONS = ("standard", "decrease", "increase", "alternative", "caution", "none")
INPUT_KINDS = ("diplotype", "phenotype", "activity_score")
DOSE_FACTOR_DOC = ("Fraction of the usual dose given at each administration (\"0.5\", a range \"0.5-0.8\"); "
                   "null where the guideline states none. How often is in `frequency`.")
FREQUENCY_DOC = ("How often to give the drug where the guideline changes the usual interval "
                 "(\"3 times a week\"); null = the usual interval.")

# No control characters (NUL, newlines, escapes): never part of a genotype, a drug or a reference,
# and NUL cannot even be stored in PostgreSQL text. A Regexp, so the OpenAPI document shows it.
printable = validate.Regexp(r"^[^\x00-\x1f\x7f-\x9f]*$", error="Control characters are not allowed.")


MAX_GENOTYPES = 100
MAX_DRUGS = 200
MAX_MEDICATIONS = 100
MEDICATIONS_DOC = ("Drugs the patient takes (generic or brand names): CYP2D6 inhibitors convert the phenotype "
                   "where CPIC says how (phenoconversion); an unknown name is a warning.")
_TEXT = [validate.Length(min=1, max=500), printable]
_NAME = [validate.Length(min=1, max=100), printable]


class ScoreField(fields.String):
    """An activity score: a string as CPIC writes it ("1.5", "≥3.0"); a JSON number is accepted."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, int | float):
            value = repr(float(value))
        return super()._deserialize(value, attr, data, **kwargs)


class CommaList(fields.String):
    """A comma-separated list in one query parameter (`medications=paroxetine,fluoxetine`)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        items = [x.strip() for x in text.split(",") if x.strip()]
        if not items or len(items) > MAX_MEDICATIONS or any(len(x) > 100 for x in items):
            raise ValidationError(f"1 to {MAX_MEDICATIONS} names of at most 100 characters, comma-separated.")
        if any(_CONTROL_CHARS.search(x) for x in items):
            raise ValidationError("Control characters are not allowed.")
        return items


_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# -- requests ----------------------------------------------------------------------------------


class GeneEntrySchema(Schema):
    """A gene entry: `gene` and exactly one of `diplotype`, `phenotype`, `activity_score`."""

    gene = fields.String(required=True, validate=_NAME, metadata={"example": "CYP2D6"})
    diplotype = fields.String(validate=_TEXT, metadata={"example": "*1/*1x2"})
    phenotype = fields.String(validate=_TEXT, metadata={"example": "Poor Metabolizer"})
    activity_score = ScoreField(validate=[validate.Length(min=1, max=20), printable], metadata={"example": "1.5"})


class InterpretationRequestSchema(Schema):
    patient_ref = fields.String(
        validate=[validate.Length(min=1, max=200), printable],
        metadata={"description": "The caller's patient reference; the audit trail keeps it pseudonymized."},
    )
    genotypes = fields.List(
        fields.Nested(GeneEntrySchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_GENOTYPES),
    )
    drugs = fields.List(
        fields.String(validate=_NAME),
        validate=validate.Length(max=MAX_DRUGS),
        metadata={"description": "Drugs to advise on; omitted: every drug the given genes affect."},
    )
    purpose = fields.String(
        validate=[validate.Length(min=1, max=100), printable],
        metadata={"description": "Purpose of use recorded in the audit trail (or header X-Purpose-Of-Use)."},
    )
    medications = fields.List(fields.String(validate=_NAME), validate=validate.Length(max=MAX_MEDICATIONS),
                              metadata={"description": MEDICATIONS_DOC})

    @validates_schema
    def _one_entry_per_gene(self, data: dict[str, Any], **_kwargs) -> None:
        seen: set[str] = set()
        for entry in data.get("genotypes") or ():
            key = entry["gene"].strip().upper()
            if key in seen:
                raise ValidationError(f"{entry['gene']} is given more than once", "genotypes")
            seen.add(key)


class BatchRequestSchema(Schema):
    """Documented shape of a batch; the envelope is validated strictly, each item on its own."""

    items = fields.List(
        fields.Nested(InterpretationRequestSchema),
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "Interpretation bodies; at most PGX_BATCH_MAX_ITEMS (default 5000)."},
    )


class LookupQuerySchema(Schema):
    gene = fields.String(required=True, validate=_NAME, metadata={"example": "CYP2D6"})
    # literal_plus: a `+` in it is meant (`*36+*10`), so an unencoded one is refused (write %2B).
    diplotype = fields.String(validate=_TEXT, metadata={"example": "*1/*1x2", "literal_plus": True})
    phenotype = fields.String(validate=_TEXT)
    activity_score = ScoreField(validate=[validate.Length(min=1, max=20), printable])
    drug = fields.String(validate=_NAME, metadata={"example": "codeine"})
    patient_ref = fields.String(
        validate=[validate.Length(min=1, max=200), printable],
        metadata={"description": "Patient reference; prefer the X-Patient-Ref header (URLs get logged)."},
    )
    medications = CommaList(metadata={"description": MEDICATIONS_DOC + " Comma-separated.",
                                      "example": "paroxetine,metformin"})


class PurposeHeaderSchema(Schema):
    purpose = fields.String(
        data_key="X-Purpose-Of-Use",
        validate=[validate.Length(max=100), printable],
        metadata={"description": "Purpose of use, recorded in the audit trail."},
    )


class AuditHeadersSchema(PurposeHeaderSchema):
    """Optional headers recorded in the audit trail (kept out of the URL and its access logs)."""

    patient_ref = fields.String(
        data_key="X-Patient-Ref",
        validate=[validate.Length(max=200), printable],
        metadata={"description": "Patient reference; the audit trail keeps it pseudonymized."},
    )


# -- responses ---------------------------------------------------------------------------------


class ProblemSchema(ProblemDetailsSchema):
    """RFC 9457 problem details, with the members the guidance endpoints add."""

    gene = fields.String(metadata={"description": "The gene entry at fault."})
    drug = fields.String(metadata={"description": "The drug at fault."})
    field = fields.String(metadata={"description": "The part of the input at fault."})
    gene_status = fields.String(validate=validate.OneOf(GENE_STATUSES))
    release = fields.String()
    audit_id = fields.String()
    audit_seq = fields.Integer()
    audit_entry_hash = fields.String()


class SourceSchema(Schema):
    name = fields.String(required=True)
    url = fields.String(required=True)
    version = fields.String(allow_none=True)
    guideline_id = fields.String(allow_none=True)


class GeneResultSchema(Schema):
    gene = fields.String(required=True)
    input = fields.String(required=True, metadata={"description": "The entry as given."})
    diplotype = fields.String(required=True, allow_none=True)
    phenotype = fields.String(required=True, allow_none=True)
    activity_score = fields.String(required=True, allow_none=True)
    category = fields.String(required=True, allow_none=True, validate=validate.OneOf(CATEGORIES))
    status = fields.String(required=True, validate=validate.OneOf(GENE_STATUSES))
    warnings = fields.List(fields.String(), required=True)
    message = fields.String(allow_none=True, metadata={"description": "Why status is not ok."})
    lookup_key = fields.String(allow_none=True, metadata={"description": "The value guidelines are keyed on."})
    allele_status = fields.Dict(keys=fields.String(), values=fields.String())
    ehr_priority = fields.String(allow_none=True)
    genotype_phenotype = fields.String(allow_none=True, metadata={
        "description": "Present when a concomitant inhibitor converted the phenotype: the genotype's own."})
    genotype_activity_score = fields.String(allow_none=True, metadata={
        "description": "Present when a concomitant inhibitor converted the phenotype: the genotype's own score."})
    genotype_category = fields.String(allow_none=True, validate=validate.OneOf(CATEGORIES))


class DrugGuidanceSchema(Schema):
    drug = fields.String(required=True)
    genes = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True), required=True)
    status = fields.String(required=True, validate=validate.OneOf(GUIDANCE_STATUSES))
    missing_genes = fields.List(fields.String(), required=True)
    direction = fields.String(required=True, validate=validate.OneOf(DIRECTIONS))
    classification = fields.String(required=True, allow_none=True)
    population = fields.String(required=True, allow_none=True)
    recommendation = fields.String(required=True, allow_none=True)
    source = fields.Nested(SourceSchema, required=True, allow_none=True)
    dose_factor = fields.String(allow_none=True, metadata={"description": DOSE_FACTOR_DOC})
    frequency = fields.String(allow_none=True, metadata={"description": FREQUENCY_DOC})
    alternatives = fields.List(fields.String())
    guideline_id = fields.String(allow_none=True)
    recommendation_id = fields.String(allow_none=True)
    message = fields.String(allow_none=True)
    phenoconversion = fields.String(allow_none=True, metadata={
        "description": "With medications: whether this guidance follows the converted or the genotype's phenotype."})


class ReceiptMixin(Schema):
    release = fields.String(required=True, metadata={"description": "The knowledge release that answered."})
    audit_id = fields.String(required=True, metadata={"description": "The audit record of this answer."})
    audit_seq = fields.Integer(allow_none=True)
    audit_entry_hash = fields.String(allow_none=True)


class LookupResponseSchema(GeneResultSchema, ReceiptMixin):
    """The gene result (flat), plus the same in `genes`, and `drugs` when a drug was asked."""

    genes = fields.List(fields.Nested(GeneResultSchema), required=True)
    drugs = fields.List(fields.Nested(DrugGuidanceSchema), required=True)
    drug = fields.String(allow_none=True, metadata={"description": "The drug asked about, if any."})


class InterpretationSchema(ReceiptMixin):
    patient_ref = fields.String(allow_none=True, metadata={"description": "Echoed as given."})
    genes = fields.List(fields.Nested(GeneResultSchema), required=True)
    drugs = fields.List(fields.Nested(DrugGuidanceSchema), required=True)
    warnings = fields.List(fields.String(), metadata={
        "description": "With medications: interactions without a conversion rule, names not in the table."})


class BatchItemSchema(Schema):
    status = fields.Integer(required=True, metadata={"description": "This item's own HTTP status."})
    result = fields.Nested(InterpretationSchema)
    error = fields.Nested(ProblemSchema)


class BatchResponseSchema(Schema):
    release = fields.String(required=True)
    count = fields.Integer(required=True)
    failed = fields.Integer(required=True, metadata={"description": "Items answered with an error."})
    items = fields.List(fields.Nested(BatchItemSchema), required=True)
