#!/usr/bin/env python3
"""HTTP benchmarks of the real server (`pgx serve`, gunicorn) on loopback, with wrk.

    .venv/bin/python benchmarks/bench_http.py                     # SQLite and PostgreSQL
    .venv/bin/python benchmarks/bench_http.py --backend sqlite --duration 5 --runs 1   # quick look

For each database (a fresh SQLite file; a fresh database on the PostgreSQL server named by
--pg-url / PGX_TEST_POSTGRES_URL, dropped afterwards) it migrates, loads the reference tables,
creates an API client, starts `pgx serve`, and measures:

  A. audited `GET /v1/lookup` req/s against `GET /healthz` req/s on the same server in the same
     run (alternating runs; medians), with p50/p99 latency at --connections (default 32);
  B. one `POST /v1/interpretations/batch` of 1000 items (3 genes and 3 drugs each): latency;
  C. the lookup rate with 1, 2 and 4 workers;
  D. what bounds it: the audit write time (pgx_audit_write_seconds from /metrics: its mean, and
     audit writes/s x mean = the share of wall time the serialized audit section is busy) and,
     on SQLite, synchronous=FULL (the default) against NORMAL (one fsync per commit less).
  E. with --cds, CDS Hooks order-sign calls (real JWTs) vs /healthz (bench_cds.py); F. FHIR vs JSON (bench_fhir.py).

Nothing is asserted: the figures are printed (Markdown tables) and, with --json-out, saved.
The load generator shares the machine with the server (and with PostgreSQL): on a 2-core box
the absolute numbers are a floor; the lookup/healthz ratio is the comparable figure.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import bench_cds  # the --cds section (this script's own folder is on sys.path)
import bench_fhir  # section F: POST /v1/fhir/interpretations vs POST /v1/interpretations, same input

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PGX = BIN / "pgx"
WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_report.lua"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"

# (gene, diplotype, drug): valid inputs across several genes; the lookup cycles through them.
LOOKUPS = [
    ("CYP2C19", "*1/*2", "clopidogrel"),
    ("CYP2C19", "*1/*17", "clopidogrel"),
    ("CYP2C19", "*2/*2", "clopidogrel"),
    ("CYP2D6", "*1/*4", "codeine"),
    ("CYP2D6", "*1/*1x2", "codeine"),
    ("CYP2D6", "*4/*4", "codeine"),
    ("CYP2C9", "*1/*3", "celecoxib"),
    ("CYP2C9", "*1/*1", "celecoxib"),
    ("TPMT", "*1/*3A", "azathioprine"),
    ("SLCO1B1", "*1/*5", "simvastatin"),
]
BATCH_GENES = {
    "CYP2C19": ["*1/*1", "*1/*2", "*1/*17", "*2/*2", "*2/*17"],
    "CYP2D6": ["*1/*1", "*1/*4", "*4/*4", "*1/*1x2", "*1/*41"],
    "CYP2C9": ["*1/*1", "*1/*2", "*1/*3", "*2/*3", "*3/*3"],
}
BATCH_DRUGS = ["clopidogrel", "codeine", "celecoxib"]


# ----------------------------------------------------------------------------------------------
# Machine and tools


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk not found: installing Debian's wrk package", file=sys.stderr)
        subprocess.run(["apt-get", "update", "-qq"], check=False, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, timeout=600)
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit("wrk is required: install it with your package manager (Debian/Ubuntu: apt-get install wrk)")


def machine_info(pg_url: str | None) -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": _run_text(["free", "-h"]).splitlines()[1].split()[1] if shutil.which("free") else "?",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": _run_text(["wrk", "--version"]).splitlines()[0] if shutil.which("wrk") else "?",
        "gunicorn": _run_text([str(BIN / "gunicorn"), "--version"]).strip(),
    }
    if pg_url:
        try:
            from sqlalchemy import create_engine, text

            from service.db import normalize_url

            engine = create_engine(normalize_url(pg_url))
            with engine.connect() as conn:
                info["postgresql"] = conn.execute(text("SHOW server_version")).scalar_one()
                info["pg_fsync"] = conn.execute(text("SHOW fsync")).scalar_one()
                info["pg_synchronous_commit"] = conn.execute(text("SHOW synchronous_commit")).scalar_one()
            engine.dispose()
        except Exception as exc:  # report, don't fail: the PostgreSQL half will say it is skipped
            info["postgresql"] = f"unreachable ({type(exc).__name__})"
    return info


def _run_text(argv: list[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return result.stdout + result.stderr
    except OSError:
        return "?"


# ----------------------------------------------------------------------------------------------
# Database and server


@contextmanager
def fresh_database(backend: str, pg_url: str | None, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'bench.sqlite3'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from service.db import normalize_url

    admin = normalize_url(pg_url or DEFAULT_PG)
    name = f"pgx_bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def pgx(args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run([str(PGX), *args], env=env, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        sys.exit(f"pgx {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return result.stdout


def prepare(url: str, workdir: Path) -> tuple[dict[str, str], str]:
    env = dict(os.environ)
    env.update(DATABASE_URL=url, PGX_INSTANCE_DIR=str(workdir / "instance"))
    pgx(["db", "upgrade"], env)
    pgx(["tables", "load", str(REPO / "reference_tables")], env)
    key = pgx(["clients", "create", f"bench-{uuid.uuid4().hex[:6]}", "--role", "pharmacy"], env).strip().splitlines()[-1]
    return env, key


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SERVER_PIDS: dict[str, int] = {}
RATELIMIT_STORAGE = ["memory://"]
SERVER_ENV: dict[str, str] = {}  # --server-env: settings of every server this run starts
_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: str) -> tuple[str, int, float] | None:
    """(comm, ppid, cpu seconds) of a process, from /proc."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1:raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2:].split()
    return comm, int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def cpu_seconds(master_pid: int | None) -> dict[str, float]:
    """CPU time used so far by the server (master + workers) and by all PostgreSQL processes."""
    app = pg = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = _stat(entry)
        if st is None:
            continue
        comm, ppid, cpu = st
        if master_pid is not None and (int(entry) == master_pid or ppid == master_pid):
            app += cpu
        elif comm.startswith("postgres"):
            pg += cpu
    return {"app": app, "pg": pg}


