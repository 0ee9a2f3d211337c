"""Alembic environment: the URL comes from DATABASE_URL (or the caller's config), never from a file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

import service.audit.models  # noqa: F401  (every model module: Alembic sees the whole schema)
import service.auth.cds_models  # noqa: F401
import service.auth.models  # noqa: F401
import service.releases.store  # noqa: F401
from service.db import Base, make_engine, normalize_url
from service.settings import Settings

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return normalize_url(config.get_main_option("sqlalchemy.url") or Settings().database_url)


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = make_engine(_url())
    engine.pool = pool.NullPool(engine.pool._creator)  # noqa: SLF001 - one-shot migration connection
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
