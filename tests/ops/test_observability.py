"""Metrics at /metrics and JSON logs: labelled by URL rule, request id in every line, no patient data."""

from __future__ import annotations

import io
import json
import logging

import pytest

from service import observability
from service.observability import (
    make_handler,
    observe_audit_write,
    observe_gene_result,
    observe_guidance,
)

DIPLOTYPE = "*2/*17"
PATIENT_REF = "MRN-0042-ZETA"


@pytest.fixture
def log_capture():
    """Everything logged (DEBUG and up) while the test runs, formatted as the service formats it."""
    stream = io.StringIO()
    handler = make_handler(stream)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


@pytest.fixture(scope="module")
def bare_app(tmp_path_factory):
    """The app without a migrated database: enough for /healthz, /metrics and logging."""
    from service import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('obs') / 'empty.sqlite3'}"
    application = create_app({"PGX_DATABASE_URL": url, "TESTING": True})
    yield application
    application.extensions["pgx.db"].dispose()


@pytest.fixture
def bare_client(bare_app):
    return bare_app.test_client()


def _metric_lines(client) -> list[str]:
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    return resp.get_data(as_text=True).splitlines()


def _sample(lines: list[str], name: str, **labels: str) -> float:
    """The value of one sample (0 when it is not exposed yet)."""
    for line in lines:
        head, _, value = line.rpartition(" ")
        if head.startswith(name + "{") and all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    return 0.0


def test_metrics_count_requests_by_url_rule_not_raw_path(bare_client):
    client = bare_client
    rule = "/v1/genes/<string:gene>"  # a route with a variable part
    assert rule in {r.rule for r in client.application.url_map.iter_rules()}
    before = _metric_lines(client)
    client.get("/healthz")
    client.get("/no/such/page/MRN-0042-ZETA")
    client.get("/v1/genes/CYP2C19")  # refused (no key) or answered: counted by its rule either way
    lines = _metric_lines(client)
    name = "pgx_http_requests_total"
    # Deltas: the registry is process-wide, and other tests counted requests before this one.
    assert _sample(lines, name, endpoint="/healthz", status="200", method="GET") >= _sample(before, name, endpoint="/healthz",
                                                                             status="200", method="GET") + 1
    assert _sample(lines, name, endpoint="unmatched", status="404", method="GET") == _sample(
        before, name, endpoint="unmatched", status="404", method="GET") + 1
    counted = sum(_sample(lines, name, endpoint=rule, status=str(s)) - _sample(before, name, endpoint=rule,
                                                                             status=str(s))
                  for s in (200, 401, 403, 404, 503))
    assert counted == 1
    lines = [line for line in lines if line.startswith(name + "{")]
    text = "\n".join(lines)
    assert "MRN-0042-ZETA" not in text
    assert "CYP2C19" not in text


def test_domain_metrics_fold_free_text_into_other(app):
    client = app.test_client()
    with app.app_context():  # the closed set: the active release's genes and drugs
        observe_gene_result("CYP2C19", "slow")
        observe_gene_result("<script>alert(1)</script>", None)
        observe_guidance("clopidogrel", "alternative")
    before = _metric_lines(client)
    observe_audit_write(0.0031)
    after = _metric_lines(client)
    text = "\n".join(after)
    assert 'pgx_gene_results_total{category="slow",gene="CYP2C19"}' in text
    assert 'pgx_gene_results_total{category="none",gene="other"}' in text
    assert 'pgx_drug_guidance_total{direction="alternative",drug="clopidogrel"}' in text
    # An unlabelled histogram shows `_count 0.0` before any observation: the count must move.
    count = [float(line.rsplit(" ", 1)[1]) for lines in (before, after) for line in lines
             if line.startswith("pgx_audit_write_seconds_count")]
    assert len(count) == 2 and count[1] == count[0] + 1
    assert "<script>" not in text


def _domain_label_sets(client) -> set[str]:
    return {line.rsplit(" ", 1)[0] for line in _metric_lines(client)
            if line.startswith(("pgx_gene_results_total{", "pgx_drug_guidance_total{"))}


def test_unknown_gene_and_drug_names_never_become_label_values(app, auth):
    """Issue 13, item 9: one 500-item batch of made-up names grew /metrics tenfold."""
    client = app.test_client()
    with app.app_context():
        from service.releases import current_knowledge

        kb = current_knowledge()
        genes, drugs = set(kb.gene_names), set(kb.drug_names)
    items = [{"genotypes": [{"gene": f"NOTAGENE{i}", "diplotype": "*1/*1"},
                            {"gene": "CYP2C19", "diplotype": "*1/*2"}],
              "drugs": [f"notadrug{i}", "clopidogrel"]} for i in range(500)]
    # Well-formed names a client could send for a known gene's alias or a drug in other case.
    items.append({"genotypes": [{"gene": "cyp2c19", "diplotype": "*1/*17"}], "drugs": ["CLOPIDOGREL"]})
    resp = client.post("/v1/interpretations/batch", json={"items": items}, headers=auth("pharmacy"))
    assert resp.status_code == 200
    label_sets = _domain_label_sets(client)
    assert label_sets
    size = len("\n".join(_metric_lines(client)))
    for line in label_sets:
        labels = dict(part.split("=", 1) for part in line[line.index("{") + 1:-1].split(","))
        name = (labels.get("gene") or labels.get("drug")).strip('"')
        assert name == "other" or name in genes | drugs, line
    assert not any("NOTAGENE" in s or "notadrug" in s for s in label_sets)
    # Another batch of new names adds no label set and no byte.
    for item in items:
        item["genotypes"][0]["gene"] += "X"
        item["drugs"][0] += "x"
    assert client.post("/v1/interpretations/batch", json={"items": items}, headers=auth("pharmacy")).status_code == 200
    assert _domain_label_sets(client) == label_sets
    assert len("\n".join(_metric_lines(client))) <= size + 200  # counts grow by digits only


