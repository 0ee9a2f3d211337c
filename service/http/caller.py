"""The caller of the current request, as the interpretation service records it."""

from __future__ import annotations

from flask import g, request

from service.interpretation import Caller, purpose_of

PURPOSE_HEADER = "X-Purpose-Of-Use"


def actor_and_role() -> tuple[str, str | None]:
    """The authenticated client's name and role (never the API key); else the presented key's id."""
    client = getattr(g, "client", None)
    if client is not None:
        return str(getattr(client, "name", None) or getattr(client, "id", "unknown")), getattr(client, "role", None)
    key_id = getattr(g, "presented_key_id", None)
    return (f"key:{key_id}" if key_id else "anonymous"), None


def endpoint_action() -> str:
    """The endpoint, by its URL rule (never the raw path with its values)."""
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    return f"{request.method} {rule}"


def current_caller(purpose: str | None = None, action: str | None = None) -> Caller:
    """The current request's caller; `purpose` defaults to the X-Purpose-Of-Use header's,
    `action` to the endpoint's."""
    actor, role = actor_and_role()
    return Caller(
        actor=actor,
        role=role,
        action=action or endpoint_action(),
        request_id=getattr(g, "request_id", None),
        source_addr=request.remote_addr,
        purpose=purpose if purpose is not None else purpose_of(request.headers.get(PURPOSE_HEADER)),
    )