@contextmanager
def server(env: dict[str, str], workdir: Path, workers: int, threads: int,
           extra_env: dict[str, str] | None = None) -> Iterator[str]:
    port = _free_port()
    run_env = dict(env)
    metrics_dir = Path(tempfile.mkdtemp(prefix="metrics-", dir=workdir))
    run_env.update(
        PGX_RATELIMIT="100000000/minute",  # the benchmark measures the service, not the limiter
        PGX_ACCESS_LOG=str(workdir / "access.log"),  # on, as in production, to a file
        PGX_LOG_LEVEL="warning",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        PGX_MAX_REQUESTS="0",  # no worker recycling in the middle of a measurement
        PGX_RATELIMIT_STORAGE_URI=RATELIMIT_STORAGE[0],
    )
    run_env.update(SERVER_ENV)
    run_env.update(extra_env or {})
    log = open(workdir / f"server-{port}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(PGX), "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads)],
        env=run_env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    SERVER_PIDS[base] = proc.pid
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (OSError, urllib.error.HTTPError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"server did not become ready; see {log.name}")
            time.sleep(0.2)
        # Every worker loads the knowledge release on its first request: warm all of them.
        for _ in range(workers * threads * 4):
            urllib.request.urlopen(base + "/readyz", timeout=5).read()
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


# ----------------------------------------------------------------------------------------------
# Load


def write_paths(workdir: Path, paths: list[str]) -> Path:
    target = workdir / f"paths-{uuid.uuid4().hex[:6]}.txt"
    target.write_text("\n".join(paths) + "\n")
    return target


def lookup_paths() -> list[str]:
    return [
        "/v1/lookup?" + urllib.parse.urlencode({"gene": g, "diplotype": d, "drug": drug}, safe="")
        for g, d, drug in LOOKUPS
    ]


