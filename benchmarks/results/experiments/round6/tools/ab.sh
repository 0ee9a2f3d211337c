#!/bin/bash
# ab.sh backend workers threads rounds [ENV=V...]: A = /tmp/base (PYTHONPATH), B = working tree; alternating
b=$1 w=$2 t=$3 n=$4; shift 4
for r in $(seq $n); do
 for v in A B; do
  if [ $v = A ]; then ./restart.sh $b $w $t PYTHONPATH=${ASRC:-/tmp/base} "$@" >/dev/null; else ./restart.sh $b $w $t "$@" > /dev/null; fi
  ./load.sh 2 > /dev/null
  l=$(./load.sh 8 | grep WRKJSON); h=$(./load.sh 8 healthz | grep WRKJSON)
  python3 - "$v" "$l" "$h" <<'PY'
import json,sys
v,l,h=sys.argv[1],json.loads(sys.argv[2].split(" ",1)[1]),json.loads(sys.argv[3].split(" ",1)[1])
lr=l["requests"]/l["duration_us"]*1e6; hr=h["requests"]/h["duration_us"]*1e6
print(f"{v} lookup {lr:7.0f}/s p50 {l['p50_us']/1000:5.1f} p99 {l['p99_us']/1000:5.1f}  healthz {hr:7.0f}/s  ratio {lr/hr:.3f}", flush=True)
PY
 done
done
