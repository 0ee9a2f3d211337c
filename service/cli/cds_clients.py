"""`pgx cds-clients add|list|revoke`: the EHRs (CDS clients) trusted to call the CDS Hooks services.

A CDS client is registered by its JWT issuer (`iss`) and its public JSON Web Key Set, exchanged
out of band (`--jwks FILE`); an EHR that publishes its set may also be given its `--jku URL`,
which is then the only `jku` its tokens may name.
"""

from __future__ import annotations

from pathlib import Path

import click

from service.auth.cds_trust import CdsClientError, add_client, list_clients, revoke_client
from service.db import Database
from service.settings import Settings


def _database() -> Database:
    settings = Settings()
    return Database(settings.database_url, lock_timeout_s=settings.lock_timeout_s)


def _run(fn, *args, **kwargs):
    db = _database()
    try:
        return fn(db, *args, **kwargs)
    except CdsClientError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.dispose()


@click.group("cds-clients")
def command() -> None:
    """CDS Hooks clients (EHRs): issuers and their JSON Web Key Sets."""


@command.command("add")
@click.argument("issuer")
@click.option("--jwks", "jwks_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The EHR's public JWK Set (JSON file).")
@click.option("--jku", default=None, help="The https URL where the EHR publishes its JWK Set (optional).")
def add_cmd(issuer: str, jwks_file: Path, jku: str | None) -> None:
    """Register the CDS client whose JWTs carry `iss` ISSUER."""
    info = _run(add_client, issuer, jwks_file.read_text(encoding="utf-8"), jku)
    click.echo(f"registered CDS client {info.issuer} (keys: {', '.join(info.key_ids)})")


@command.command("list")
def list_cmd() -> None:
    """List the CDS clients: issuer, key ids, registered, revoked."""
    clients = _run(list_clients)
    click.echo(f"{'ISSUER':<48} {'KEY IDS':<30} {'REGISTERED':<25} REVOKED")
    for c in clients:
        revoked = c.revoked_at.isoformat(timespec="seconds") if c.revoked_at else "-"
        click.echo(f"{c.issuer:<48} {','.join(c.key_ids):<30} {c.created_at.isoformat(timespec='seconds'):<25} {revoked}")


@command.command("revoke")
@click.argument("issuer")
def revoke_cmd(issuer: str) -> None:
    """Stop trusting ISSUER (workers refuse its tokens within PGX_AUTH_CACHE_TTL_S)."""
    info = _run(revoke_client, issuer)
    click.echo(f"revoked CDS client {info.issuer}")
