"""Round 8: bench_http's 1000-item batch in-process (app.wsgi_app, no gunicorn) on SQLite or
PostgreSQL: wall and CPU per run, and with a sort key a cProfile of one more run.

    .venv/bin/python batch_prof.py sqlite|pg [tottime|cumulative]
"""

import cProfile
import io
import os
import pstats
import subprocess
import sys
import time

sys.path.insert(0, "/work/main")
sys.path.insert(0, "/work/main/tests")
sys.path.insert(0, "/work/main/benchmarks")
import bench_http  # noqa: E402
from audit.helpers import service_app  # noqa: E402

backend = sys.argv[1]
if backend == "pg":
    db = f"pgx_bench_prof_{os.getpid()}"
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {db}"], check=True)
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"
else:
    url = f"sqlite:////tmp/srv/inst/batch-{os.getpid()}.sqlite3"
app, key = service_app(url, "/tmp/srv/inst", PGX_RATELIMIT_DEFAULT="100000000/minute")
app.config["TESTING"] = False
body = bench_http.batch_body()


def environ():
    return {"REQUEST_METHOD": "POST", "SCRIPT_NAME": "", "PATH_INFO": "/v1/interpretations/batch",
            "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1:8000",
            "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": "application/json", "wsgi.errors": sys.stderr, "wsgi.multithread": True,
            "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0),
            "HTTP_AUTHORIZATION": f"Bearer {key}"}


statuses = []


def one():
    out = b"".join(app.wsgi_app(environ(), lambda s, h, e=None: statuses.append(s)))
    assert statuses[-1].startswith("200"), out[:300]
    return out


one()
for _ in range(5):
    wall, cpu = time.perf_counter(), time.process_time()
    one()
    print(f"{backend} batch: wall {1000 * (time.perf_counter() - wall):.0f} ms, "
          f"cpu {1000 * (time.process_time() - cpu):.0f} ms")
if len(sys.argv) > 2:
    profile = cProfile.Profile()
    profile.enable()
    one()
    profile.disable()
    pstats.Stats(profile).sort_stats(sys.argv[2]).print_stats(45)
if backend == "pg":
    app.extensions["pgx.db"].engine.dispose()
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"DROP DATABASE {db} WITH (FORCE)"],
                   check=False)
