# syntax=docker/dockerfile:1
# The PGx dose-guidance service: gunicorn (via `pgx serve`) as a non-root user.
# No secret is baked in: DATABASE_URL, the database password, the patient-reference key and the
# audit signing key arrive at run time (environment variables or *_FILE secrets; docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 pgx \
    && useradd --system --uid 10001 --gid pgx --home-dir /var/lib/pgx --create-home --shell /usr/sbin/nologin pgx

WORKDIR /app

# Dependencies and the package (editable, so migrations/ and reference_tables/ are found beside it).
COPY pyproject.toml README.md ./
COPY service ./service
RUN pip install -e '.[redis]'

COPY alembic.ini ./
COPY migrations ./migrations
COPY reference_tables ./reference_tables
COPY docker/entrypoint.sh /usr/local/bin/pgx-entrypoint
RUN chmod 0755 /usr/local/bin/pgx-entrypoint

ENV PGX_INSTANCE_DIR=/var/lib/pgx \
    PGX_BIND=0.0.0.0:8000

USER pgx
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=3s --start-period=40s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]

ENTRYPOINT ["pgx-entrypoint"]
CMD ["serve"]
