"""Audit records of administrative acts (API clients: create, revoke, rotate), in the same
trail as every lookup: who (actor, role), what (action and act), on what (the target's name,
role and public key ids; never a key).

`client_act_recorder(...)` gives the hook `service.auth.clients` calls inside the transaction
that makes the change, so the change and its record commit together: if the record cannot be
written, the change is not made (fail closed).
"""

from __future__ import annotations

from dataclasses import asdict
from types import SimpleNamespace
from typing import Any

from service.audit.writer import AuditState, append_events


def client_act_event(act: str, client: Any, previous: Any = None, *, action: str, outcome: int) -> dict:
    """The audit event of one act on an API client (`client`/`previous`: ClientInfo)."""
    result: dict[str, Any] = {"key_id": client.key_id, "active": bool(client.active)}
    if previous is not None:
        result["revoked_key_id"] = previous.key_id
    return {
        "action": action,
        "outcome": int(outcome),
        "patient_ref": None,
        "input": {"act": f"client.{act}", "target": client.name, "role": client.role},
        "result": result,
        "release": None,
        "warnings": [],
        "purpose": None,
        "genes": [],
        "drugs": [],
    }


def client_act_recorder(*, action: str, outcome: int, state: AuditState | None = None,
                        actor: str | None = None, role: str | None = None,
                        request_id: str | None = None, source_addr: str | None = None):
    """The `audit` hook for create_client / revoke_client / rotate_client: the caller names who
    acts (`actor`, `role`; in a request also its `request_id` and `source_addr`)."""

    def record(conn, act: str, client, previous) -> None:
        event = client_act_event(act, client, previous, action=action, outcome=outcome)
        if actor is not None:
            event.update(actor=actor, role=role, request_id=request_id, source_addr=source_addr)
        append_events(conn, [event], state=state)

    return record


def state_from_settings(settings) -> AuditState:
    """The audit state the app would build (its PGX_* config comes from the same settings)."""
    config = {f"PGX_{key.upper()}": value for key, value in asdict(settings).items()}
    return AuditState.from_app(SimpleNamespace(config=config))
