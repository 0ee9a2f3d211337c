"""`pgx clients create|list|revoke|rotate|bootstrap`: API clients of the database named by DATABASE_URL.

A key is printed once, as the last line of output, and never again: the database holds only its
hash. Lose it and rotate the client.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from service.audit.admin import client_act_recorder, state_from_settings
from service.auth.clients import (
    ROLES,
    ClientError,
    admin_exists,
    create_client,
    list_clients,
    revoke_client,
    rotate_client,
)
from service.cli.audit import cli_actor
from service.db import Database
from service.settings import Settings

BOOTSTRAP_NAME = "local-admin"
HOW_TO_CREATE = (
    "Create API keys with: pgx clients create NAME --role {pharmacy|clinician|auditor|admin}\n"
    "(or POST /v1/clients with an admin key). Each key is shown once."
)


def _database() -> Database:
    settings = Settings()
    return Database(settings.database_url, lock_timeout_s=settings.lock_timeout_s)


def _recorder(act: str):
    """The act's audit record, written in the transaction that makes it; actor: the OS user."""
    return client_act_recorder(action=f"pgx clients {act}", outcome=201 if act in ("create", "bootstrap") else 200,
                               state=state_from_settings(Settings()), actor=cli_actor(), role="admin")


def _run(fn, *args, **kwargs):
    db = _database()
    try:
        return fn(db, *args, **kwargs)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.dispose()


@click.group("clients")
def command() -> None:
    """API clients (keys and roles)."""


@command.command("create")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the client may call.")
def create_cmd(name: str, role: str) -> None:
    """Create client NAME with ROLE; prints its key, once, as the last line."""
    info, key = _run(create_client, name, role, audit=_recorder("create"))
    click.echo(f"created client {info.name} (role {info.role}, key id {info.key_id}); the key is shown once:")
    click.echo(key)


@command.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked (and rotated-away) keys.")
def list_cmd(include_revoked: bool) -> None:
    """List clients: name, role, key id, created, revoked. Keys are never shown."""
    db = _database()
    try:
        clients = list_clients(db, include_revoked=include_revoked)
    finally:
        db.dispose()
    click.echo(f"{'NAME':<32} {'ROLE':<10} {'KEY ID':<12} {'CREATED':<25} REVOKED")
    for c in clients:
        revoked = c.revoked_at.isoformat(timespec="seconds") if c.revoked_at else "-"
        click.echo(f"{c.name:<32} {c.role:<10} {c.key_id:<12} {c.created_at.isoformat(timespec='seconds'):<25} {revoked}")


@command.command("revoke")
@click.argument("name")
def revoke_cmd(name: str) -> None:
    """Revoke the active key of client NAME (workers stop accepting it within PGX_AUTH_CACHE_TTL_S)."""
    info = _run(revoke_client, name, audit=_recorder("revoke"))
    click.echo(f"revoked client {info.name} (key id {info.key_id})")


@command.command("rotate")
@click.argument("name")
def rotate_cmd(name: str) -> None:
    """Give client NAME a new key and revoke the old one; prints the new key, once, as the last line."""
    info, key = _run(rotate_client, name, audit=_recorder("rotate"))
    click.echo(f"rotated client {info.name} (role {info.role}, new key id {info.key_id}); the key is shown once:")
    click.echo(key)


def _write_secret(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(content + "\n")
    os.chmod(path, 0o600)


@command.command("bootstrap")
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write the first admin key (default: PGX_INSTANCE_DIR/admin.key).",
)
def bootstrap_cmd(key_file: str | None) -> None:
    """If no admin client exists, create `local-admin` and write its key to a 0600 file."""
    db = _database()
    try:
        if admin_exists(db):
            click.echo("An admin API client exists.")
            click.echo(HOW_TO_CREATE)
            return
        path = Path(key_file or Path(Settings().instance_dir) / "admin.key")
        try:
            info, key = create_client(db, BOOTSTRAP_NAME, "admin", audit=_recorder("bootstrap"))
        except ClientError as exc:
            raise click.ClickException(
                f"{exc} (no active admin exists; create one with: pgx clients create NAME --role admin)"
            ) from None
        _write_secret(path, key)
    finally:
        db.dispose()
    click.echo(f"Created the admin API client {info.name} (key id {info.key_id}).")
    click.echo(f"Its key is in {path} (mode 0600); use it as: Authorization: Bearer $(cat {path})")
    click.echo(HOW_TO_CREATE)
