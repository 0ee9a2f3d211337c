"""`pgx db upgrade|downgrade|current`: Alembic migrations of the database named by DATABASE_URL."""

from __future__ import annotations

import click
from alembic import command as alembic_command
from alembic.config import Config

from service.db import normalize_url
from service.settings import REPO_ROOT, Settings


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", normalize_url(url or Settings().database_url).replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    alembic_command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    alembic_command.downgrade(alembic_config(url), revision)


@click.group("db")
def command() -> None:
    """Database schema migrations."""


@command.command("upgrade")
@click.argument("revision", default="head")
def upgrade_cmd(revision: str) -> None:
    """Create or migrate the database to REVISION (default: head)."""
    upgrade(revision=revision)
    click.echo(f"database at {revision}")


@command.command("downgrade")
@click.argument("revision", default="base")
def downgrade_cmd(revision: str) -> None:
    """Migrate the database down to REVISION (default: base, i.e. empty)."""
    downgrade(revision=revision)
    click.echo(f"database at {revision}")
