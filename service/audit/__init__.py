"""The audit trail: every genotype lookup recorded before it is answered, tamper-evident, exportable.

Public API (see the modules for details):
- `append_events(conn, events) -> [Receipt]` inside `get_db().write_transaction()` (writer.py);
- `get_committer().commit(prepared) -> [Receipt]`: the group commit (group_commit.py);
- `make_checkpoint(db)`, `sign_checkpoint(...)` (writer.py);
- `iter_export(db, filters, format)` (export.py);
- `verify_export(lines, public_key=..., previous_checkpoint=...)` (verify.py, offline).
"""

from __future__ import annotations

from flask import Flask, current_app

from service.audit.errors import AuditUnavailable
from service.audit.export import ExportFilters, iter_export, plan_export  # noqa: E402
from service.audit.group_commit import GroupCommitter
from service.audit.verify import VerifyReport, verify_export  # noqa: E402
from service.audit.writer import (
    AuditState,
    Receipt,
    append_events,
    get_state,
    lock_chain_head,
    make_checkpoint,
    normalized_event,
    prepare_events,
    sign_checkpoint,
)

__all__ = [
    "AuditUnavailable",
    "AuditState",
    "GroupCommitter",
    "get_committer",
    "ExportFilters",
    "VerifyReport",
    "Receipt",
    "append_events",
    "get_state",
    "init_app",
    "iter_export",
    "lock_chain_head",
    "plan_export",
    "verify_export",
    "make_checkpoint",
    "normalized_event",
    "prepare_events",
    "sign_checkpoint",
]


def init_app(app: Flask) -> None:
    """The app's audit state (keys, origin, checkpoint interval) and its group committer, which
    reports its transactions' times to `app.extensions["pgx.observe_db_write"]` when the metrics
    component (listed before this one) put one there."""
    state = app.extensions["pgx.audit"] = AuditState.from_app(app)
    app.extensions["pgx.audit_group"] = GroupCommitter(
        app.extensions["pgx.db"], state, append=append_events, lock_head=lock_chain_head,
        on_write=app.extensions.get("pgx.observe_db_write"))


def get_committer(app: Flask | None = None) -> GroupCommitter:
    """The app's group committer (`init_app`)."""
    return (app or current_app).extensions["pgx.audit_group"]
