"""Audit-trail benchmark: export 1,000,000 records (NDJSON, streamed) and verify them offline.

    .venv/bin/python benchmarks/bench_audit.py                # 1,000,000 records, SQLite in a temp dir
    .venv/bin/python benchmarks/bench_audit.py -n 200000 --database-url postgresql://postgres@127.0.0.1:5432/bench

Targets (issue #4): export >= 50,000 records/s with peak memory < 150 MB; verify >= 100,000
records/s. Records are generated directly into the database with correct chaining (same canonical
form and hash as the service's writer, bypassing HTTP), then the export and the verification each
run in a fresh process that reports its own peak RSS (ru_maxrss). Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DRUGS = ["codeine", "tramadol", "clopidogrel", "simvastatin", "warfarin", "tacrolimus"]
GENES = ["CYP2D6", "CYP2C19", "SLCO1B1", "CYP2C9", "CYP3A5", "DPYD"]


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss it is not inherited across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time of this process and its waited-for children (parallel verification uses workers)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def _app(url: str, instance: Path):
    from service import create_app

    return create_app({"PGX_DATABASE_URL": url, "PGX_INSTANCE_DIR": str(instance), "PGX_PATIENT_REF_KEY": "bench"})


def generate(url: str, instance: Path, n: int, batch: int = 20_000) -> float:
    from sqlalchemy import insert

    from service.audit import get_state
    from service.audit.canonical import FORMAT_VERSION, GENESIS_HASH, canonical_text
    from service.audit.models import audit_event
    from service.audit.writer import insert_checkpoint, utc_now_iso
    from service.cli.db import upgrade
    from service.db import get_db

    upgrade(url)
    app = _app(url, instance)
    started = time.perf_counter()
    with app.app_context():
        db, state = get_db(), get_state()
        prev, seq = GENESIS_HASH, 0
        while seq < n:
            rows = []
            recorded = utc_now_iso()
            for _ in range(min(batch, n - seq)):
                seq += 1
                gene, drug = GENES[seq % len(GENES)], DRUGS[seq % len(DRUGS)]
                p = {
                    "actor": f"pharmacy-{seq % 7}",
                    "role": "pharmacy",
                    "action": "POST /v1/interpretations",
                    "outcome": 200,
                    "purpose": "TREAT",
                    "patient_ref": state.pseudonymize(f"MRN-{seq % 50_000}"),
                    "input": {"genotypes": [{"gene": gene, "diplotype": "*1/*2"}], "drugs": [drug]},
                    "result": {
                        "genes": [{"gene": gene, "phenotype": "Intermediate Metabolizer", "category": "slow", "status": "ok"}],
                        "drugs": [{"drug": drug, "direction": "decrease", "classification": "Moderate", "status": "ok"}],
                    },
                    "genes": [gene],
                    "drugs": [drug],
                    "release": "pgx-tables-2026.11.1",
                    "request_id": uuid.uuid4().hex,
                    "source_addr": "10.0.0.7",
                    "warnings": [],
                }
                audit_id = str(uuid.uuid4())
                body = {"v": FORMAT_VERSION, "seq": seq, "audit_id": audit_id, "recorded": recorded, **p, "prev_hash": prev}
                canon = canonical_text(body)
                entry = hashlib.sha256(canon.encode("utf-8")).hexdigest()
                rows.append({**p, "seq": seq, "audit_id": audit_id, "recorded": recorded, "genes": f"|{gene}|",
                             "drugs": f"|{drug}|", "prev_hash": prev, "entry_hash": entry, "canonical": canon})
                prev = entry
            with db.write_transaction() as conn:
                conn.execute(insert(audit_event), rows)
                if seq % 100_000 == 0 or seq == n:
                    insert_checkpoint(conn, state, seq, prev)
        db.dispose()
    return time.perf_counter() - started


def run_export(url: str, instance: Path, out: Path) -> dict:
    from service.audit.export import ExportFilters, iter_export
    from service.db import get_db

    app = _app(url, instance)
    started, cpu = time.perf_counter(), time.process_time()
    size = 0
    with app.app_context(), open(out, "wb") as fh:
        for chunk in iter_export(get_db(), ExportFilters(), "ndjson"):
            data = chunk.encode("utf-8")
            size += len(data)
            fh.write(data)
    return {"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu, "bytes": size,
            "peak_rss_mb": peak_rss_mb()}


def run_verify(instance: Path, path: Path, jobs: int | None = None) -> dict:
    from service.audit.keys import load_signer
    from service.audit.verify import verify_export

    public_key = load_signer(None, instance).public_key
    started, cpu = time.perf_counter(), cpu_seconds()
    report = verify_export(path, public_key=public_key, jobs=jobs)
    return {"seconds": time.perf_counter() - started, "cpu_seconds": cpu_seconds() - cpu, "jobs": jobs, "records": report.records, "ok": report.ok,
            "summary": report.summary(), "peak_rss_mb": peak_rss_mb()}


def run_tracemalloc_export(url: str, instance: Path, out: Path) -> dict:
    import tracemalloc

    tracemalloc.start()
    result = run_export(url, instance, out)
    result["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return result


def child(step: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--step", step, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"step {step} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--records", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="default: a SQLite file in a temp dir (an empty PG database works too)")
    parser.add_argument("--workdir", help="keep files here (default: a temp dir)")
    parser.add_argument("--tracemalloc", action="store_true", help="also measure the export's Python heap peak (slower)")
    parser.add_argument("--jobs", type=int, help="verification processes (default: up to 4 CPUs)")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--instance", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("PGX_LOG_LEVEL", "WARNING")

    if args.step == "export":
        print(json.dumps(run_export(args.url, Path(args.instance), Path(args.out))))
        return
    if args.step == "tracemalloc":
        print(json.dumps(run_tracemalloc_export(args.url, Path(args.instance), Path(args.out))))
        return
    if args.step == "verify":
        print(json.dumps(run_verify(Path(args.instance), Path(args.out), args.jobs)))
        return

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-audit-"))
    work.mkdir(parents=True, exist_ok=True)
    url = args.database_url or f"sqlite:///{work / 'audit.sqlite3'}"
    instance = work / "var"
    out = work / "export.ndjson"
    n = args.records
    # Generating test data need not be durable; the export and verification read it back as usual.
    os.environ["PGX_SQLITE_SYNCHRONOUS"] = "OFF"
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall-clock rates suffer on a busy machine)")
    print(f"generating {n:,} chained records into {url.split('@')[-1]} ...", flush=True)
    gen_s = generate(url, instance, n)
    print(f"  generated in {gen_s:.1f} s ({n / gen_s:,.0f} records/s)")

    exp = child("export", "--url", url, "--instance", str(instance), "--out", str(out))
    print(f"export: {n:,} records, {exp['bytes'] / 2**20:,.0f} MiB NDJSON in {exp['seconds']:.2f} s = "
          f"{n / exp['seconds']:,.0f} records/s ({n / exp['cpu_seconds']:,.0f} per CPU-second); peak RSS of the exporting process {exp['peak_rss_mb']:.0f} MB "
          f"(target >= 50,000 records/s, < 150 MB)")
    if args.tracemalloc:
        tm = child("tracemalloc", "--url", url, "--instance", str(instance), "--out", str(out))
        print(f"export under tracemalloc: Python heap peak {tm['tracemalloc_peak_mb']:.1f} MB")
    ver1 = child("verify", "--instance", str(instance), "--out", str(out), "--jobs", "1")
    print(f"verify, 1 process: {ver1['records']:,} records in {ver1['seconds']:.2f} s = "
          f"{ver1['records'] / ver1['seconds']:,.0f} records/s ({ver1['records'] / ver1['cpu_seconds']:,.0f} per CPU-second)")
    jobs_args = ["--jobs", str(args.jobs)] if args.jobs else []
    ver = child("verify", "--instance", str(instance), "--out", str(out), *jobs_args)
    print(f"verify, default processes (up to 4 CPUs): {ver['records']:,} records in {ver['seconds']:.2f} s = {ver['records'] / ver['seconds']:,.0f} records/s "
          f"({ver['records'] / ver['cpu_seconds']:,.0f} per CPU-second); "
          f"peak RSS {ver['peak_rss_mb']:.0f} MB (target >= 100,000 records/s)")
    print(f"  {ver['summary']}")


if __name__ == "__main__":
    main()
