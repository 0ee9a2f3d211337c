"""Request ids (echoed in X-Request-ID) and security headers on every response."""

from __future__ import annotations

import re

from flask import Flask, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from service.ids import new_request_id

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cross-Origin-Resource-Policy": "same-origin",
    # Honoured by browsers over HTTPS only (TLS terminates in front of gunicorn); harmless over HTTP.
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}
# The docs page (/docs) runs ReDoc, served from this origin (service/static/docs): scripts, the
# OpenAPI document and images from 'self' only; ReDoc injects its styles inline and runs its
# search index in a worker it makes from a blob.
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "font-src 'self'; connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'")


def init_app(app: Flask) -> None:
    hops = int(app.config.get("PGX_PROXY_HOPS") or 0)
    if hops > 0:
        # The client's address (rate limits, the audit's source_addr), scheme and host as the
        # trusted proxies saw them; only the last `hops` values of each header are believed.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)

    @app.before_request
    def _request_id():
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _SAFE_REQUEST_ID.match(given) else new_request_id()

    @app.after_request
    def _headers(resp):
        rid = getattr(g, "request_id", None)
        if rid:
            resp.headers["X-Request-ID"] = rid
        # One pass over the response's headers instead of one `setdefault` per header (werkzeug's
        # Headers looks each missing name up by raising and catching a KeyError): same result.
        present = {name.lower() for name, _ in resp.headers.items()}
        for key, value in SECURITY_HEADERS.items():
            if key.lower() not in present:
                resp.headers.add(key, value)
        if request.path == "/docs":
            resp.headers["Content-Security-Policy"] = DOCS_CSP
        return resp
