"""A/B of server configurations on audited lookups: req/s, p99 and CPU per lookup by process kind.

Hand-run experiment of benchmarks/RESULTS.md round 4 (not part of the suite). For each round it
starts `pgx serve` once per configuration (alternating, on one fresh database), warms up 2 s, runs
wrk (2 threads, 32 connections) on one audited lookup for DUR seconds and prints req/s, p99, the
CPU time per lookup of the workers (and of an audit writer process, if one runs) from /proc, and
the machine's idle cores during the run.

    .venv/bin/python benchmarks/results/experiments/audit_writer_ab.py . inline,inline:12

A configuration is `MODE[+nice][:THREADS]`: MODE sets PGX_AUDIT_WRITER (`process` only means
something with audit-writer-process.patch applied), `+nice` sets PGX_WORKER_NICE=5 (same patch),
THREADS sets PGX_THREADS (default 8). Env: ROUNDS (2), DUR (8 s), DBURL (default a fresh SQLite file).
"""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(sys.argv[1]).resolve()
CONFIGS = sys.argv[2].split(",")
ROUNDS = int(os.environ.get("ROUNDS", "2"))
DUR = int(os.environ.get("DUR", "8"))
LOOKUP = "/v1/lookup?gene=CYP2C19&diplotype=*1/*2&drug=clopidogrel"
PGX = REPO / ".venv/bin/pgx"
TCK = os.sysconf("SC_CLK_TCK")

work = Path(f"/tmp/pgx-ab-{uuid.uuid4().hex[:6]}")
work.mkdir()
env = dict(os.environ)
env.update(DATABASE_URL=os.environ.get("DBURL", f"sqlite:///{work}/b.sqlite3"), PGX_INSTANCE_DIR=str(work / "inst"))


def pgx(args):
    return subprocess.run([str(PGX), *args], env=env, capture_output=True, text=True, check=True).stdout


def tree_cpu(root):
    """{pid: (ppid, cpu seconds, cmdline)} of root and its descendants."""
    procs = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            raw = Path(f"/proc/{p}/stat").read_text()
            cmd = Path(f"/proc/{p}/cmdline").read_text().replace("\0", " ")
        except OSError:
            continue
        f = raw[raw.rindex(")") + 2:].split()
        procs[int(p)] = (int(f[1]), (int(f[11]) + int(f[12])) / TCK, cmd)
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, (ppid, _, _) in procs.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return {pid: procs[pid] for pid in tree if pid in procs}


def idle_seconds():
    f = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return (int(f[3]) + int(f[4])) / TCK


def wrk(port, key, seconds, latency=False):
    cmd = ["wrk", "-t2", "-c32", f"-d{seconds}s", "-H", f"Authorization: Bearer {key}", f"http://127.0.0.1:{port}{LOOKUP}"]
    if latency:
        cmd.insert(1, "--latency")
    return subprocess.run(cmd, capture_output=True, text=True).stdout


pgx(["db", "upgrade"])
pgx(["tables", "load", str(REPO / "reference_tables")])
key = pgx(["clients", "create", f"ab-{uuid.uuid4().hex[:6]}", "--role", "pharmacy"]).strip().splitlines()[-1]

for _ in range(ROUNDS):
    for config in CONFIGS:
        head, _, threads = config.partition(":")
        mode, _, nice = head.partition("+")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server_env = dict(env, PGX_AUDIT_WRITER=mode, PGX_WORKER_NICE="5" if nice else "0",
                          PGX_THREADS=threads or "8", PGX_RATELIMIT="100000000/minute",
                          PGX_ACCESS_LOG="off", PGX_LOG_LEVEL="warning", PGX_MAX_REQUESTS="0")
        with open(work / "server.log", "ab") as log:
            server = subprocess.Popen([str(PGX), "serve", "--bind", f"127.0.0.1:{port}"], env=server_env,
                                      stdout=log, stderr=subprocess.STDOUT)
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz")  # noqa: S310 - loopback
                break
            except OSError:
                time.sleep(0.2)
        time.sleep(3)
        wrk(port, key, 2)
        before, idle0, t0 = tree_cpu(server.pid), idle_seconds(), time.time()
        out = wrk(port, key, DUR, latency=True)
        after, idle1, elapsed = tree_cpu(server.pid), idle_seconds(), time.time() - t0
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        p99 = re.search(r"99%\s+(\S+)", out).group(1)
        n = rps * elapsed
        by_kind = {}
        for pid, (_, cpu, cmd) in after.items():
            kind = "writer" if "writer_process" in cmd else ("master" if pid == server.pid else "worker")
            by_kind[kind] = by_kind.get(kind, 0.0) + cpu - before.get(pid, (0, 0.0, ""))[1]
        cpu = " ".join(f"{k}={v / n * 1000:.3f}ms" for k, v in sorted(by_kind.items()))
        print(f"{config:14s} rps={rps:7.0f} p99={p99:>8s} {cpu} idle={(idle1 - idle0) / elapsed:.2f} cores", flush=True)
        server.terminate()
        server.wait()
