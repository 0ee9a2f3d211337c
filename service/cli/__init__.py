"""The `pgx` command: db, tables, clients, audit, serve."""

from __future__ import annotations

import importlib

import click

SUBCOMMAND_MODULES = (
    "service.cli.db",
    "service.cli.tables",
    "service.cli.clients",
    "service.cli.cds_clients",
    "service.cli.audit",
    "service.cli.serve",
)


@click.group()
def main() -> None:
    """PGx dose-guidance service administration."""


for _name in SUBCOMMAND_MODULES:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as _exc:
        if _exc.name != _name:
            raise
        continue
    main.add_command(_module.command)
