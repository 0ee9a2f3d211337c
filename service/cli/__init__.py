"""The `pgx` command: db, tables, clients, audit, serve, vcf."""

from __future__ import annotations

import click

from service.cli import audit, cds_clients, clients, db, serve, tables, vcf


@click.group()
def main() -> None:
    """PGx dose-guidance service administration."""


for _module in (db, tables, clients, cds_clients, audit, serve, vcf):
    main.add_command(_module.command)
