"""`pgx cds-clients add|list|revoke` against a migrated database."""

from __future__ import annotations

import json

from click.testing import CliRunner

from service.cli import main
from tests.cds.helpers import ec_key, jwks


def test_add_list_revoke(backend, new_database_url, tmp_path, monkeypatch):
    from service.cli.db import upgrade

    url = new_database_url(backend)
    upgrade(url)
    monkeypatch.setenv("DATABASE_URL", url)
    key_file = tmp_path / "ehr.jwks.json"
    key_file.write_text(jwks(ec_key(kid="ehr-1")))
    runner = CliRunner()
    out = runner.invoke(main, ["cds-clients", "add", "https://ehr.example/", "--jwks", str(key_file)])
    assert out.exit_code == 0, out.output
    assert "ehr-1" in out.output
    again = runner.invoke(main, ["cds-clients", "add", "https://ehr.example/", "--jwks", str(key_file)])
    assert again.exit_code != 0 and "registered" in again.output
    listed = runner.invoke(main, ["cds-clients", "list"])
    assert "https://ehr.example/" in listed.output and "ehr-1" in listed.output
    assert runner.invoke(main, ["cds-clients", "revoke", "https://ehr.example/"]).exit_code == 0
    assert "revoked" not in runner.invoke(main, ["cds-clients", "list"]).output.splitlines()[0]
    assert runner.invoke(main, ["cds-clients", "revoke", "https://ehr.example/"]).exit_code != 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}]}))
    refused = runner.invoke(main, ["cds-clients", "add", "https://other.example/", "--jwks", str(bad)])
    assert refused.exit_code != 0 and "asymmetric" in refused.output
