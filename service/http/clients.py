"""Admin endpoints for API clients: list, create (the key is returned once), revoke, rotate."""

from __future__ import annotations

import logging

from flask import Flask, abort, g, request
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from service.audit import get_state
from service.audit.admin import client_act_recorder
from service.auth import require_roles
from service.auth.clients import (
    NAME_PATTERN,
    ROLES,
    ClientExists,
    ClientInfo,
    ClientNotFound,
    create_client,
    list_clients,
    revoke_client,
    rotate_client,
)
from service.extensions import get_api
from service.http.caller import current_caller
from service.http.parsing import StrictBlueprint

log = logging.getLogger(__name__)
blp = StrictBlueprint("clients", __name__, url_prefix="/v1/clients", description="API clients (admin)")

_NAME = validate.Regexp(NAME_PATTERN, error="1-64 characters: letters, digits, '.', '_' or '-'.")


class ClientSchema(Schema):
    name = fields.String(required=True, metadata={"example": "pharmacy-east"})
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    key_id = fields.String(required=True, metadata={"description": "The public part of the key."})
    created_at = fields.DateTime(required=True)
    revoked_at = fields.DateTime(allow_none=True)
    active = fields.Boolean(required=True)


class ClientListSchema(Schema):
    clients = fields.List(fields.Nested(ClientSchema), required=True)


class ClientWithKeySchema(ClientSchema):
    key = fields.String(
        required=True,
        metadata={"description": "The API key. Shown this once only: the service keeps its hash."},
    )


class ClientListArgs(Schema):
    include_revoked = fields.Boolean(
        load_default=False, metadata={"description": "Also list revoked and rotated-away keys."}
    )


class ClientCreateSchema(Schema):
    name = fields.String(required=True, validate=_NAME, metadata={"example": "pharmacy-east"})
    role = fields.String(required=True, validate=validate.OneOf(ROLES), metadata={"example": "pharmacy"})


def _dump(info: ClientInfo, key: str | None = None) -> dict:
    body = {
        "name": info.name,
        "role": info.role,
        "key_id": info.key_id,
        "created_at": info.created_at,
        "revoked_at": info.revoked_at,
        "active": info.active,
    }
    if key is not None:
        body["key"] = key
    return body


def _recorder(outcome: int):
    """The act's audit record, written in the transaction that makes it (actor: the caller)."""
    caller = current_caller()
    return client_act_recorder(action=f"{request.method} {request.url_rule.rule}", outcome=outcome,
                               state=get_state(), actor=caller.actor, role=caller.role,
                               request_id=caller.request_id, source_addr=caller.source_addr)


def _actor() -> str:
    client = getattr(g, "client", None)
    return client.name if client else "-"


@blp.route("")
class Clients(MethodView):
    @require_roles("admin")
    @blp.arguments(ClientListArgs, location="query")
    @blp.response(200, ClientListSchema)
    def get(self, args):
        """List API clients (never their keys)."""
        return {"clients": [_dump(c) for c in list_clients(include_revoked=args["include_revoked"])]}

    @require_roles("admin")
    @blp.arguments(ClientCreateSchema)
    @blp.response(201, ClientWithKeySchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body):
        """Create an API client; the answer carries its key, the only time it is shown."""
        try:
            info, key = create_client(None, body["name"], body["role"], audit=_recorder(201))
        except ClientExists as exc:
            abort(409, description=str(exc))
        log.info("api client created", extra={"client": info.name, "role": info.role, "by": _actor()})
        return _dump(info, key)


@blp.route("/<string:name>/revoke")
class RevokeClient(MethodView):
    @require_roles("admin")
    @blp.response(200, ClientSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, name):
        """Revoke the client's key (other workers stop accepting it within PGX_AUTH_CACHE_TTL_S)."""
        try:
            info = revoke_client(None, name, audit=_recorder(200))
        except ClientNotFound as exc:
            abort(404, description=str(exc))
        log.info("api client revoked", extra={"client": info.name, "by": _actor()})
        return _dump(info)


@blp.route("/<string:name>/rotate")
class RotateClient(MethodView):
    @require_roles("admin")
    @blp.response(200, ClientWithKeySchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, name):
        """Give the client a new key (shown once) and revoke its old key."""
        try:
            info, key = rotate_client(None, name, audit=_recorder(200))
        except ClientNotFound as exc:
            abort(404, description=str(exc))
        log.info("api client key rotated", extra={"client": info.name, "by": _actor()})
        return _dump(info, key)


def init_app(app: Flask) -> None:
    get_api(app).register_blueprint(blp)
