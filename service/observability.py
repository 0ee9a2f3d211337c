"""Observability: Prometheus metrics at /metrics and structured JSON logs carrying the request id.

Metrics
-------
- ``pgx_http_requests_total{method, endpoint, status}`` and
  ``pgx_http_request_duration_seconds{method, endpoint}``: labelled by the URL *rule*
  (``/v1/genes/<gene>``), never by the raw path or query string, so no patient data and no
  unbounded label set reach the metrics.
- ``pgx_gene_results_total{gene, category}``: call :func:`observe_gene_result` once per gene result.
- ``pgx_drug_guidance_total{drug, direction}``: call :func:`observe_guidance` once per drug guidance.
- ``pgx_audit_write_seconds``: call :func:`observe_audit_write` with the time one audit record
  took to write (lock wait + insert + commit).
- ``pgx_db_write_transaction_seconds``: measured here, from SQLAlchemy events, for every
  ``Database.write_transaction()`` (BEGIN to the connection's return to the pool, commit
  included), and by the audit group commit for its own appends (:func:`observe_db_write`:
  writer-lock wait to commit; SQLite's one statement, PostgreSQL's two round trips); in the
  request path those are the audit writes.

Under gunicorn with several workers each worker has its own memory, so the values are kept in
files under ``PROMETHEUS_MULTIPROC_DIR`` (set by ``service/gunicorn_conf.py`` before any worker
imports this module) and ``/metrics`` aggregates them. Without that variable a plain
single-process registry is used (tests, ``flask run``).

``/metrics`` needs no API key: it carries only aggregate counts and timings (no genotype, no
patient reference, no client identity). Keep it off the public listener in production: the
load balancer should not route ``/metrics``, or scrape it on the private network only
(see docs/scale-out.md).

Logs
----
One JSON object per line on stderr (python-json-logger), each with ``request_id`` when emitted
inside a request. The log formatter additionally redacts, from everything it emits, the
query string and its genotype values, any ``X-Patient-*`` header value, and every genotype /
patient-reference value of the current request's JSON body: a genotype or patient reference is never written to a log, even by an exception message.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

from flask import Flask, Response, g, has_app_context, has_request_context, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pythonjsonlogger.json import JsonFormatter

from service.releases import current_knowledge

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
if os.environ.get(MULTIPROC_ENV):
    # prometheus_client writes this process's values there from the first metric on; a command
    # run before the server created it (`pgx db upgrade` imports this module too) must not fail.
    os.makedirs(os.environ[MULTIPROC_ENV], exist_ok=True)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
AUDIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)

HTTP_REQUESTS = Counter(
    "pgx_http_requests", "HTTP requests answered, by endpoint (URL rule) and status.",
    ("method", "endpoint", "status"),
)
HTTP_LATENCY = Histogram(
    "pgx_http_request_duration_seconds", "Time to answer an HTTP request, by endpoint (URL rule).",
    ("method", "endpoint"), buckets=LATENCY_BUCKETS,
)
GENE_RESULTS = Counter(
    "pgx_gene_results", "Gene results returned, by gene and phenotype category.", ("gene", "category"),
)
DRUG_GUIDANCE = Counter(
    "pgx_drug_guidance", "Drug guidance returned, by drug and dose direction.", ("drug", "direction"),
)
DB_WRITE = Histogram(
    "pgx_db_write_transaction_seconds",
    "Time a write transaction (Database.write_transaction: lock wait, statements, commit) held its "
    "connection; in the request path these are the audit writes.",
    buckets=AUDIT_BUCKETS,
)
AUDIT_WRITE = Histogram(
    "pgx_audit_write_seconds", "Time to write one audit record (lock wait, insert, commit).",
    buckets=AUDIT_BUCKETS,
)

# Label values of the domain metrics come from a closed set: the genes and drugs of the active
# knowledge release, the contract's categories and directions. Anything else (an unknown gene or
# drug typed by a client, free text) is counted as "other", so neither free text nor an unbounded
# label set reaches the metrics (one label set per distinct name grew /metrics without bound).
_OTHER = "other"
CATEGORIES = frozenset({"fast", "normal", "slow"})
DIRECTIONS = frozenset({"standard", "decrease", "increase", "alternative", "caution", "none"})
_NO_NAMES: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())
_release_names_of: dict[str, tuple[Any, frozenset[str], frozenset[str]]] = {}


def _release_names() -> tuple[frozenset[str], frozenset[str]]:
    """The gene and drug names of the active release (none outside an app context)."""
    if not has_app_context():
        return _NO_NAMES
    kb = current_knowledge(raise_if_missing=False)
    if kb is None:
        return _NO_NAMES
    known = _release_names_of.get(kb.release)
    if known is None or known[0] is not kb:
        known = (kb, frozenset(kb.gene_names), frozenset(kb.drug_names))
        if len(_release_names_of) >= 16:  # a worker holds one release at a time; a few are kept
            _release_names_of.clear()
        _release_names_of[kb.release] = known
    return known[1], known[2]


def _closed(value: Any, allowed: frozenset[str]) -> str:
    if value is None:
        return "none"
    text = getattr(value, "value", value)  # enums
    return text if text in allowed else _OTHER


class _Children:
    """`metric.labels(...)` remembered per label values: prometheus_client validates the values
    and takes a lock on every `labels()` call, a measurable share of a short request. Children
    are never removed, so a remembered one stays the metric's own. Bounded: past `limit` label
    sets, `labels()` is called as usual."""

    def __init__(self, metric, limit: int = 10_000):
        self.metric = metric
        self.limit = limit
        self._known: dict[tuple, Any] = {}

    def __call__(self, *values: Any):
        child = self._known.get(values)
        if child is None:
            child = self.metric.labels(*values)
            if len(self._known) < self.limit:
                self._known[values] = child
        return child


_gene_results = _Children(GENE_RESULTS)
_drug_guidance = _Children(DRUG_GUIDANCE)
_http_requests = _Children(HTTP_REQUESTS)
_http_latency = _Children(HTTP_LATENCY)


def observe_gene_result(gene: str | None, category: str | None, count: int = 1) -> None:
    """Count gene results answered (`count` of them with this gene and category)."""
    genes, _drugs = _release_names()
    _gene_results(_closed(gene, genes), _closed(category, CATEGORIES)).inc(count)


def observe_guidance(drug: str | None, direction: str | None, count: int = 1) -> None:
    """Count drug guidance objects answered (`count` of them with this drug and direction)."""
    _genes, drugs = _release_names()
    _drug_guidance(_closed(drug, drugs), _closed(direction, DIRECTIONS)).inc(count)


def observe_audit_write(seconds: float) -> None:
    """Record the duration of one audit write (lock wait + insert + commit), in seconds."""
    AUDIT_WRITE.observe(max(0.0, float(seconds)))


def observe_db_write(seconds: float) -> None:
    """Record one audit write that is not a `Database.write_transaction()` (SQLite's guarded
    INSERT under the writer lock: lock wait, statement, commit), in seconds."""
    DB_WRITE.observe(max(0.0, float(seconds)))


_WRITE_T0 = "pgx_write_t0"
_db_events_installed = False


def _install_db_write_timing() -> None:
    """Time every write transaction from its BEGIN to the connection's return to the pool.

    Listeners on the Engine and Pool classes, so they cover the per-process engines that
    service.db creates lazily after fork. The commit (and its fsync / WAL flush) happens before
    the connection is checked in, so it is included; so is SQLite's BEGIN IMMEDIATE wait when
    it runs after this listener (registered first, so it does).
    """
    global _db_events_installed
    if _db_events_installed:
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import Pool

    @event.listens_for(Engine, "begin")
    def _begin(conn):
        if conn.get_execution_options().get("pgx_write"):
            conn.info[_WRITE_T0] = time.perf_counter()

    @event.listens_for(Pool, "checkin")
    def _checkin(_dbapi_conn, record):
        if record is None:
            return
        started = record.info.pop(_WRITE_T0, None)
        if started is not None:
            DB_WRITE.observe(time.perf_counter() - started)

    _db_events_installed = True


def metrics_payload() -> bytes:
    """The exposition text: aggregated over every worker in multiprocess mode."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


