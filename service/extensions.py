"""Extensions bound per app (tests build several apps in one process)."""

from __future__ import annotations

from flask import Flask, current_app
from flask_smorest import Api


def make_api(app: Flask) -> Api:
    api = Api(
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
