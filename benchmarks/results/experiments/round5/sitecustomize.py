"""Round-5 experiment hooks (benchmarks/RESULTS.md, "Round 5"); never part of the service.

Put this directory first on PYTHONPATH of a server (`PYTHONPATH=benchmarks/results/experiments/round5
pgx serve ...`, or of bench_http.py, whose servers inherit the environment); Python imports it at
start-up, before gunicorn forks its workers. Each hook is off unless its variable is set:

- AUDIT_STUB=nodb: requests prepare and queue their audit records as usual, but the group commit
  returns made-up receipts without touching the database (what a lookup costs without the
  durable write). AUDIT_STUB=none: no audit work at all.
- SWI=0.001: sys.setswitchinterval(0.001) (the GIL switch interval, default 0.005 s).
- XP_PRAGMA="wal_autocheckpoint=10000;mmap_size=268435456": extra PRAGMAs on every SQLite
  connection of the service's engines.
"""

import itertools
import os
import sys
import uuid

if os.environ.get("SWI"):
    sys.setswitchinterval(float(os.environ["SWI"]))

_mode = os.environ.get("AUDIT_STUB")
if _mode:
    from service.audit.writer import Receipt
    from service.http import guidance_common

    _seq = itertools.count(1)
    if _mode == "nodb":
        def _commit(self, prepared):
            return [Receipt(p["audit_id"], next(_seq), "0" * 64) for p in prepared]

        guidance_common.GroupCommitter.commit = _commit
    elif _mode == "none":
        def _write_audit(events):
            return [Receipt(str(uuid.uuid4()), next(_seq), "0" * 64) for _ in events]

        guidance_common.write_audit = _write_audit

if os.environ.get("XP_PRAGMA"):
    from sqlalchemy import event

    import service.db as db

    _make_engine = db.make_engine

    def _engine_with_pragmas(url, **kwargs):
        engine = _make_engine(url, **kwargs)
        if db.is_sqlite(url):
            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn, _record):
                for pragma in os.environ["XP_PRAGMA"].split(";"):
                    dbapi_conn.execute("PRAGMA " + pragma)
        return engine

    db.make_engine = _engine_with_pragmas