# ----------------------------------------------------------------------------------------------
# Logs

# JSON body keys whose values are genotypes or patient identifiers.
SENSITIVE_KEYS = frozenset(
    {"patient_ref", "diplotype", "genotype", "alleles", "allele", "input", "phenotype", "activity_score",
     "variants", "calls"}
)
_MAX_REDACTIONS = 5000
_REDACTED = "[redacted]"


def _collect_strings(value: Any, out: set[str], sensitive: bool) -> None:
    if len(out) >= _MAX_REDACTIONS:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _collect_strings(item, out, sensitive or key in SENSITIVE_KEYS)
    elif isinstance(value, list):
        for item in value:
            _collect_strings(item, out, sensitive)
    elif sensitive and isinstance(value, str | int | float) and not isinstance(value, bool):
        text = str(value).strip()
        if len(text) >= 2:
            out.add(text)


def _request_secrets() -> list[str]:
    """Strings from the current request that must never appear in a log line (longest first)."""
    found: set[str] = set()
    query = request.query_string.decode("latin-1")
    if query:
        found.add(query)
    for key, value in request.args.items(multi=True):
        if key in SENSITIVE_KEYS and len(value.strip()) >= 2:
            found.add(value.strip())
    for name, value in request.headers.items():
        if "patient" in name.lower() and len(value.strip()) >= 2:
            found.add(value.strip())
    if request.is_json:
        body = request.get_json(silent=True)
        if body is not None:
            _collect_strings(body, found, sensitive=False)
    return sorted(found, key=len, reverse=True)


