"""Application assembly: settings, database, API, and one component per concern.

Each component module exposes `init_app(app)`; the order matters (request ids before auth, auth
before the blueprints that rely on it).
"""

from __future__ import annotations

import importlib
from dataclasses import asdict
from typing import Any

from flask import Flask

from service import db
from service.db import get_db  # noqa: F401  (re-exported for older callers; use service.db)
from service.errors import register_error_handlers
from service.extensions import FastJSONProvider, make_api
from service.http.refusals import audit_refusal
from service.settings import Settings

COMPONENTS = (
    "service.http.middleware",  # request ids, security headers
    "service.observability",  # JSON logs, Prometheus metrics
    "service.auth",  # API keys, roles, rate limits
    "service.audit",  # the audit trail's keys and group commit
    "service.releases",  # knowledge releases held in memory per worker
    "service.http.health",
    "service.http.knowledge",  # /v1/genes, /v1/drugs, /v1/releases
    "service.http.lookup",  # GET /v1/lookup
    "service.http.interpretations",  # POST /v1/interpretations[/batch]
    "service.http.fhir",  # POST /v1/fhir/interpretations
    "service.http.dosing",  # POST /v1/dosing/warfarin
    "service.http.vcf",  # POST /v1/vcf/interpretations
    "service.http.audit",  # GET /v1/audit/events
    "service.http.clients",  # admin: API clients
    "service.cds.views",  # CDS Hooks: /cds-services
)


class ServiceFlask(Flask):
    """Flask, remembering which of its hooks and views are coroutine functions.

    Flask asks `ensure_sync` of every before/after/teardown hook and the view on every request,
    and each answer is `inspect.iscoroutinefunction` (unwrapping and flag checks). A function's
    answer never changes, so it is asked once; this app has no async views, and one added later
    still gets Flask's own wrapper."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._sync_of: dict[Any, Any] = {}

    def ensure_sync(self, func):
        try:
            return self._sync_of[func]
        except KeyError:
            wrapped = super().ensure_sync(func)
            if len(self._sync_of) < 4096:  # hooks and views are few; a stray per-call closure is not kept
                self._sync_of[func] = wrapped
            return wrapped
        except TypeError:  # an unhashable callable: ask every time
            return super().ensure_sync(func)


def build_app(config: dict[str, Any] | None = None) -> Flask:
    app = ServiceFlask("service", instance_relative_config=False)
    settings = Settings()
    app.config.update(
        PGX_SETTINGS=settings,
        PGX_DATABASE_URL=settings.database_url,
        MAX_CONTENT_LENGTH=settings.max_content_length,
        API_TITLE="PGx dose-guidance service",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_REDOC_PATH="/docs",
        OPENAPI_REDOC_URL="/static/docs/redoc.standalone.js",  # pinned, served by us (service/static/docs)
    )
    app.json = FastJSONProvider(app)
    for key, value in asdict(settings).items():
        app.config.setdefault(f"PGX_{key.upper()}", value)
    if config:
        app.config.update(config)
    db.init_app(app)
    make_api(app)
    register_error_handlers(app, before_refusal=audit_refusal)
    for name in COMPONENTS:
        importlib.import_module(name).init_app(app)
    return app
