"""Round 8: one 1000-item batch (bench_http's body) at a time against a held server, with the
audit write's share (pgx_audit_write_seconds_sum from /metrics before and after each batch).

    batch_http.py BASE_URL API_KEY
"""

import http.client
import sys
import time

sys.path.insert(0, "/work/main/benchmarks")
import bench_http  # noqa: E402

base, key = sys.argv[1], sys.argv[2]
host, port = base.removeprefix("http://").split(":")
body = bench_http.batch_body()


def metric(name: str) -> float:
    conn = http.client.HTTPConnection(host, int(port))
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


for _ in range(6):
    before = metric("pgx_audit_write_seconds_sum")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    started = time.perf_counter()
    conn.request("POST", "/v1/interpretations/batch", body=body,
                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    first = time.perf_counter()
    data = resp.read()
    done = time.perf_counter()
    after = metric("pgx_audit_write_seconds_sum")
    print(f"batch {1000 * (done - started):.0f} ms (headers after {1000 * (first - started):.0f} ms, "
          f"body read {1000 * (done - first):.0f} ms), audit write {1000 * (after - before):.0f} ms, "
          f"status {resp.status}, {len(data)} bytes")