def wrk(base: str, path: str, *, connections: int, duration: float, paths_file: Path | None = None,
        auth: str | None = None, threads: int = 2, script: Path = WRK_SCRIPT, extra: dict | None = None) -> dict:
    env = {**os.environ, **(extra or {})}
    if paths_file:
        env["WRK_PATHS"] = str(paths_file)
    if auth:
        env["WRK_AUTH"] = auth
    argv = ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
            "-s", str(script), base + path]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=duration + 60)
    line = next((x for x in result.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        sys.exit(f"wrk gave no summary:\n{result.stdout}\n{result.stderr}")
    data = json.loads(line.split(" ", 1)[1])
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    data["p50_ms"] = data["p50_us"] / 1000
    data["p99_ms"] = data["p99_us"] / 1000
    data["errors"] = sum(data[k] for k in ("status_errors", "connect_errors", "read_errors", "write_errors",
                                           "timeouts"))
    return data


def measured_wrk(base: str, path: str, **kwargs) -> dict:
    """wrk, plus the server's and PostgreSQL's CPU time per request during the run."""
    before = cpu_seconds(SERVER_PIDS.get(base))
    data = wrk(base, path, **kwargs)
    after = cpu_seconds(SERVER_PIDS.get(base))
    n = max(1, data["requests"])
    data["app_cpu_ms"] = (after["app"] - before["app"]) / n * 1000
    data["pg_cpu_ms"] = (after["pg"] - before["pg"]) / n * 1000
    return data


def scrape(base: str) -> dict[str, float]:
    text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, value = line.rsplit(" ", 1)
        if name in ("pgx_audit_write_seconds_sum", "pgx_audit_write_seconds_count",
                    "pgx_db_write_transaction_seconds_sum", "pgx_db_write_transaction_seconds_count"):
            values[name] = float(value)
        elif name.startswith("pgx_http_request_duration_seconds_") and 'endpoint="/v1/lookup"' in name:
            kind = name.split("{", 1)[0].rsplit("_", 1)[-1]
            if kind in ("sum", "count"):
                values[f"lookup_{kind}"] = values.get(f"lookup_{kind}", 0.0) + float(value)
    return values


def audit_figures(before: dict[str, float], after: dict[str, float], wall_s: float) -> dict[str, float]:
    # The write transaction that carries each audit record (lock wait + insert + commit), timed by
    # service.observability from SQLAlchemy events; pgx_audit_write_seconds where the audit
    # writer reports it itself.
    metric = "pgx_audit_write_seconds"
    if not after.get(f"{metric}_count"):
        metric = "pgx_db_write_transaction_seconds"
    count = after.get(f"{metric}_count", 0) - before.get(f"{metric}_count", 0)
    total = after.get(f"{metric}_sum", 0) - before.get(f"{metric}_sum", 0)
    req_n = after.get("lookup_count", 0) - before.get("lookup_count", 0)
    req_s = after.get("lookup_sum", 0) - before.get("lookup_sum", 0)
    out = {"audit_writes": count, "lookup_server_ms": (req_s / req_n * 1000) if req_n else float("nan")}
    if count:
        out["audit_mean_ms"] = total / count * 1000
        # Time-average of requests inside an audit write (holding the lock or waiting for it):
        # above 1 means a queue forms at the writer lock.
        out["audit_busy_share"] = total / wall_s
        out["audit_share_of_request"] = (total / req_s) if req_s else float("nan")
    # The write transactions themselves (with the group commit: one per group of records; writer
    # lock wait + BEGIN + head read + insert + commit, timed from SQLAlchemy events).
    tx = "pgx_db_write_transaction_seconds"
    tx_n = after.get(f"{tx}_count", 0) - before.get(f"{tx}_count", 0)
    tx_s = after.get(f"{tx}_sum", 0) - before.get(f"{tx}_sum", 0)
    if tx_n and metric != tx:
        out["tx_per_s"] = tx_n / wall_s
        out["tx_mean_ms"] = tx_s / tx_n * 1000
        out["records_per_tx"] = count / tx_n
    return out


def lookup_vs_healthz(base: str, key: str, workdir: Path, *, connections: int, duration: float,
                      runs: int) -> dict:
    paths = write_paths(workdir, lookup_paths())
    auth = f"Bearer {key}"
    check = wrk(base, "/v1/lookup", connections=2, duration=1, paths_file=paths, auth=auth)  # warm-up
    if check["status_errors"]:
        sys.exit(f"lookup answered non-2xx during warm-up ({check['status_errors']}); check LOOKUPS")
    wrk(base, "/healthz", connections=connections, duration=2)
    health, lookup, audit = [], [], []
    for _ in range(runs):
        health.append(measured_wrk(base, "/healthz", connections=connections, duration=duration))
        before = scrape(base)
        started = time.monotonic()
        lookup.append(measured_wrk(base, "/v1/lookup", connections=connections, duration=duration, paths_file=paths,
                                   auth=auth))
        audit.append(audit_figures(before, scrape(base), time.monotonic() - started))
    return {"healthz": health, "lookup": lookup, "audit": audit}


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs if key in r) if any(key in r for r in runs) else float("nan")


def batch_body(n: int = 1000, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    items = []
    for i in range(n):
        items.append({
            "patient_ref": f"bench-{i:05d}",
            "genotypes": [{"gene": g, "diplotype": rng.choice(ds)} for g, ds in BATCH_GENES.items()],
            "drugs": list(BATCH_DRUGS),
        })
    return json.dumps({"items": items}).encode()


def batch_latency(base: str, key: str, runs: int) -> dict:
    body = batch_body()
    host, port = base.removeprefix("http://").split(":")
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    times, statuses = [], {}
    for i in range(runs + 1):
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        started = time.perf_counter()
        conn.request("POST", "/v1/interpretations/batch", body=body, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        elapsed = time.perf_counter() - started
        conn.close()
        if resp.status != 200:
            sys.exit(f"batch answered {resp.status}: {payload[:500]!r}")
        items = json.loads(payload)["items"]
        statuses = {}
        for item in items:
            statuses[item["status"]] = statuses.get(item["status"], 0) + 1
        if i > 0:  # the first is a warm-up
            times.append(elapsed * 1000)
    return {"items": len(items), "body_bytes": len(body), "statuses": statuses, "ms": times,
            "median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}


# ----------------------------------------------------------------------------------------------
# Report


def fmt(value: float, digits: int = 1) -> str:
    return "n/a" if value != value else f"{value:,.{digits}f}"  # NaN check


def run_backend(backend: str, args, workdir: Path) -> dict:
    out: dict = {"backend": backend}
    with fresh_database(backend, args.pg_url, workdir) as url:
        env, key = prepare(url, workdir)
        print(f"\n## {backend}: workers={args.workers} threads={args.threads}, {args.connections} connections, "
              f"{args.runs} x {args.duration:g}s runs, rate-limit storage {args.ratelimit_storage}"
              f"{''.join(f', {k}={v}' for k, v in SERVER_ENV.items())}; "
              f"load average before: {os.getloadavg()[0]:.2f}", flush=True)

        with server(env, workdir, args.workers, args.threads) as base:
            res = lookup_vs_healthz(base, key, workdir, connections=args.connections, duration=args.duration,
                                    runs=args.runs)
            out["headline"] = res
            if args.cds:  # benchmarks/bench_cds.py
                out["cds"] = bench_cds.section(base, env, workdir, pgx=pgx, wrk=wrk, connections=args.cds_connections,
                                               duration=args.duration, runs=args.runs,
                                               cpu=lambda: cpu_seconds(SERVER_PIDS.get(base)))
            if not args.skip_batch:
                out["batch"] = batch_latency(base, key, args.batch_runs)
            out["fhir"] = None if args.skip_fhir else bench_fhir.fhir_vs_json(base, key, workdir, args, wrk)
        h, lk = res["healthz"], res["lookup"]
        ratio = median_of(lk, "rps") / median_of(h, "rps")
        out["ratio"] = ratio
        # Each lookup run against the /healthz run just before it: the machine's speed drifts
        # between runs (a shared 2-vCPU VM), and an adjacent pair sees nearly the same machine.
        pairs = [x["rps"] / y["rps"] for y, x in zip(h, lk, strict=True)]
        out["pair_ratios"] = pairs
        print("\n| endpoint | req/s (runs) | median req/s | p50 ms | p99 ms | errors | app CPU ms/req | PG CPU ms/req |")
        print("|---|---|---|---|---|---|---|---|")
        for name, runs in (("GET /healthz", h), ("GET /v1/lookup (audited)", lk)):
            print(f"| {name} | {' / '.join(fmt(r['rps'], 0) for r in runs)} | {fmt(median_of(runs, 'rps'), 0)} | "
                  f"{fmt(median_of(runs, 'p50_ms'), 2)} | {fmt(median_of(runs, 'p99_ms'), 2)} | "
                  f"{sum(r['errors'] for r in runs)} | {fmt(median_of(runs, 'app_cpu_ms'), 2)} | "
                  f"{fmt(median_of(runs, 'pg_cpu_ms'), 2) if backend == 'postgresql' else '-'} |")
        a = res["audit"]
        print(f"\nlookup/healthz ratio: {ratio:.2f} (goal >= 0.5); lookup p99 {fmt(median_of(lk, 'p99_ms'), 2)} ms "
              f"(goal <= 50)")
        print(f"each lookup run / the /healthz run before it: {' / '.join(f'{r:.2f}' for r in pairs)} "
              f"(median {statistics.median(pairs):.2f}, min {min(pairs):.2f}, max {max(pairs):.2f})")
        if all("tx_mean_ms" in x for x in a):
            print(f"audit write transactions (group commits): {fmt(median_of(a, 'tx_per_s'))}/s, mean "
                  f"{fmt(median_of(a, 'tx_mean_ms'), 3)} ms each (writer-lock wait + BEGIN + insert + commit), "
                  f"{fmt(median_of(a, 'records_per_tx'), 2)} records per transaction")
        print(f"audit write per request (queue for the group + its commit): mean {fmt(median_of(a, 'audit_mean_ms'), 3)} ms; "
              f"requests inside it on average {fmt(median_of(a, 'audit_busy_share'), 2)}; share of server time per lookup "
              f"{fmt(median_of(a, 'audit_share_of_request'), 2)} (server time per lookup "
              f"{fmt(median_of(a, 'lookup_server_ms'), 2)} ms)")
        if "batch" in out:
            b = out["batch"]
            print(f"\nbatch of {b['items']} items (3 genes, 3 drugs each; {b['body_bytes']:,} bytes): median "
                  f"{fmt(b['median_ms'], 0)} ms (min {fmt(b['min_ms'], 0)}, max {fmt(b['max_ms'], 0)}; "
                  f"{len(b['ms'])} runs; item statuses {b['statuses']}) (goal <= 500 ms)")

        if not args.skip_scaling:
            out["scaling"] = {}
            print("\n| workers | threads | lookup req/s | p50 ms | p99 ms | audit write mean ms | in audit write (avg) | app CPU ms/req |")
            print("|---|---|---|---|---|---|---|---|")
            for workers in args.scaling:
                with server(env, workdir, workers, args.threads) as base:
                    r, au = _measure_lookup(base, key, workdir, args)
                out["scaling"][workers] = {"wrk": r, "audit": au}
                print(f"| {workers} | {args.threads} | {fmt(r['rps'], 0)} | {fmt(r['p50_ms'], 2)} | {fmt(r['p99_ms'], 2)} | "
                      f"{fmt(au.get('audit_mean_ms', float('nan')), 3)} | {fmt(au.get('audit_busy_share', float('nan')), 2)} | "
                      f"{fmt(r['app_cpu_ms'], 2)} |")

        if backend == "sqlite" and not args.skip_sync:
            out["sqlite_synchronous"] = {}
            print("\n| SQLite synchronous | lookup req/s | p99 ms | audit write mean ms | in audit write (avg) |")
            print("|---|---|---|---|---|")
            for mode in ("FULL", "NORMAL"):
                with server(env, workdir, args.workers, args.threads, {"PGX_SQLITE_SYNCHRONOUS": mode}) as base:
                    r, au = _measure_lookup(base, key, workdir, args)
                out["sqlite_synchronous"][mode] = {"wrk": r, "audit": au}
                print(f"| {mode} | {fmt(r['rps'], 0)} | {fmt(r['p99_ms'], 2)} | "
                      f"{fmt(au.get('audit_mean_ms', float('nan')), 3)} | {fmt(au.get('audit_busy_share', float('nan')), 2)} |")
        if backend == "postgresql" and not args.skip_sync:
            out["pg_synchronous_commit"] = {}
            print("\n| PostgreSQL synchronous_commit (diagnostic) | lookup req/s | p99 ms | audit write mean ms | in audit write (avg) |")
            print("|---|---|---|---|---|")
            for mode in ("on", "off"):
                _set_database_option(url, "synchronous_commit", mode)
                with server(env, workdir, args.workers, args.threads) as base:
                    r, au = _measure_lookup(base, key, workdir, args)
                out["pg_synchronous_commit"][mode] = {"wrk": r, "audit": au}
                print(f"| {mode} | {fmt(r['rps'], 0)} | {fmt(r['p99_ms'], 2)} | "
                      f"{fmt(au.get('audit_mean_ms', float('nan')), 3)} | {fmt(au.get('audit_busy_share', float('nan')), 2)} |")
            _set_database_option(url, "synchronous_commit", None)
    return out


def _measure_lookup(base: str, key: str, workdir: Path, args) -> tuple[dict, dict]:
    paths = write_paths(workdir, lookup_paths())
    wrk(base, "/v1/lookup", connections=args.connections, duration=2, paths_file=paths, auth=f"Bearer {key}")
    before, started = scrape(base), time.monotonic()
    r = measured_wrk(base, "/v1/lookup", connections=args.connections, duration=args.duration, paths_file=paths,
                     auth=f"Bearer {key}")
    return r, audit_figures(before, scrape(base), time.monotonic() - started)


def _set_database_option(url: str, name: str, value: str | None) -> None:
    """ALTER DATABASE ... SET (new sessions pick it up; the server is restarted per measurement)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from service.db import normalize_url

    dbname = make_url(normalize_url(url)).database
    engine = create_engine(normalize_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if value is None:
            conn.execute(text(f'ALTER DATABASE "{dbname}" RESET {name}'))
        else:
            conn.execute(text(f"ALTER DATABASE \"{dbname}\" SET {name} = '{value}'"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=os.environ.get("PGX_TEST_POSTGRES_URL", DEFAULT_PG),
                        help="an admin URL of a PostgreSQL server; a fresh database is created and dropped")
    # The server's own defaults (service/gunicorn_conf.py): one worker per usable CPU, 24 threads
    # each (pinned: PGX_CPU_AFFINITY=auto).
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--threads", type=int, default=24)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-runs", type=int, default=5)
    parser.add_argument("--scaling", default="1,2,4", help="worker counts for the scaling runs")
    for part in ("batch", "scaling", "sync", "fhir"):
        parser.add_argument(f"--skip-{part}", action="store_true")
    parser.add_argument("--ratelimit-storage", default="memory://",
                        help="PGX_RATELIMIT_STORAGE_URI for the server (e.g. redis://127.0.0.1:6379/15)")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for every server started (repeatable), e.g. PGX_CPU_AFFINITY=on")
    parser.add_argument("--cds", action="store_true", help="also CDS Hooks order-sign calls vs /healthz")
    parser.add_argument("--cds-connections", type=int, default=16)
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args()
    args.scaling = [int(x) for x in args.scaling.split(",") if x.strip()]
    RATELIMIT_STORAGE[0] = args.ratelimit_storage
    SERVER_ENV.update(item.split("=", 1) for item in args.server_env)

    ensure_wrk()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    info = machine_info(args.pg_url if "postgresql" in backends else None)
    print("# bench_http: " + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    print("command: " + " ".join([Path(sys.executable).name, *sys.argv]))
    results = {"machine": info, "argv": sys.argv, "backends": {}}
    with tempfile.TemporaryDirectory(prefix="pgx-bench-") as tmp:
        for backend in backends:
            workdir = Path(tmp) / backend
            workdir.mkdir()
            results["backends"][backend] = run_backend(backend, args, workdir)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2, default=str))
        print(f"\nsaved {args.json_out}")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
