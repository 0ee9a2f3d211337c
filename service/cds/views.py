"""CDS Hooks 2.0 endpoints: `GET /cds-services`, `POST /cds-services/{id}`,
`POST /cds-services/{id}/feedback`.

Every call must carry the JWT of a registered CDS client (service/auth/cds_trust.py), verified
against the endpoint's public URL (PGX_PUBLIC_BASE_URL + the path called); anything that fails
is 401 with an OperationOutcome that names the fault and nothing clinical. Errors are answered
as OperationOutcome resources (what CDS Hooks clients expect), refusals of hook and feedback
calls are audited like every refusal.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, current_app, g, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from service.auth.cds_trust import CdsAuthError, verify_cds_jwt
from service.cds import advice
from service.cds.hooks import (
    SERVICES,
    HookRequestError,
    discovery_document,
    parse_body,
    read_feedback,
    read_hook_request,
)
from service.errors import ServiceUnavailable
from service.releases import current_knowledge
from service.settings import default_public_base_url

blp = Blueprint("cds_hooks", __name__)
log = logging.getLogger(__name__)


def _outcome(status: int, code: str, text: str, headers: dict[str, str] | None = None):
    body = {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": text}]}
    resp = jsonify(body)
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _bearer() -> str | None:
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _public_base() -> str:
    """The URL a JWT's `aud` must start with: PGX_PUBLIC_BASE_URL when set; else the address of
    the socket the connection reached (its local end: the server's, not the client's to choose;
    never the Host header); else the one PGX_BIND names."""
    configured = current_app.config.get("PGX_PUBLIC_BASE_URL")
    if configured:
        return str(configured).rstrip("/")
    sock = request.environ.get("gunicorn.socket")
    try:
        name = sock.getsockname() if sock is not None else None
    except OSError:
        name = None
    if isinstance(name, tuple) and isinstance(name[0], str) and name[0]:  # (a unix socket's is a path)
        host, port = name[0], name[1]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    return default_public_base_url()


def _who() -> advice.HookCaller:
    """The verified CDS client of this call; CdsAuthError (-> 401) otherwise."""
    base = _public_base()
    try:
        caller = verify_cds_jwt(current_app._get_current_object(), _bearer(), base + request.path)  # noqa: SLF001
    except SQLAlchemyError as exc:  # the registry or the jti store unreachable: fail closed
        log.error("CDS client check failed (%s)", type(exc).__name__)
        raise ServiceUnavailable("The CDS client could not be checked right now; try again shortly.") from None
    return advice.HookCaller(caller.issuer, getattr(g, "request_id", None), request.remote_addr)


def _body() -> Any:
    return parse_body(request.get_data(cache=True))


def _claimed() -> dict[str, Any]:
    try:
        body = _body()
    except HookRequestError:
        return {}
    if not isinstance(body, dict):
        return {}
    return {k: str(body.get(k))[:100] for k in ("hook", "hookInstance") if isinstance(body.get(k), str)}


class _Refused(Exception):
    """A refused call: answered as an OperationOutcome, audited unless it is the discovery's."""

    def __init__(self, status: int, code: str, text: str, who: advice.HookCaller | None = None, *,
                 req=None, headers: dict[str, str] | None = None, audit: bool = True):
        super().__init__(text)
        self.status, self.code, self.text, self.who, self.req = status, code, text, who, req
        self.headers, self.audit = headers, audit


@blp.errorhandler(_Refused)
def _refused(exc: _Refused):
    if exc.audit:
        advice.refuse(exc.who, f"{request.method} {request.path}", exc.status, exc.text, req=exc.req,
                      claimed=None if exc.req else _claimed())
    return _outcome(exc.status, exc.code, exc.text, exc.headers)


def _caller(service_id: str | None = None, *, audit: bool = True) -> advice.HookCaller:
    """The verified CDS client calling an existing service (or the discovery); _Refused otherwise."""
    try:
        who = _who()
    except CdsAuthError as exc:
        raise _Refused(401, "security", f"The CDS client is not trusted: {exc}.", audit=audit,
                       headers={"WWW-Authenticate": 'Bearer realm="cds-services", error="invalid_token"'}) from None
    if service_id is not None and service_id not in SERVICES:
        raise _Refused(404, "not-found", f"No CDS service {service_id!r}; see GET /cds-services.", who)
    return who


def _read(reader, who: advice.HookCaller):
    try:
        return reader(_body())
    except HookRequestError as exc:
        raise _Refused(400, "invalid", str(exc), who) from None


@blp.get("/cds-services")
def discovery():
    _caller(audit=False)
    return jsonify(discovery_document())


@blp.post("/cds-services/<service_id>")
def hook(service_id: str):
    who = _caller(service_id)
    req = _read(lambda body: read_hook_request(SERVICES[service_id], body), who)
    try:
        answer = advice.advise(req, who, db=current_app.extensions["pgx.db"], kb=current_knowledge(),
                               fhir_timeout_s=float(current_app.config["PGX_CDS_FHIR_TIMEOUT_S"]))
    except advice.PrefetchUnavailable as exc:
        raise _Refused(412, "not-found", str(exc), who, req=req) from None
    return jsonify(answer)


@blp.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str):
    who = _caller(service_id)
    items = _read(read_feedback, who)
    audit_id = advice.record_feedback(service_id, items, who, db=current_app.extensions["pgx.db"])
    return jsonify({"received": len(items), "audit_id": audit_id})


@blp.errorhandler(ServiceUnavailable)
def _unavailable(exc: ServiceUnavailable):
    return _outcome(503, "transient", exc.detail, {"Retry-After": "5"})


def init_app(app: Flask) -> None:
    app.register_blueprint(blp)
