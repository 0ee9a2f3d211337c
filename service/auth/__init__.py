"""Authentication (API keys), authorization (roles), rate limits and the request body limit.

Every `/v1/*` request: the `Authorization: Bearer <key>` header is parsed before any view runs;
`flask.g.client` is the authenticated client (`id`, `name`, `role`, `key_id`) or None, and
`flask.g.presented_key_id` is the public key id of whatever key was presented (never the secret),
for the audit trail of refusals. Views declare who may call them with `@require_roles(...)`, put
ABOVE the flask-smorest decorators so authorization runs before argument parsing (a caller without
a key gets 401, never a 422 that would reveal the request schema):

    @blp.route("/lookup")
    class Lookup(MethodView):
        @require_roles("clinician", "pharmacy")
        @blp.arguments(LookupArgs, location="query")
        @blp.response(200, LookupSchema)
        def get(self, args): ...

401 (no, malformed, unknown or revoked key, with `WWW-Authenticate: Bearer`) and 403 (a role the
endpoint does not serve) are raised as HTTP exceptions, so the problem+json handler in
service/errors.py answers them (and audits them). Rate limits (service/auth/ratelimit.py, the
`limits` library) count per client key, or per remote address for callers without a valid key,
across all `/v1` endpoints together: `PGX_RATELIMIT` (default 600/minute, fixed window), storage
`PGX_RATELIMIT_STORAGE_URI` (`memory://` is per worker process; use `redis://...` with several
workers; if Redis becomes unreachable the limits fall back to per-worker memory). A body larger than `PGX_MAX_BODY_BYTES`
is refused with 413 from its Content-Length, before a byte of it is read.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from copy import deepcopy

from flask import Flask, abort, current_app, g, request
from sqlalchemy.exc import SQLAlchemyError

from service.auth import ratelimit
from service.auth.clients import ROLES, authenticate, presented_key_id
from service.db import is_unmigrated

__all__ = ["ROLES", "init_app", "require_roles", "get_limiter"]

log = logging.getLogger(__name__)
API_PREFIX = "/v1/"
SECURITY = [{"bearerAuth": []}]


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _authenticate_request() -> None:
    g.client = None
    g.presented_key_id = None
    if not request.path.startswith(API_PREFIX):
        return
    token = _bearer_token()
    if token is None:
        return
    g.presented_key_id = presented_key_id(token)
    try:
        g.client = authenticate(current_app, token)
    except SQLAlchemyError as exc:
        # Fail closed, and say so without detail (no SQL in the answer or the log).
        log.error("API key lookup failed (%s)", type(exc).__name__, extra={"key_id": g.presented_key_id})
        if is_unmigrated(current_app.extensions["pgx.db"]):
            abort(503, description="The database has not been migrated: run `pgx db upgrade` "
                  "(DATABASE_URL names the database), then retry.")
        abort(503, description="API keys cannot be checked right now; try again shortly.")


def _refuse_large_body() -> None:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is None:
        return
    limit = int(limit)
    detail = f"The request body is larger than the limit of {limit} bytes."
    length = request.content_length
    if length is not None:
        if length > limit:
            abort(413, description=detail)  # refused from the header: not a byte of the body is read
        return
    if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        # No length given: werkzeug stops reading at the limit but hands the view a silently
        # truncated body (a 400 at best). Read (and cache) at most `limit` bytes here and refuse
        # a body that reaches it.
        if len(request.get_data(cache=True)) >= limit:
            abort(413, description=detail)


def require_roles(*roles: str) -> Callable:
    """Decorator for a view: 401 without a valid key, 403 when the key's role is not in `roles`."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"require_roles: unknown role(s) {sorted(unknown)}; roles are {ROLES}")
    allowed = frozenset(roles)
    wording = ", ".join(r for r in ROLES if r in allowed)

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            client = getattr(g, "client", None)
            if client is None:
                if _bearer_token() is None:
                    abort(401, description="An API key is required: send `Authorization: Bearer <key>`.")
                abort(401, description="The API key is not valid (unknown, malformed or revoked).")
            if client.role not in allowed:
                abort(403, description=f"This endpoint is for role(s): {wording}; this key's role is {client.role}.")
            return view(*args, **kwargs)

        # OpenAPI: the bearer scheme, the roles, and the refusals (flask-smorest reads `_apidoc`).
        apidoc = deepcopy(getattr(view, "_apidoc", {}))
        manual = apidoc.setdefault("manual_doc", {})
        manual["security"] = SECURITY
        note = f"Roles: {wording}."
        manual["description"] = (manual.get("description", "") + "\n\n" + note).strip()
        responses = apidoc.setdefault("response", {}).setdefault("responses", {})
        for status, ref in ((401, "UNAUTHORIZED"), (403, "FORBIDDEN"), (429, "TOO_MANY_REQUESTS")):
            responses.setdefault(status, []).append(ref)
        wrapper._apidoc = apidoc
        wrapper._pgx_roles = allowed
        return wrapper

    return decorator


def _limit_key() -> str:
    client = getattr(g, "client", None)
    if client is not None:
        return f"client:{client.key_id}"
    # The peer address (behind a load balancer: the balancer's, unless it is made to pass the
    # client's through, e.g. werkzeug's ProxyFix); callers without a valid key share it.
    return f"addr:{request.remote_addr or '127.0.0.1'}"


def get_limiter(app: Flask | None = None) -> ratelimit.RateLimiter:
    return (app or current_app).extensions["pgx.limiter"]


def init_app(app: Flask) -> None:
    # Order matters: authenticate, then the body limit, then the rate limit (it counts per client).
    app.before_request(_authenticate_request)
    app.before_request(_refuse_large_body)

    @app.after_request
    def _auth_headers(resp):
        if resp.status_code == 401:
            value = 'Bearer realm="pgx"'
            if _bearer_token() is not None:
                value += ', error="invalid_token"'
            resp.headers["WWW-Authenticate"] = value
        return resp

    ratelimit.init_app(app, _limit_key, API_PREFIX)
