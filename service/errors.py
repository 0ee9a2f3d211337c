"""RFC 9457 problem details for every error the service returns.

No stack trace, SQL or exception text from a library ever reaches a client: unexpected errors are
logged with the request id and answered with a generic 500 problem.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, g, jsonify
from werkzeug.exceptions import HTTPException

PROBLEM_MIME = "application/problem+json"
PROBLEM_BASE = "https://pgx-service.invalid/problems/"
log = logging.getLogger(__name__)


class ServiceUnavailable(Exception):
    """Raised when the audit record cannot be written: the answer must not leave (fail closed)."""

    def __init__(self, detail: str = "The audit trail could not be written; no answer was given."):
        super().__init__(detail)
        self.detail = detail


def problem(status: int, title: str, detail: str | None = None, *, type_: str | None = None, **extra):
    body = {"type": PROBLEM_BASE + (type_ or str(status)), "title": title, "status": status}
    if detail:
        body["detail"] = detail
    request_id = getattr(g, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    body.update({k: v for k, v in extra.items() if v is not None})
    resp = jsonify(body)
    resp.status_code = status
    resp.mimetype = PROBLEM_MIME
    return resp


def problem_body(status: int, title: str, detail: str | None = None, **extra) -> dict:
    """The same shape as `problem`, as a dict (batch items carry their own problem)."""
    body = {"type": PROBLEM_BASE + str(status), "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def _validation_errors(exc: HTTPException):
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") if isinstance(data, dict) else None
    return messages


def register_error_handlers(app: Flask, *, before_refusal: Callable[[int, str | None], None] | None = None) -> None:
    """Problem details for every error. `before_refusal(status, detail)` is called for each 4xx
    before it is answered (the app audits refusals of the genotype endpoints there); when it
    raises ServiceUnavailable, that is the answer instead."""

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        errors = _validation_errors(exc)
        detail = exc.description if status != 500 else None
        if errors and status == 422:
            data = getattr(exc, "data", None)
            # The parser may name the part at fault (service/http/parsing.py); else the generic line.
            given = data.get("detail") if isinstance(data, dict) else None
            detail = given if isinstance(given, str) else "The request did not validate; see `errors`."
        if 400 <= status < 500 and before_refusal is not None:
            try:
                before_refusal(status, detail)
            except ServiceUnavailable as unavailable:
                return _unavailable(unavailable)
        resp = problem(status, exc.name, detail, errors=errors)
        for key, value in (exc.get_response().headers.items() if status in (405, 429) else []):
            if key.lower() in ("allow", "retry-after"):
                resp.headers[key] = value
        return resp

    @app.errorhandler(ServiceUnavailable)
    def _unavailable(exc: ServiceUnavailable):
        resp = problem(503, "Service Unavailable", exc.detail, type_="audit-unavailable")
        resp.headers["Retry-After"] = "5"
        return resp

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return _http_error(exc)
        log.exception("unhandled error", extra={"request_id": getattr(g, "request_id", None)})
        return problem(500, "Internal Server Error", "An internal error occurred; it has been logged.")
