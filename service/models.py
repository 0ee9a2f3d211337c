"""Where every table's model module is listed, so Alembic and tests see the whole schema."""

from __future__ import annotations

import importlib

MODEL_MODULES = (
    "service.releases_store",  # knowledge releases
    "service.audit.models",  # audit events and checkpoints
    "service.auth.models",  # API clients
    "service.auth.cds_models",  # CDS Hooks clients, JWT ids, card feedback
)


def import_all_models() -> None:
    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a concern not yet built has no tables
            if exc.name != name:
                raise
