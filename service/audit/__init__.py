"""The audit trail: every genotype lookup recorded before it is answered, tamper-evident, exportable.

Public API (see the modules for details):
- `append_events(conn, events) -> [Receipt]` inside `get_db().write_transaction()` (writer.py);
- `record_refusal(status, detail)` for refused requests (called by service/errors.py);
- `make_checkpoint(db)`, `sign_checkpoint(...)` (writer.py);
- `iter_export(db, filters, format)` (export.py);
- `verify_export(lines, public_key=..., previous_checkpoint=...)` (verify.py, offline).
"""

from __future__ import annotations

from flask import Flask

from service.audit.export import ExportFilters, iter_export, plan_export  # noqa: E402
from service.audit.verify import VerifyReport, verify_export  # noqa: E402
from service.audit.writer import (
    GENOTYPE_ENDPOINTS,
    AuditState,
    Receipt,
    append_events,
    get_state,
    is_genotype_endpoint,
    lock_chain_head,
    make_checkpoint,
    record_refusal,
    sign_checkpoint,
)

__all__ = [
    "GENOTYPE_ENDPOINTS",
    "AuditState",
    "ExportFilters",
    "VerifyReport",
    "Receipt",
    "append_events",
    "get_state",
    "init_app",
    "is_genotype_endpoint",
    "iter_export",
    "lock_chain_head",
    "plan_export",
    "verify_export",
    "make_checkpoint",
    "record_refusal",
    "sign_checkpoint",
]


def init_app(app: Flask) -> None:
    app.extensions["pgx.audit"] = AuditState.from_app(app)
