"""In-process CPU per audited lookup and per /healthz (Flask test client, SQLite, warm caches).

    .venv/bin/python benchmarks/results/lookup_cpu_inprocess.py <repo> [NAME=VALUE ...]
    # <repo>: . or a worktree; NAME=VALUE: app config overrides, e.g. PGX_RATELIMIT_ENABLED=0
    # THREADS=16 in the environment: that many client threads at once (as in one gunicorn
    # worker), so the audit group commit batches records as it does under load

Prints ms of process CPU per request (time.process_time) for 5 repetitions of 2,000 requests.
Single-threaded (the default) every lookup pays a whole audit transaction (BEGIN, head read,
insert, fsync'd COMMIT); with THREADS the transaction is shared as in the server, so the
per-request costs (parsing, preparing the record, the response) weigh as they do there.
"""

import os
import sys
import tempfile
import threading
import time

REPO = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
sys.path[:0] = [REPO, os.path.join(REPO, "tests")]
os.chdir(REPO)

from conftest import build_service_app  # noqa: E402

from service.auth.clients import create_client  # noqa: E402

TRIPLES = [("CYP2C19", "*1/*2", "clopidogrel"), ("CYP2D6", "*1/*4", "codeine"), ("TPMT", "*1/*3A", "azathioprine")]
THREADS = int(os.environ.get("THREADS", "1"))


def main() -> None:
    overrides = dict(arg.split("=", 1) for arg in sys.argv[2:])
    overrides = {k: (v not in ("0", "false", "False")) if k.endswith("_ENABLED") else v for k, v in overrides.items()}
    app = build_service_app(f"sqlite:///{tempfile.mkdtemp()}/p.sqlite3", **overrides)
    with app.app_context():
        _, key = create_client(app, "bench", "clinician")
    headers = {"Authorization": f"Bearer {key}"}

    def lookups(n: int) -> None:
        client = app.test_client()
        for i in range(n):
            gene, dip, drug = TRIPLES[i % len(TRIPLES)]
            resp = client.get(f"/v1/lookup?gene={gene}&diplotype={dip}&drug={drug}", headers=headers)
            assert resp.status_code == 200, resp.data

    def healthz(n: int) -> None:
        client = app.test_client()
        for _ in range(n):
            assert client.get("/healthz").status_code == 200

    def run(fn, n: int) -> None:
        if THREADS == 1:
            fn(n)
            return
        workers = [threading.Thread(target=fn, args=(n // THREADS,)) for _ in range(THREADS)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    run(lookups, 200 * THREADS)
    run(healthz, 200 * THREADS)
    n = 2000 // THREADS * THREADS
    for name, fn in (("lookup", lookups), ("healthz", healthz)):
        per = []
        for _ in range(5):
            start = time.process_time()
            run(fn, n)
            per.append((time.process_time() - start) / n * 1000)
        print(name, "ms/req", " ".join(f"{x:.3f}" for x in per))


if __name__ == "__main__":
    main()
