"""Extensions bound per app (tests build several apps in one process)."""

from __future__ import annotations

import http
from typing import Any

import orjson
from flask import Flask, Response, current_app
from flask.json.provider import DefaultJSONProvider
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


class FastJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, with orjson for compact output (every response out of debug mode).

    Same JSON as the default (sorted keys, no spaces; dates, UUIDs, decimals and dataclasses
    through the default's `default`), except that non-ASCII text is sent as UTF-8 rather than
    `\\u` escapes. orjson is several times faster, and the answer's serialization was a tenth of a
    lookup's CPU. Anything orjson refuses (an integer beyond 64 bits, non-string keys) goes
    through the standard library as before."""

    def _orjson_options(self) -> int:
        options = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
        return options | orjson.OPT_SORT_KEYS if self.sort_keys else options

    def _compact(self, obj: Any) -> bytes | None:
        try:
            return orjson.dumps(obj, default=self.default, option=self._orjson_options())
        except TypeError:  # orjson.JSONEncodeError included
            return None

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs == {"separators": (",", ":")}:
            out = self._compact(obj)
            if out is not None:
                return out.decode("utf-8")
        return super().dumps(obj, **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        if (self.compact is None and self._app.debug) or self.compact is False:
            return super().response(*args, **kwargs)
        out = self._compact(self._prepare_response_obj(args, kwargs))
        if out is None:
            return super().response(*args, **kwargs)
        return self._app.response_class(out + b"\n", mimetype=self.mimetype)


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
