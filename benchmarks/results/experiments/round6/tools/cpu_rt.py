"""CPU time (this process) per audit group append on PostgreSQL, idle machine."""

import os
import sys
import time

sys.path.insert(0, os.environ.get("SRC", "/work/main"))
sys.path.insert(0, "/work/main/tests")
from audit.helpers import event, service_app

import service.audit as audit
from service.audit import append_events
from service.audit.writer import prepare_events

url, rows = sys.argv[1], int(sys.argv[2])
app, _ = service_app(url, "/tmp/srv/rtinst")
db = app.extensions["pgx.db"]
with app.app_context():
    with app.test_request_context():
        preps = [prepare_events([event(j) for j in range(rows)], ident={}) for _ in range(1200)]

    def one(prep):
        with db.serialized_postgres() as s:
            getattr(audit, "lock_chain_head", lambda c: None)(s)
            append_events(s, prep, prepared=True)

    for p in preps[:200]:
        one(p)
    import json
    import subprocess

    def snap():
        return json.loads(
            subprocess.run(
                [sys.executable, "/tmp/srv/cpusnap.py", "1"], capture_output=True, text=True
            ).stdout
        )["pg"]

    p0 = snap()
    c0 = time.process_time()
    w0 = time.perf_counter()
    for p in preps[200:]:
        one(p)
    c1 = time.process_time()
    w1 = time.perf_counter()
    p1 = snap()
    print(
        f"rows={rows}: CPU {(c1 - c0) / 1000 * 1e6:.0f} us/group, PG {(p1 - p0) / 1000 * 1e6:.0f} us/group, wall {(w1 - w0) / 1000 * 1e6:.0f} us/group"
    )