def redact(value: Any, secrets: list[str]) -> Any:
    """`value` with every occurrence of each secret replaced (strings inside dicts/lists too)."""
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, _REDACTED)
        return value
    if isinstance(value, dict):
        return {key: redact(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item, secrets) for item in value]
    return value


class RequestContextFilter(logging.Filter):
    """Adds `request_id` (and the endpoint rule) to every record emitted inside a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            if getattr(record, "request_id", None) is None:
                record.request_id = getattr(g, "request_id", None)
            if getattr(record, "endpoint", None) is None:
                rule = request.url_rule
                record.endpoint = rule.rule if rule is not None else None
        return True


class RedactingJsonFormatter(JsonFormatter):
    """JSON lines; inside a request, every genotype / patient-reference / query value is redacted."""

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        log_data = super().process_log_record(log_data)
        if not has_request_context():
            return log_data
        try:
            secrets = _request_secrets()
        except Exception:  # redaction must never fail open: withhold the free text instead
            return {key: value for key, value in log_data.items() if key not in {"message", "exc_info"}} | {
                "message": "log record withheld (redaction failed)"
            }
        return redact(log_data, secrets) if secrets else log_data


class DropSqlEchoFilter(logging.Filter):
    """Drops SQLAlchemy's statement echo (INFO/DEBUG of sqlalchemy.engine / sqlalchemy.pool).

    Its parameter lines carry audit payloads (normalized genotypes) and SQLAlchemy truncates long
    values mid-string, so they cannot be redacted reliably: they are never written at all.
    Warnings and errors from SQLAlchemy still pass.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith(("sqlalchemy.engine", "sqlalchemy.pool")) and record.levelno < logging.WARNING)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"


def make_formatter() -> logging.Formatter:
    return RedactingJsonFormatter(
        LOG_FORMAT,
        rename_fields={"levelname": "level", "name": "logger", "asctime": "time"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )


def make_handler(stream: Any = None) -> logging.Handler:
    """A stream handler writing the service's JSON lines (request id, redaction, no SQL echo)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(make_formatter())
    handler.addFilter(DropSqlEchoFilter())
    handler.addFilter(RequestContextFilter())
    return handler


_HANDLER_MARK = "_pgx_json_handler"


def configure_logging(level: str | int | None = None) -> logging.Handler:
    """Install one JSON handler on the root logger (idempotent); returns it."""
    root = logging.getLogger()
    for handler in root.handlers:
        if getattr(handler, _HANDLER_MARK, False):
            return handler
    handler = make_handler(sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    root.addHandler(handler)
    root.setLevel(level or os.environ.get("PGX_LOG_LEVEL", "INFO").upper())
    return handler


# ----------------------------------------------------------------------------------------------
# Flask wiring


def _endpoint_label() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else "unmatched"


def init_app(app: Flask) -> None:
    _install_db_write_timing()
    app.extensions["pgx.observe_db_write"] = observe_db_write  # for the audit group commit
    if not app.testing and not app.config.get("TESTING"):
        configure_logging(app.config.get("PGX_LOG_LEVEL"))
    # Flask's own handler would print plain-text lines beside ours; ours goes through the root.
    app.logger.handlers.clear()
    app.logger.propagate = True

    @app.before_request
    def _start_timer():
        g.pgx_started = time.perf_counter()

    @app.after_request
    def _record(resp: Response):
        started = g.get("pgx_started")
        if started is not None:
            endpoint = _endpoint_label()
            method = request.method
            _http_latency(method, endpoint).observe(time.perf_counter() - started)
            _http_requests(method, endpoint, resp.status_code).inc()
        return resp

    @app.get("/metrics")
    def metrics():
        """Prometheus exposition (aggregate counts and timings only; no patient data)."""
        return Response(metrics_payload(), content_type=CONTENT_TYPE_LATEST)
