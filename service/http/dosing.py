"""POST /v1/dosing/warfarin: the warfarin dose by CPIC's pathway (service.interpretation.dosing)."""

from __future__ import annotations

from flask import Flask
from flask.views import MethodView
from marshmallow import Schema, fields, validate
from werkzeug.exceptions import UnprocessableEntity

from service.auth import require_roles
from service.errors import PROBLEM_MIME
from service.extensions import get_api
from service.http.caller import current_caller
from service.http.parsing import StrictBlueprint
from service.http.schemas import (
    MEDICATIONS_DOC,
    GeneEntrySchema,
    GeneResultSchema,
    ProblemSchema,
    ReceiptMixin,
    SourceSchema,
    printable,
)
from service.interpretation.dosing import DosingRefused, dose_warfarin
from service.pgx import warfarin

blp = StrictBlueprint("dosing", __name__, url_prefix="/v1", description="Dosing algorithms")


class WarfarinRequestSchema(Schema):
    age_years = fields.Float(required=True, allow_nan=False, metadata={"example": 65})
    height_cm = fields.Float(required=True, allow_nan=False, metadata={"example": 170})
    weight_kg = fields.Float(required=True, allow_nan=False, metadata={"example": 75})
    race = fields.String(load_default="unknown", validate=validate.OneOf(warfarin.RACES),
                         metadata={"description": "IWPC's categories; unknown = missing or mixed."})
    african_ancestry = fields.Boolean(load_default=None, allow_none=True,
                                      metadata={"description": "CPIC's branch; default: true when race is black."})
    amiodarone = fields.Boolean(load_default=False)
    enzyme_inducer = fields.Boolean(load_default=False, metadata={
        "description": "Carbamazepine, phenytoin, rifampin/rifampicin (also read from `medications`)."})
    cyp2c9_variants_tested = fields.Boolean(load_default=None, allow_none=True, metadata={
        "description": "Whether CYP2C9 *5, *6, *8 and *11 were tested (true when the diplotype names one)."})
    algorithm = fields.String(load_default="iwpc", validate=validate.OneOf(warfarin.ALGORITHMS))
    target_inr = fields.Float(load_default=2.5, allow_nan=False, metadata={"description": "Gage only."})
    smoker = fields.Boolean(load_default=False, metadata={"description": "Gage only."})
    thrombosis = fields.Boolean(load_default=False, metadata={"description": "Gage only: DVT/PE indication."})
    genotypes = fields.List(fields.Nested(GeneEntrySchema), load_default=list,
                            validate=validate.Length(max=10),
                            metadata={"description": "CYP2C9, VKORC1 (rs9923231), optionally CYP4F2 and CYP2C "
                                                     "(rs12777823); a gene not given enters as IWPC's unknown term."})
    medications = fields.List(fields.String(validate=[validate.Length(min=1, max=100), printable]),
                              validate=validate.Length(max=100), metadata={"description": MEDICATIONS_DOC})
    patient_ref = fields.String(validate=[validate.Length(min=1, max=200), printable])
    purpose = fields.String(validate=[validate.Length(min=1, max=100), printable])


class AdjustmentSchema(Schema):
    step = fields.String(required=True)
    reason = fields.String(required=True)
    classification = fields.String(allow_none=True)
    factor_range = fields.List(fields.Float(), allow_none=True,
                               metadata={"description": "Multiply the weekly dose by [low, high]."})


class TermSchema(Schema):
    name = fields.String(required=True)
    value = fields.Raw(allow_none=True)
    coefficient = fields.Float(required=True)
    contribution = fields.Float(required=True)


class WarfarinResponseSchema(ReceiptMixin):
    patient_ref = fields.String(allow_none=True)
    drug = fields.String(required=True)
    algorithm = fields.String(required=True)
    status = fields.String(required=True, metadata={
        "description": "ok, consider_alternative, dose_clinically, pediatric or not_computable."})
    weekly_dose_mg = fields.Float(required=True, allow_none=True, metadata={
        "description": "The algorithm's figure, mg/week (IWPC: the square of its linear predictor)."})
    dose_range_mg_per_week = fields.List(fields.Float(), required=True, allow_none=True)
    recommendation = fields.String(required=True)
    classification = fields.String(required=True, allow_none=True)
    adjustments = fields.List(fields.Nested(AdjustmentSchema), required=True)
    terms = fields.List(fields.Nested(TermSchema), required=True)
    genes = fields.List(fields.Nested(GeneResultSchema), required=True)
    warnings = fields.List(fields.String(), required=True)
    source = fields.Nested(SourceSchema, required=True)


@blp.route("/dosing/warfarin")
class Warfarin(MethodView):
    @require_roles("clinician", "pharmacy")
    @blp.arguments(WarfarinRequestSchema)
    @blp.response(200, WarfarinResponseSchema)
    @blp.alt_response(422, description="A field out of range or missing, or an unusable genotype (audited).",
                      schema=ProblemSchema, content_type=PROBLEM_MIME)
    def post(self, body):
        """The weekly warfarin dose: IWPC's pharmacogenetic algorithm (or Gage's), then CPIC's
        2017 adjustments as a range, each step with its reason and CPIC's classification."""
        try:
            return dose_warfarin(body, caller=current_caller())
        except DosingRefused as exc:
            err = UnprocessableEntity(exc.message)
            err.data = {"messages": {"json": {exc.field: [exc.message]}}}
            raise err from None


def init_app(app: Flask) -> None:
    get_api(app).register_blueprint(blp)
