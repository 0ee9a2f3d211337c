"""`pgx vcf interpret`, run as a process on a two-sample VCF: one audited NDJSON line per sample."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE2 = ROOT.parent / "shared" / "reference-data" / "pharmcat-vcf" / "examples" / "pharmcat.example2.vcf"
pytestmark = pytest.mark.skipif(not EXAMPLE2.is_file(), reason="../shared test data not present")


def _pgx(env, *args):
    return subprocess.run([sys.executable, "-c", "from service.cli import main; main()", *args],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_all_samples_in_parallel(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": f"sqlite:///{tmp_path / 'pgx.sqlite3'}",
           "PGX_INSTANCE_DIR": str(tmp_path / "instance")}
    assert _pgx(env, "db", "upgrade").returncode == 0
    loaded = _pgx(env, "tables", "load", str(ROOT / "reference_tables"))
    assert loaded.returncode == 0, loaded.stderr
    lines = EXAMPLE2.read_text().splitlines()
    two = "\n".join(x if x.startswith("##") else x + ("\tREFERENCE" if x.startswith("#CHROM") else "\t0/0")
                    for x in lines) + "\n"
    vcf = tmp_path / "two.vcf"
    vcf.write_text(two)
    refused = _pgx(env, "vcf", "interpret", str(vcf))
    assert refused.returncode != 0 and "2 samples" in refused.stderr
    out = tmp_path / "out.ndjson"
    run = _pgx(env, "vcf", "interpret", str(vcf), "--all-samples", "--drug", "clopidogrel", "-o", str(out),
               "--jobs", "2")
    assert run.returncode == 0, run.stderr
    assert "samples" in run.stderr  # the progress bar
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    calls = {r["sample"]: {g["gene"]: g["diplotype"] for g in r["genes"]} for r in rows}
    assert calls["Sample_2"]["CYP2C19"] == "*2/*2" and calls["REFERENCE"]["CYP2C19"] == "*38/*38"
    assert all(r["audit_id"] and r["release"] for r in rows)
