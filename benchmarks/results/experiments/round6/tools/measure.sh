#!/bin/bash
# measure.sh LABEL: against the held server (cur), a 2 s warm-up, 8 s of lookups, 8 s of /healthz;
# one line: lookups/s, p50, p99, /healthz req/s and p99 (added in round 8), their ratio.
./load.sh 2 > /dev/null
l=$(./load.sh 8 | grep WRKJSON); h=$(./load.sh 8 healthz | grep WRKJSON)
python3 - "$1" "$l" "$h" <<'PY'
import json, sys
v, l, h = sys.argv[1], json.loads(sys.argv[2].split(" ", 1)[1]), json.loads(sys.argv[3].split(" ", 1)[1])
lr = l["requests"] / l["duration_us"] * 1e6
hr = h["requests"] / h["duration_us"] * 1e6
print(f"{v:28s} lookup {lr:7.0f}/s p50 {l['p50_us']/1000:5.1f} p99 {l['p99_us']/1000:5.1f}  healthz {hr:7.0f}/s  hp99 {h['p99_us']/1000:5.1f}  ratio {lr/hr:.3f}", flush=True)
PY
