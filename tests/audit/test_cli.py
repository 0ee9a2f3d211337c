"""`pgx audit export|verify|checkpoint|pubkey` end to end on one database (SQLite)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from service.cli import main

from .helpers import append, event


def test_cli_export_verify_checkpoint_pubkey(tmp_path, monkeypatch):
    from service import create_app
    from service.cli.db import upgrade

    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    var = tmp_path / "var"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PGX_INSTANCE_DIR", str(var))
    monkeypatch.setenv("PGX_PATIENT_REF_KEY", "cli-key")
    upgrade(url)
    app = create_app({"PGX_DATABASE_URL": url})
    append(app, [event(i) for i in range(5)])
    app.extensions["pgx.db"].dispose()
    runner = CliRunner()

    cp = runner.invoke(main, ["audit", "checkpoint"])
    assert cp.exit_code == 0, cp.output
    (tmp_path / "cp.json").write_text(cp.output)
    assert json.loads(cp.output)["checkpoint"]["size"] == 5

    pub = runner.invoke(main, ["audit", "pubkey"])
    assert pub.exit_code == 0 and "BEGIN PUBLIC KEY" in pub.output
    (tmp_path / "pub.pem").write_text(pub.output[pub.output.index("-----BEGIN"):])

    out = tmp_path / "all.ndjson"
    res = runner.invoke(main, ["audit", "export", "-o", str(out)])
    assert res.exit_code == 0, res.output
    lines = out.read_text().splitlines()
    assert len(lines) == 6 and "seq" not in json.loads(lines[-1])  # 5 records + the checkpoint line

    ok = runner.invoke(main, ["audit", "verify", str(out), "--public-key", str(tmp_path / "pub.pem"),
                              "--previous-checkpoint", str(tmp_path / "cp.json")])
    assert ok.exit_code == 0 and ok.output.startswith("VALID: 5 records"), ok.output

    # the export itself was audited: the next export holds it (seq 6) and extends the first
    again = tmp_path / "again.ndjson"
    assert runner.invoke(main, ["audit", "export", "-o", str(again)]).exit_code == 0
    rec6 = json.loads(again.read_text().splitlines()[5])
    assert rec6["seq"] == 6 and rec6["action"] == "pgx audit export"
    ok = runner.invoke(main, ["audit", "verify", str(again), "--previous-checkpoint", str(out)])
    assert ok.exit_code == 0, ok.output

    tampered = tmp_path / "tampered.ndjson"
    text = out.read_text().splitlines(keepends=True)
    del text[2]
    tampered.write_text("".join(text))
    bad = runner.invoke(main, ["audit", "verify", str(tampered), "--public-key", str(tmp_path / "pub.pem")])
    assert bad.exit_code == 1 and "seq 4" in bad.output and "INVALID" in bad.output

    csv_out = runner.invoke(main, ["audit", "export", "--format", "csv", "--gene", "CYP2D6"])
    assert csv_out.exit_code == 0 and csv_out.output.startswith("seq,audit_id")
    bad_time = runner.invoke(main, ["audit", "export", "--since", "yesterday"])
    assert bad_time.exit_code != 0 and "ISO 8601" in bad_time.output
