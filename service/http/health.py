"""Liveness and readiness probes (no authentication: they carry no patient data)."""

from __future__ import annotations

from flask import Flask
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import text

from service.db import get_db
from service.errors import problem
from service.extensions import get_api
from service.releases import current_knowledge

blp = Blueprint("health", __name__, description="Liveness and readiness")


class HealthSchema(Schema):
    status = fields.String(required=True)


class ReadySchema(Schema):
    status = fields.String(required=True)
    database = fields.String(required=True)
    release = fields.String(allow_none=True)


@blp.route("/healthz")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    def get(self):
        """The process is alive."""
        return {"status": "ok"}


@blp.route("/readyz")
class Ready(MethodView):
    @blp.response(200, ReadySchema)
    @blp.alt_response(503, description="Database unreachable or no active knowledge release")
    def get(self):
        """Ready to answer: the database answers and a knowledge release is active."""
        try:
            with get_db().read() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:  # any driver error means not ready
            return problem(503, "Service Unavailable", "The database is not reachable.")
        kb = current_knowledge(raise_if_missing=False)
        if kb is None:
            return problem(503, "Service Unavailable", "No knowledge release is active; run `pgx tables load`.")
        return {"status": "ok", "database": "ok", "release": kb.release}


def init_app(app: Flask) -> None:
    get_api(app).register_blueprint(blp)
