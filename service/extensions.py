"""Extensions bound per app (tests build several apps in one process)."""

from __future__ import annotations

import http

from flask import Flask, current_app
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from marshmallow import INCLUDE, Schema, fields

PROBLEM_MIME = "application/problem+json"


class ProblemDetailsSchema(Schema):
    """RFC 9457 problem details, as service/errors.py sends them (documentation only)."""

    class Meta:
        unknown = INCLUDE  # problem types may carry extension members

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    request_id = fields.String()
    errors = fields.Raw(metadata={"description": "Validation errors, by location and field."})


class ServiceApi(Api):
    """flask-smorest's Api documenting error responses as they are sent: problem+json."""

    ERROR_SCHEMA = ProblemDetailsSchema

    def _register_responses(self):
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_MIME)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_MIME)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def make_api(app: Flask) -> Api:
    api = ServiceApi(
        app,
        spec_kwargs={
            "info": {"description": "Pharmacogenomic dose guidance (CPIC) with a tamper-evident audit trail."},
        },
    )
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    app.extensions["pgx.api"] = api
    return api


def get_api(app: Flask | None = None) -> Api:
    return (app or current_app).extensions["pgx.api"]
