"""In-process CPU per audited lookup and per /healthz (Flask test client, SQLite, warm caches).

    .venv/bin/python benchmarks/results/lookup_cpu_inprocess.py <repo>   # e.g. . or a worktree

Prints ms of process CPU per request (time.process_time) for 5 repetitions of 2,000 requests.
"""

import os
import sys
import tempfile
import time

REPO = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
sys.path[:0] = [REPO, os.path.join(REPO, "tests")]
os.chdir(REPO)

from conftest import build_service_app  # noqa: E402

from service.auth.clients import create_client  # noqa: E402

TRIPLES = [("CYP2C19", "*1/*2", "clopidogrel"), ("CYP2D6", "*1/*4", "codeine"), ("TPMT", "*1/*3A", "azathioprine")]


def main() -> None:
    app = build_service_app(f"sqlite:///{tempfile.mkdtemp()}/p.sqlite3")
    with app.app_context():
        _, key = create_client(app, "bench", "clinician")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}

    def lookups(n: int) -> None:
        for i in range(n):
            gene, dip, drug = TRIPLES[i % len(TRIPLES)]
            resp = client.get(f"/v1/lookup?gene={gene}&diplotype={dip}&drug={drug}", headers=headers)
            assert resp.status_code == 200, resp.data

    def healthz(n: int) -> None:
        for _ in range(n):
            assert client.get("/healthz").status_code == 200

    lookups(200)
    healthz(200)
    for name, fn in (("lookup", lookups), ("healthz", healthz)):
        per = []
        for _ in range(5):
            start = time.process_time()
            fn(2000)
            per.append((time.process_time() - start) / 2000 * 1000)
        print(name, "ms/req", " ".join(f"{x:.3f}" for x in per))


if __name__ == "__main__":
    main()
