"""Round 8: where PostgreSQL's time goes for one batch's 1000-record audit group: the group is
captured from a real batch (tools/batch_prof.py's, from /tmp/srv), then its parse, unpack and
INSERT are timed alone (rolled back), with TOAST settings varied, and INSERT + COMMIT."""

import subprocess
import sys
import time

import psycopg

import service.audit.writer as W

sys.argv = [sys.argv[0], "pg"]
captured: list[bytes] = []
_rows_json = W._pg_rows_json


def capture(params):
    out = _rows_json(params)
    captured.append(out)
    return out


W._pg_rows_json = capture
scope: dict = {"__name__": "__main__"}
with open("/tmp/srv/batch_prof.py") as f:
    exec(f.read().split("one()\nfor i in range(5):")[0] + "one()\n", scope)  # noqa: S102
rows = max(captured, key=len)
print(f"group JSON: {len(rows) / 1e6:.2f} MB, {len(rows) / 1000:.0f} bytes a record")
INSERT = W._pg_insert_sql("%s::jsonb")
FRESH_KEYS = ("SELECT (r->>0)::bigint,r->>1,", "SELECT (r->>0)::bigint + {seq},(r->>1) || '{tag}',")


def fresh(seq: int, tag: str) -> str:
    return INSERT.replace(FRESH_KEYS[0], FRESH_KEYS[1].format(seq=seq, tag=tag), 1)


with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{scope['db']}", autocommit=True) as c:
    text = rows.decode()

    def timed(label: str, sql: str, n: int = 5) -> None:
        xs = []
        for _ in range(n):
            c.execute("BEGIN")
            started = time.perf_counter()
            c.execute(sql, (text,))
            xs.append((time.perf_counter() - started) * 1000)
            c.execute("ROLLBACK")
        xs.sort()
        print(f"{label:55s} median {xs[n // 2]:6.1f} ms  min {xs[0]:6.1f}")

    timed("parse as jsonb: jsonb_array_length($1::jsonb)", "SELECT jsonb_array_length(%s::jsonb)")
    timed("parse as json: json_array_length($1::json)", "SELECT json_array_length(%s::json)")
    timed("unpack: jsonb_array_elements + 20 ->> (no insert)",
          "SELECT count(*) FROM (SELECT " + INSERT.split(" SELECT ", 1)[1] + ") x")
    timed("full INSERT (rolled back)", fresh(10_000_000, "x"))
    for label, ddl in (
        ("toast_tuple_target=8160", "ALTER TABLE audit_event SET (toast_tuple_target = 8160)"),
        ("+ lz4 on canonical/input/result", "ALTER TABLE audit_event ALTER COLUMN canonical SET COMPRESSION lz4, "
         "ALTER COLUMN input SET COMPRESSION lz4, ALTER COLUMN result SET COMPRESSION lz4"),
        ("reset toast_tuple_target, lz4 kept", "ALTER TABLE audit_event RESET (toast_tuple_target)"),
    ):
        c.execute(ddl)
        timed("full INSERT (rolled back), " + label, fresh(10_000_000, "x"))
    pairs = []
    for i in range(5):
        c.execute("BEGIN")
        started = time.perf_counter()
        c.execute(fresh(20_000_000 + i * 100_000, f"y{i}"), (text,))
        middle = time.perf_counter()
        c.execute("COMMIT")
        pairs.append((round((middle - started) * 1000, 1), round((time.perf_counter() - middle) * 1000, 1)))
    print("INSERT then COMMIT (ms):", sorted(pairs))
scope["app"].extensions["pgx.db"].engine.dispose()
subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"DROP DATABASE {scope['db']} WITH (FORCE)"],
               check=False)
