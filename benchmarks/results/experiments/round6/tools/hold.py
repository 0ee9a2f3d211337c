"""Scratch: start a bench server (sqlite|postgresql) and hold it; print base, key, paths file."""

import os
import signal
import sys
import tempfile
import time

signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
from pathlib import Path  # noqa: E402

sys.path.insert(0, "/work/main/benchmarks")
sys.path.insert(0, "/work/main")
import bench_http as b  # noqa: E402

backend, workers, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for kv in sys.argv[4:]:
    k, v = kv.split("=", 1)
    b.SERVER_ENV[k] = v
wd = Path(tempfile.mkdtemp(prefix="hold-"))
with b.fresh_database(backend, os.environ.get("PGX_TEST_POSTGRES_URL"), wd) as url:
    env, key = b.prepare(url, wd)
    with b.server(env, wd, workers, threads) as base:
        pf = b.write_paths(wd, b.lookup_paths())
        Path("/tmp/srv/cur").write_text(
            f"BASE={base}\nKEY={key}\nPATHS={pf}\nPID={b.SERVER_PIDS[base]}\nURL={url}\n"
        )
        print("ready", base, flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
