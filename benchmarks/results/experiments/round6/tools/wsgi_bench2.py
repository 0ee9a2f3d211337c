"""CPU per request in-process through app.wsgi_app with prebuilt environs (no test client)."""

import cProfile
import io
import itertools
import os
import pstats
import sys
import time

sys.path.insert(0, "/work/main")
sys.path.insert(0, "/work/main/tests")
sys.path.insert(0, "/work/main/benchmarks")
import bench_http
from audit.helpers import service_app

from service.audit.writer import Receipt
from service.http import guidance_common

mode = sys.argv[1]
url = f"sqlite:////tmp/srv/inst/wsgi-{os.getpid()}.sqlite3"
app, key = service_app(url, "/tmp/srv/inst", PGX_RATELIMIT_DEFAULT="100000000/minute")
app.config["TESTING"] = False
seq = itertools.count(1)
if mode == "stub":
    guidance_common.GroupCommitter.commit = lambda self, prepared: [
        Receipt(p["audit_id"], next(seq), "0" * 64) for p in prepared
    ]


def environ(path, auth=None):
    p, _, q = path.partition("?")
    e = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": p,
        "QUERY_STRING": q,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        "HTTP_USER_AGENT": "wrk",
    }
    if auth:
        e["HTTP_AUTHORIZATION"] = auth
    return e


envs = {
    "healthz": [environ("/healthz")],
    "lookup": [environ(p, f"Bearer {key}") for p in bench_http.lookup_paths()],
}
status = []


def sr(s, h, exc=None):
    status.append(s)


def run(name, n):
    es = envs[name]
    for i in range(n):
        e = dict(es[i % len(es)])
        e["wsgi.input"] = io.BytesIO(b"")
        body = b"".join(app.wsgi_app(e, sr))
        assert status[-1].startswith("200"), (status[-1], body[:200])


for name in ("healthz", "lookup"):
    run(name, 500)
    t0 = time.process_time()
    run(name, 5000)
    t1 = time.process_time()
    print(f"{mode} {name}: {(t1 - t0) / 5000 * 1e6:.0f} us/request", flush=True)
if len(sys.argv) > 2:
    pr = cProfile.Profile()
    pr.enable()
    run("lookup", 3000)
    pr.disable()
    st = pstats.Stats(pr)
    if len(sys.argv) > 3:
        st.sort_stats("cumtime").print_callers(sys.argv[3])
    else:
        st.sort_stats(sys.argv[2]).print_stats(40)
