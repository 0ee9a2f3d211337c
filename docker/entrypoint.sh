#!/bin/sh
# Container entry point.
#   serve (default): migrate the database, load the image's reference tables when no knowledge
#                    release is active yet, then run gunicorn (`pgx serve`), which replaces this shell.
#   anything else:   run it as given, e.g. `docker compose run --rm app pgx clients create lis --role pharmacy`.
# Settings come from the environment only. A database password can come from a file:
# PGPASSWORD_FILE=/run/secrets/postgres_password (libpq reads PGPASSWORD; DATABASE_URL then
# carries no password).
set -eu

if [ -n "${PGPASSWORD_FILE:-}" ] && [ -z "${PGPASSWORD:-}" ]; then
    PGPASSWORD="$(cat "$PGPASSWORD_FILE")"
    export PGPASSWORD
fi

if [ "$#" -eq 0 ] || [ "$1" = "serve" ]; then
    [ "$#" -gt 0 ] && shift
    # With several app instances, run migrations once (a one-off job) and set PGX_MIGRATE=0 here.
    if [ "${PGX_MIGRATE:-1}" = "1" ]; then
        pgx db upgrade
        if ! pgx tables list 2>/dev/null | grep -q '^\*'; then
            pgx tables load --if-changed
        fi
    fi
    exec pgx serve --bind "${PGX_BIND:-0.0.0.0:8000}" "$@"
fi

exec "$@"
