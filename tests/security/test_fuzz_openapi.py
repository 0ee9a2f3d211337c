"""Schemathesis against the service's own /openapi.json, in process through the WSGI app.

Every documented operation gets generated requests (valid and invalid), each sent without a key
and as each of the four roles. Checks: no 5xx, every response matches its documented schema and
content type, and no secured operation answers without a key. Bounded and deterministic (derandomized hypothesis, no example database) so CI is
stable: PGX_FUZZ_EXAMPLES (default 15) examples per operation.

Uses the module-level `schemathesis.openapi.from_wsgi` loader: `schemathesis.pytest.from_fixture`
breaks on pytest 9.2.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

# A dev dependency: without it this module skips, saying so, instead of breaking the collection.
schemathesis = pytest.importorskip("schemathesis", reason="schemathesis (the dev extra) is not installed")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
ROLES = ("pharmacy", "clinician", "auditor", "admin")
# ignored_auth: an operation documented as needing a key must refuse a request without one.
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, ignored_auth]
MAX_EXAMPLES = int(os.environ.get("PGX_FUZZ_EXAMPLES", "15"))


def _build_app():
    from service import create_app
    from service.auth.clients import create_client
    from service.cli.db import upgrade
    from service.releases import load_release_directory_into

    db_dir = tempfile.mkdtemp(prefix="pgx-fuzz-")
    atexit.register(shutil.rmtree, db_dir, ignore_errors=True)
    url = f"sqlite:///{db_dir}/fuzz.sqlite3"
    upgrade(url)
    app = create_app({"PGX_DATABASE_URL": url, "TESTING": True, "PGX_RATELIMIT_DEFAULT": "1000000/minute",
                      "PGX_INSTANCE_DIR": f"{db_dir}/instance"})
    with app.app_context():
        load_release_directory_into(app, REPO_ROOT / "reference_tables")
        keys = {role: create_client(app, f"fuzz-{role}-{uuid.uuid4().hex[:8]}", role)[1] for role in ROLES}
    return app, keys


APP, KEYS = _build_app()
schema = schemathesis.openapi.from_wsgi("/openapi.json", APP)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_conforms_for_every_role(case):
    case.call_and_validate(checks=CHECKS)  # no key
    for role in ROLES:
        case.call_and_validate(headers={"Authorization": f"Bearer {KEYS[role]}"}, checks=CHECKS)
