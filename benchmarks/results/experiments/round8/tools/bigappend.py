"""Round 8: one 1000-record group appended on PostgreSQL (the HTTP appender's path), the group as
a quoted literal vs as a bound parameter, alternating: wall, app CPU and the backend's CPU per group."""
import os
import subprocess
import sys
import time

sys.path.insert(0, "/work/main")
sys.path.insert(0, "/work/main/tests")
from audit.helpers import event, service_app

import service.audit.writer as W
from service.app import get_db

db_name = f"pgx_bench_big_{os.getpid()}"
subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {db_name}"], check=True)
try:
    app, _ = service_app(f"postgresql+psycopg://postgres@127.0.0.1:5432/{db_name}", "/tmp/srv/biginst")
    app.config["PGX_AUDIT_CHECKPOINT_EVERY"] = 0
    ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with app.app_context(), app.test_request_context():
        W.get_state().checkpoint_every = 0
        db = get_db()
        def backend_cpu(pid):
            f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
        res = {"literal": [], "param": []}
        for rnd in range(12):
            for variant in ("literal", "param"):
                W._PG_LITERAL_MAX_ROWS = 10**9 if variant == "literal" else 32
                prepared = W.prepare_events([event(j) for j in range(ROWS)], ident={})
                with db.serialized_postgres() as session:
                    pid = session.dbapi.pgconn.backend_pid
                    b0, c0, w0 = backend_cpu(pid), time.process_time(), time.perf_counter()
                    W.append_events(session, prepared, prepared=True)
                    w1, c1, b1 = time.perf_counter(), time.process_time(), backend_cpu(pid)
                if rnd:
                    res[variant].append(((w1 - w0) * 1000, (c1 - c0) * 1000, (b1 - b0) * 1000))
        for v, xs in res.items():
            xs.sort()
            med = xs[len(xs) // 2]
            print(f"{v:8s} {ROWS} rows: wall median {sorted(x[0] for x in xs)[len(xs)//2]:.1f} ms, app CPU {sorted(x[1] for x in xs)[len(xs)//2]:.1f} ms, backend CPU {sorted(x[2] for x in xs)[len(xs)//2]:.1f} ms (min wall {xs[0][0]:.1f})")
        db.engine.dispose()
        db._discard_own_connection()
finally:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"DROP DATABASE {db_name} WITH (FORCE)"], check=False)