def test_log_lines_are_json_with_the_request_id_and_redact_patient_data(bare_app, log_capture):
    app = bare_app
    with app.test_request_context(
        "/v1/interpretations",
        method="POST",
        json={"patient_ref": PATIENT_REF, "genotypes": [{"gene": "CYP2C19", "diplotype": DIPLOTYPE}]},
    ):
        from flask import g

        g.request_id = "req-abc-123"
        try:
            raise ValueError(f"unknown allele in {DIPLOTYPE} for {PATIENT_REF}")
        except ValueError:
            logging.getLogger("service.test").exception("failed on %s (%s)", DIPLOTYPE, PATIENT_REF)
    output = log_capture.getvalue()
    assert DIPLOTYPE not in output
    assert PATIENT_REF not in output
    record = json.loads(output.strip().splitlines()[-1])
    assert record["request_id"] == "req-abc-123"
    assert record["level"] == "ERROR"
    assert "[redacted]" in record["message"]
    assert "ValueError" in record["exc_info"]


def test_patient_ref_header_is_redacted(bare_app, log_capture):
    with bare_app.test_request_context("/v1/lookup", headers={"X-Patient-Ref": PATIENT_REF}):
        logging.getLogger("service.test").warning("for %s", PATIENT_REF)
    assert PATIENT_REF not in log_capture.getvalue()


def test_query_string_values_are_redacted(bare_app, log_capture):
    app = bare_app
    with app.test_request_context(f"/v1/lookup?gene=CYP2C19&diplotype={DIPLOTYPE}"):
        logging.getLogger("service.test").warning("bad input %s", DIPLOTYPE)
    assert DIPLOTYPE not in log_capture.getvalue()
    assert "[redacted]" in log_capture.getvalue()


def test_a_lookup_and_an_interpretation_log_no_genotype_or_patient_ref(client, auth, log_capture):
    """Even with SQL statement logging switched on (its parameters hold the genotype), nothing leaks."""
    sql_logger = logging.getLogger("sqlalchemy.engine")
    old_level = sql_logger.level
    sql_logger.setLevel(logging.INFO)
    try:
        _lookup_and_interpret(client, auth)
    finally:
        sql_logger.setLevel(old_level)
    output = log_capture.getvalue()
    for secret in (DIPLOTYPE, PATIENT_REF, "*1/*999", "diplotype="):
        assert secret not in output
    # SQL echo (its parameters hold the normalized genotype, truncated past redaction) never passes.
    assert '"sqlalchemy.engine' not in output
    # ...while a warning from SQLAlchemy still would.
    logging.getLogger("sqlalchemy.engine.Engine").warning("pool exhausted")
    assert "pool exhausted" in log_capture.getvalue()


def _lookup_and_interpret(client, auth):
    headers = auth("pharmacy")
    resp = client.get("/v1/lookup", query_string={"gene": "CYP2C19", "diplotype": DIPLOTYPE,
                                                  "drug": "clopidogrel"},
                      headers={**headers, "X-Patient-Ref": PATIENT_REF})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    resp = client.post(
        "/v1/interpretations",
        json={"patient_ref": PATIENT_REF, "genotypes": [{"gene": "CYP2C19", "diplotype": DIPLOTYPE}],
              "drugs": ["clopidogrel"]},
        headers=headers,
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    # A refused one too (unknown allele): error paths log as well.
    client.get("/v1/lookup", query_string={"gene": "CYP2C19", "diplotype": "*1/*999"}, headers=headers)


def test_metrics_need_no_key_and_carry_no_client_identity(client, auth):
    client.get("/v1/genes", headers=auth("pharmacy"))
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert "pharmacy" not in resp.get_data(as_text=True)
    assert "Bearer" not in resp.get_data(as_text=True)


def test_the_documented_hooks_move_their_metrics(app):
    """Each hook the module's docstring documents changes the sample it names."""
    client = app.test_client()
    before = _metric_lines(client)
    with app.app_context():
        observe_gene_result("CYP2D6", "fast", 2)
        observe_guidance("codeine", "decrease", 3)
    observability.observe_db_write(0.002)
    after = _metric_lines(client)
    for name, labels, delta in (
        ("pgx_gene_results_total", {"gene": "CYP2D6", "category": "fast"}, 2),
        ("pgx_drug_guidance_total", {"drug": "codeine", "direction": "decrease"}, 3),
        ("pgx_db_write_transaction_seconds_count", {}, 1),
    ):
        if labels:
            moved = _sample(after, name, **labels) - _sample(before, name, **labels)
        else:
            value = [float(line.rsplit(" ", 1)[1]) for lines in (before, after) for line in lines
                     if line.startswith(name + " ")]
            moved = value[1] - value[0]
        assert moved == delta, name


def test_write_transactions_are_timed(bare_app, bare_client):
    from sqlalchemy import text

    from service.db import get_db

    def count() -> float:
        for line in _metric_lines(bare_client):
            if line.startswith("pgx_db_write_transaction_seconds_count"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = count()
    db = get_db(bare_app)
    with db.write_transaction() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS obs_probe (x INTEGER)"))
    with db.read() as conn:  # a read transaction is not counted
        conn.execute(text("SELECT 1"))
    assert count() == before + 1
