"""PG + app CPU per iteration for statement variants of the audit group append (round 7).

Usage: pgmicro.py postgresql://postgres@127.0.0.1:5432/FRESH_DB full:9,raw:9,rt1,begincommit [N]
(SQL_SETUP="..." runs on the connection first, e.g. SET synchronous_commit = off.)
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, "/work/main")
sys.path.insert(0, "/work/main/tests")
import orjson
import psycopg
from audit.helpers import event, service_app
from psycopg import pq

import service.audit.writer as W
from service.audit.writer import prepare_events

url = sys.argv[1]
variants = sys.argv[2].split(",")
N = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
app, _ = service_app(url.replace("postgresql://", "postgresql+psycopg://"), "/tmp/srv/rtinst")
with app.app_context(), app.test_request_context():
    preps = {
        r: [prepare_events([event(j) for j in range(r)], ident={}) for _ in range(8 * (N + 200))]
        for r in (1, 9)
    }

it = {r: iter(preps[r]) for r in preps}
conn = psycopg.connect(url, autocommit=True)
if os.environ.get("SQL_SETUP"):
    conn.execute(os.environ["SQL_SETUP"])
T = "SELECT set_config('lock_timeout', '5000', true), set_config('statement_timeout', '10000', true)"
RT1 = f"BEGIN; {T}; {W._PG_LOCK_AND_HEAD}"


def head(cur):
    while cur.nextset():
        pass
    row = cur.fetchone()
    return (0, W.GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))


def snap():
    return json.loads(
        subprocess.run([sys.executable, "/tmp/srv/cpusnap.py", "1"], capture_output=True, text=True).stdout
    )["pg"]


ALT_SQL = W._PG_INSERT_SQL
pg = conn.pgconn
ESC = pq.Escaping(pg)
pg.exec_(b"SET lock_timeout = 5000; SET statement_timeout = 10000")
_COLS = W._PG_INSERT_SQL.split(" SELECT ", 1)
pg.exec_(b"PREPARE pgx_ins(jsonb) AS " + W._PG_INSERT_SQL.replace("%s::jsonb", "$1").encode())
pg.exec_(b"PREPARE pgx_head AS " + W._HEAD_SQL.encode())
RAW1 = f"BEGIN; {W._PG_LOCK}; EXECUTE pgx_head".encode()


def raw(rows, lit=True):
    r = pg.exec_(RAW1)
    assert r.status == 2, r.error_message
    h = (int(r.get_value(0, 0)), r.get_value(0, 1).decode()) if r.ntuples else (0, W.GENESIS_HASH)
    params, receipts = W._chain(next(it[rows]), *h)
    width = len(W._COLUMNS)
    payload = orjson.dumps([params[i : i + width] for i in range(0, len(params), width)])
    if lit:
        r = pg.exec_(b"EXECUTE pgx_ins(" + ESC.escape_literal(payload) + b"); COMMIT")
    else:
        r = pg.exec_prepared(b"pgx_ins", [payload])
        assert r.status == 1, r.error_message
        r = pg.exec_(b"COMMIT")
    assert r.status == 1, r.error_message


def run(v):
    if v.startswith("raw:"):
        return raw(int(v.split(":")[1]))
    if v.startswith("rawp"):
        return raw(int(v.split(":")[1]), False)
    cur = conn.cursor()
    if v == "begincommit":
        cur.execute("BEGIN; COMMIT")
        return
    if v == "rt1":
        cur.execute(RT1)
        head(cur)
        cur.execute("COMMIT")
        return
    if v == "rt1-noset":
        cur.execute(f"BEGIN; {W._PG_LOCK_AND_HEAD}")
        head(cur)
        cur.execute("COMMIT")
        return
    rows = int(v.split(":")[1])
    kind = v.split(":")[0]
    cur.execute(RT1)
    h = head(cur)
    params, receipts = W._chain(next(it[rows]), *h)
    with conn.pipeline():
        if kind == "full":
            W._pg_insert(cur, params)
        elif kind == "nojson":  # insert, but pass canonical only (cost of the other cols)
            W._pg_insert(cur, params)
        cur.execute("COMMIT")


for v in variants:
    for _ in range(200):
        run(v)
    p0 = snap()
    c0 = time.process_time()
    w0 = time.perf_counter()
    for _ in range(N):
        run(v)
    c1 = time.process_time()
    w1 = time.perf_counter()
    p1 = snap()
    print(
        f"{v:14s} app {(c1 - c0) / N * 1e6:6.0f} us  pg {(p1 - p0) / N * 1e6:6.0f} us  wall {(w1 - w0) / N * 1e6:6.0f} us",
        flush=True,
    )
