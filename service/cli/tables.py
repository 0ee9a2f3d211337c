"""`pgx tables load|list|activate`: knowledge releases in the database named by DATABASE_URL."""

from __future__ import annotations

import json

import click

from service.db import Database
from service.pgx.release_diff import diff_releases, render_text
from service.releases import (
    ReleaseNotFound,
    activate_release,
    list_releases,
    load_release_directory_into_db,
    release_payload,
)
from service.settings import Settings


def _database() -> Database:
    settings = Settings()
    return Database(settings.database_url, lock_timeout_s=settings.lock_timeout_s)


@click.group("tables")
def command() -> None:
    """Reference tables as knowledge releases."""


@command.command("load")
@click.argument("path", required=False, type=click.Path(file_okay=False, dir_okay=True))
@click.option("--if-changed", is_flag=True, help="Do nothing when the active release already holds these tables.")
@click.option("--no-activate", is_flag=True, help="Store the release without activating it.")
@click.option("--note", default=None, help="A note kept with the release (why it was loaded).")
def load_cmd(path: str | None, if_changed: bool, no_activate: bool, note: str | None) -> None:
    """Validate the tables in PATH (default: PGX_REFERENCE_TABLES), store them as a release and
    activate it. Prints the release label as the last line."""
    path = path or Settings().reference_tables_dir
    db = _database()
    try:
        label, changed = load_release_directory_into_db(
            db, path, activate=not no_activate, if_changed=if_changed, note=note
        )
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # validation errors name the offending table; never a traceback
        raise click.ClickException(f"the tables in {path} did not validate: {exc}") from None
    finally:
        db.dispose()
    if not changed and if_changed:
        click.echo("unchanged: the active release already holds these tables", err=True)
    elif no_activate:
        click.echo("stored (not activated)", err=True)
    else:
        click.echo("stored and activated", err=True)
    click.echo(label)


@command.command("list")
def list_cmd() -> None:
    """The stored releases, newest first; `*` marks the active one."""
    db = _database()
    try:
        releases = list_releases(db)
    finally:
        db.dispose()
    if not releases:
        click.echo("no knowledge release stored; run `pgx tables load`", err=True)
        return
    for r in releases:
        mark = "*" if r["is_active"] else " "
        created = r["created_at"].isoformat(timespec="seconds") if r["created_at"] else "-"
        note = f"  {r['note']}" if r["note"] else ""
        click.echo(f"{mark} {r['label']}  created {created}{note}")


@command.command("activate")
@click.argument("label")
def activate_cmd(label: str) -> None:
    """Make the stored release LABEL the active one (workers pick it up without a restart)."""
    db = _database()
    try:
        activate_release(db, label)
    except ReleaseNotFound:
        raise click.ClickException(f"no stored release is labelled {label!r}; see `pgx tables list`") from None
    finally:
        db.dispose()
    click.echo(label)


@command.command("diff")
@click.argument("old")
@click.argument("new")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def diff_cmd(old: str, new: str, fmt: str) -> None:
    """What changed from the stored release OLD to NEW: genes, alleles, phenotype rules,
    recommendations and medication tables, each changed item named."""
    db = _database()
    try:
        payloads = []
        for label in (old, new):
            try:
                payloads.append(release_payload(db, label))
            except ReleaseNotFound:
                raise click.ClickException(f"no stored release is labelled {label!r}; see `pgx tables list`") from None
    finally:
        db.dispose()
    changes = diff_releases(*payloads)
    if fmt == "json":
        click.echo(json.dumps({"old": old, "new": new, "changes": [c.as_dict() for c in changes]},
                              ensure_ascii=False, indent=1))
    else:
        click.echo(render_text(changes, old, new), nl=False)
