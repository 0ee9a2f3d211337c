"""`pgx serve`: run the service under gunicorn with service/gunicorn_conf.py.

The command replaces itself (exec) with `python -m gunicorn -c service/gunicorn_conf.py
'service:create_app()'`, so gunicorn's master is the process a supervisor signals: SIGTERM
stops gracefully (in-flight requests finish within PGX_GRACEFUL_TIMEOUT), SIGHUP reloads the
workers. The options only set the PGX_* variables the config file reads; every other setting
comes from the environment (see the config file's docstring).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

CONFIG_FILE = Path(__file__).resolve().parent.parent / "gunicorn_conf.py"
APP = "service:create_app()"


def gunicorn_argv() -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--config", str(CONFIG_FILE), APP]


@click.command("serve")
@click.option("--bind", "bind", default=None, metavar="HOST:PORT",
              help="Address to listen on (env PGX_BIND; default 127.0.0.1:8000). Repeat with commas for several.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes (env PGX_WORKERS; default one per CPU the server may use).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Threads per worker (env PGX_THREADS; default 24).")
@click.option("--timeout", type=click.IntRange(min=1), default=None,
              help="Seconds before a silent worker is replaced (env PGX_TIMEOUT; default 30).")
@click.option("--access-log", default=None, help="Access log target: '-' (stdout), a file, or 'off' (env PGX_ACCESS_LOG).")
def command(bind: str | None, workers: int | None, threads: int | None, timeout: int | None,
            access_log: str | None) -> None:
    """Serve the API with gunicorn (gthread workers; graceful stop on SIGTERM)."""
    for name, value in (("PGX_BIND", bind), ("PGX_WORKERS", workers), ("PGX_THREADS", threads),
                        ("PGX_TIMEOUT", timeout), ("PGX_ACCESS_LOG", access_log)):
        if value is not None:
            os.environ[name] = str(value)
    argv = gunicorn_argv()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)  # noqa: S606 - our own interpreter and a fixed argument list
