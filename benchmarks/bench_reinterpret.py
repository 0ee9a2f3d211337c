"""`pgx audit reinterpret` over a large audit trail: records per second and peak memory.

    .venv/bin/python benchmarks/bench_reinterpret.py                   # 1,000,000 records, SQLite
    .venv/bin/python benchmarks/bench_reinterpret.py --records 200000 --backend postgresql

A fresh database gets the reference tables as release A and, not activated, release B with one
changed allele function (CYP2C19 *9: decreased -> no function). The audit trail is filled with
answered interpretations (a mix of CYP2C19/CYP2D6/CYP2C9 inputs, some of them moved by B) inserted
in bulk (their hash chain is not what is measured). Then the reinterpret stream runs over all of
them; printed: records read per second, lines written, and the process's peak RSS before and
after the run (flat memory means the run adds little whatever the trail's length).
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, insert, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.audit.models import audit_event  # noqa: E402
from service.cli.db import upgrade  # noqa: E402
from service.db import Database  # noqa: E402
from service.interpretation.reinterpret import Progress, iter_differences  # noqa: E402
from service.pgx.knowledge import load_release_directory, release_label  # noqa: E402
from service.releases import store_release  # noqa: E402

INPUTS = (
    [{"gene": "CYP2C19", "diplotype": d} for d in ("*1/*1", "*1/*2", "*2/*2", "*1/*9", "*9/*9", "*1/*17", "*2/*9")]
    + [{"gene": "CYP2D6", "diplotype": d} for d in ("*1/*1", "*1/*4", "*4/*4", "*1/*1x2", "*10/*41")]
    + [{"gene": "CYP2C9", "diplotype": d} for d in ("*1/*1", "*1/*3", "*2/*3")]
)
DRUGS = (None, ["clopidogrel"], ["codeine"], ["celecoxib"], ["citalopram", "voriconazole"])


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fill(db: Database, release: str, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    rows = []
    with db.engine.begin() as conn:
        for seq in range(1, n + 1):
            entry = rng.choice(INPUTS)
            drugs = rng.choice(DRUGS)
            rows.append({
                "seq": seq, "audit_id": str(uuid.UUID(int=seq)), "recorded": f"2026-01-01T00:00:{seq % 60:02d}.000Z",
                "actor": "bench", "role": "pharmacy", "action": "POST /v1/interpretations", "outcome": 200,
                "patient_ref": f"{seq:064x}", "input": {"genotypes": [entry], "drugs": drugs},
                "result": {}, "genes": f"|{entry['gene']}|", "drugs": "||", "release": release,
                "warnings": [], "prev_hash": "0" * 64, "entry_hash": "0" * 64, "canonical": "{}",
            })
            if len(rows) == 20_000:
                conn.execute(insert(audit_event), rows)
                rows.clear()
        if rows:
            conn.execute(insert(audit_event), rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--pg-url", default=os.environ.get("PGX_TEST_POSTGRES_URL",
                                                       "postgresql://postgres@127.0.0.1:5432/test"))
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="bench-reinterpret-")
    if args.backend == "sqlite":
        url = f"sqlite:///{tmp}/pgx.sqlite3"
        admin, name = None, None
    else:
        name = f"pgx_bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(args.pg_url.replace("postgresql://", "postgresql+psycopg://", 1),
                              isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = args.pg_url.replace("postgresql://", "postgresql+psycopg://", 1).rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url)
        db = Database(url)
        a = load_release_directory(ROOT / "reference_tables")
        b = copy.deepcopy(a)
        next(x for x in b["genes"]["CYP2C19"]["alleles"] if x["name"] == "*9")["function"] = "No function"
        label_a = store_release(db, a, activate=True)
        label_b = store_release(db, b, activate=False)
        assert label_b == release_label(b)
        t0 = time.perf_counter()
        fill(db, label_a, args.records)
        filled = time.perf_counter() - t0
        rss_before = peak_rss_mb()
        progress = Progress()
        t0 = time.perf_counter()
        lines = 0
        for line in iter_differences(db, label_b, progress=progress):
            json.dumps(line)
            lines += 1
        elapsed = time.perf_counter() - t0
        rss_after = peak_rss_mb()
        print("| backend | records | filled in | reinterpret | records/s | lines | peak RSS before / after |")
        print("|---|---|---|---|---|---|---|")
        print(f"| {args.backend} | {progress.scanned:,} | {filled:.1f} s | {elapsed:.1f} s | "
              f"{progress.scanned / elapsed:,.0f} | {lines:,} | {rss_before:.0f} / {rss_after:.0f} MB |")
        db.dispose()
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
