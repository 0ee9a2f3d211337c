"""`pgx audit export|verify|checkpoint|pubkey`: the audit trail from the command line.

`export` is audited like the HTTP export (action `pgx audit export`, actor `cli:<os user>`).
`verify` needs no database: only the export file and the log's public key (`--public-key`, or the
key configured on this host when run next to the service).
"""

from __future__ import annotations

import getpass
import sys

import click

from service import create_app
from service.audit import get_state, make_checkpoint
from service.audit.canonical import canonical_text
from service.audit.export import FORMATS, ExportFilters, iter_export, plan_and_record_export
from service.audit.keys import SIGNING_KEY_FILE, load_signer, public_key_pem
from service.audit.verify import verify_export
from service.db import get_db
from service.interpretation import Caller
from service.interpretation.reinterpret import FORMATS as REINTERPRET_FORMATS
from service.interpretation.reinterpret import Progress
from service.interpretation.reinterpret import run as run_reinterpret
from service.releases import ReleaseNotFound
from service.settings import Settings


def _app():
    return create_app()


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in this environment
        return "cli:unknown"


@click.group("audit")
def command() -> None:
    """The audit trail: export, verify offline, checkpoints, the signing public key."""


@command.command("export")
@click.option("--since", help="ISO 8601: from the first record at or after this time.")
@click.option("--until", help="ISO 8601: up to the last record at or before this time.")
@click.option("--actor", help="API client name.")
@click.option("--patient-ref", help="The real patient reference (pseudonymized before the search).")
@click.option("--gene")
@click.option("--drug")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="ndjson", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="File (default: stdout).")
def export_cmd(since, until, actor, patient_ref, gene, drug, fmt, output) -> None:
    """Export the audit trail (NDJSON ends with a signed checkpoint line)."""
    app = _app()
    filters = ExportFilters(since, until, actor, patient_ref, gene, drug)
    try:
        filters = filters.normalized()
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 time ({exc})") from None
    with app.app_context():
        db, state = get_db(), get_state()
        receipt, plan = plan_and_record_export(
            db, state, filters, fmt, action="pgx audit export", actor=cli_actor(), role="admin"
        )
        out = open(output, "wb") if output else sys.stdout.buffer  # noqa: SIM115
        try:
            for chunk in iter_export(db, plan, fmt, state=state):
                out.write(chunk.encode("utf-8"))
        finally:
            if output:
                out.close()
            else:
                out.flush()
    if output:
        click.echo(
            f"exported seq {plan.first_seq}..{plan.last_seq} to {output} (this export is audit record {receipt.seq})",
            err=True,
        )


@command.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--public-key", "public_key", type=click.Path(exists=True, dir_okay=False),
              help="The log's Ed25519 public key (PEM); default: this host's configured signing key.")
@click.option("--previous-checkpoint", type=click.Path(exists=True, dir_okay=False),
              help="An earlier checkpoint (or export) this one must extend.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Processes for a large file (default: up to 4 CPUs).")
def verify_cmd(file, public_key, previous_checkpoint, jobs) -> None:
    """Verify an NDJSON export offline; exit 0 if valid, 1 if not (naming the record)."""
    key = public_key
    if key is None:
        # Next to the service: its configured (or development) signing key. Never make a new one
        # here: a fresh key would only "explain" a failure. Elsewhere, pass --public-key.
        from pathlib import Path


        settings = Settings()
        key_file = settings.audit_signing_key_file or str(Path(settings.instance_dir) / SIGNING_KEY_FILE)
        if not Path(key_file).is_file():
            raise click.UsageError("no signing key on this host: pass --public-key (the log's public key, PEM)")
        key = load_signer(key_file, settings.instance_dir).public_key
    report = verify_export(file, public_key=key, previous_checkpoint=previous_checkpoint, jobs=jobs)
    click.echo(report.summary())
    for finding in report.errors[1:]:
        click.echo(f"  {finding}")
    for note in report.notes:
        click.echo(f"  note: {note}")
    sys.exit(0 if report.ok else 1)


@command.command("checkpoint")
def checkpoint_cmd() -> None:
    """Sign and store a checkpoint of the current head; print it (keep it to check later exports)."""
    app = _app()
    with app.app_context():
        cp = make_checkpoint(get_db())
    click.echo(canonical_text({"checkpoint": cp}))


@command.command("pubkey")
def pubkey_cmd() -> None:
    """Print the checkpoint signing public key (PEM) and its key id."""
    app = _app()
    with app.app_context():
        signer = get_state().signer
    click.echo(f"# key id {signer.key_id}", err=True)
    click.echo(public_key_pem(signer.public_key), nl=False)


@command.command("reinterpret")
@click.option("--release", "label", required=True, help="The stored release to replay against.")
@click.option("--since", help="ISO 8601: from the first record at or after this time.")
@click.option("--until", help="ISO 8601: up to the last record at or before this time.")
@click.option("--format", "fmt", type=click.Choice(REINTERPRET_FORMATS), default="ndjson", show_default=True)
def reinterpret_cmd(label, since, until, fmt) -> None:
    """One line per audited answer that RELEASE would answer differently (stdout); progress on stderr.

    Changes nothing in the audit trail; the run itself is recorded in it."""
    try:
        window = ExportFilters(since, until, None, None, None, None).normalized()
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 time ({exc})") from None
    progress = Progress()

    def report(p: Progress) -> None:
        share = p.scanned / max(1, p.last_seq - p.first_seq + 1)
        click.echo(f"reinterpret: {p.scanned} records read ({share:.0%} of seq {p.first_seq}..{p.last_seq}), "
                   f"{p.replayed} answers replayed, {p.differing} lines", err=True)

    app = _app()
    with app.app_context():
        caller = Caller(actor=cli_actor(), role="admin", action="pgx audit reinterpret")
        try:
            chunks = run_reinterpret(get_db(), label, window.since, window.until, fmt, caller=caller,
                                     progress=progress, on_page=report)
        except ReleaseNotFound:
            raise click.ClickException(f"no stored release is labelled {label!r}; see `pgx tables list`") from None
        for chunk in chunks:
            sys.stdout.write(chunk)
        sys.stdout.flush()
    click.echo(f"reinterpret: done; {progress.scanned} records read, {progress.differing} lines, "
               f"{progress.skipped} records skipped (refusals, exports, warfarin doses, releases not stored)",
               err=True)
