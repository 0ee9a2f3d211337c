"""Round 8: milliseconds per 1000-item batch in each part of the audit write on PostgreSQL
(wraps the writer's functions with timers, then runs tools/batch_prof.py's batch from /tmp/srv)."""

import functools
import sys
import time

import service.http.guidance_common as GC

import service.audit.writer as W

sys.argv = [sys.argv[0], "pg"]
spent: dict[str, float] = {}


def timed(module, name: str) -> None:
    func = getattr(module, name)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0) + time.perf_counter() - started

    setattr(module, name, wrapper)


for name in ("prepare_events", "_chain", "_pg_rows_json", "_pg_exec", "lock_chain_head",
             "_append_serialized_postgres"):
    timed(W, name)
timed(GC, "write_audit")
with open("/tmp/srv/batch_prof.py") as f:
    source = f.read()
source = source.replace("for i in range(5):", "spent.clear()\nfor i in range(5):").replace(
    'print(f"{backend} batch', 'print({k: round(v * 1000) for k, v in spent.items()}); spent.clear(); print(f"{backend} batch')
exec(source, {"spent": spent, "__name__": "__main__"})  # noqa: S102
