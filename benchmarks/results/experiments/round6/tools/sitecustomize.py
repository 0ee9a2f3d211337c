import itertools
import os
import time

_mode = os.environ.get("AUDIT_STUB")
if _mode:
    import service.audit as audit
    from service.audit.writer import Receipt
    from service.http import guidance_common

    _seq = itertools.count(1)
    if _mode == "nodb":
        guidance_common.GroupCommitter.commit = lambda self, prepared: [
            Receipt(p["audit_id"], next(_seq), "0" * 64) for p in prepared
        ]
    elif _mode.startswith("handoff"):
        delay = float(_mode.split(":")[1]) if ":" in _mode else 0.0

        def _append(conn, events, **kw):
            if delay:
                time.sleep(delay)
            return [Receipt(p["audit_id"], next(_seq), "0" * 64) for p in events]

        audit.append_events = _append
        audit.lock_chain_head = lambda conn: None
if os.environ.get("XP_TIME"):
    import service.audit.writer as W

    _st = {"n": 0, "t": 0.0, "rows": 0}
    _orig = W._append_serialized_postgres

    def _timed(session, prepared, state):
        t0 = time.perf_counter()
        try:
            return _orig(session, prepared, state)
        finally:
            _st["n"] += 1
            _st["t"] += time.perf_counter() - t0
            _st["rows"] += len(prepared)
            if _st["n"] % 500 == 0:
                with open(f"/tmp/srv/st-{os.getpid()}.txt", "w") as f:
                    f.write(
                        f"groups {_st['n']} rows/g {_st['rows'] / _st['n']:.2f} append {_st['t'] / _st['n'] * 1e3:.3f} ms fn={session.info.get('pgx.append_function')}\n"
                    )

    W._append_serialized_postgres = _timed
if os.environ.get("SWI"):
    import sys

    sys.setswitchinterval(float(os.environ["SWI"]))
if os.environ.get("XP_NICE"):
    os.nice(int(os.environ["XP_NICE"]))
