#!/bin/bash
# cpuab.sh backend w t rounds [ENV..]: A=/tmp/base B=tree; lookup req/s + CPU ms/req (app, pg, all)
b=$1 w=$2 t=$3 n=$4; shift 4
for r in $(seq $n); do for v in A B; do
  if [ $v = A ]; then ./restart.sh $b $w $t PYTHONPATH=${ASRC:-/tmp/base} "$@" >/dev/null; else ./restart.sh $b $w $t "$@" >/dev/null; fi
  . /tmp/srv/cur; ./load.sh 2 >/dev/null
  s0=$(python3 /tmp/srv/cpusnap.py $PID)
  l=$(./load.sh 8 | grep WRKJSON)
  s1=$(python3 /tmp/srv/cpusnap.py $PID)
  python3 - "$v" "$l" "$s0" "$s1" <<'PY'
import json,sys
v,l=sys.argv[1],json.loads(sys.argv[2].split(" ",1)[1]); a=json.loads(sys.argv[3]); b=json.loads(sys.argv[4])
n=l["requests"]; rps=n/l["duration_us"]*1e6
d={k:(b[k]-a[k])*1000/n for k in a}
print(f"{v} lookup {rps:6.0f}/s p99 {l['p99_us']/1000:5.1f}  ms/req: app {d['app']:.3f} pg {d['pg']:.3f} wrk {d['wrk']:.3f} busy {d['busy']:.3f} idle {d['idle']:.3f}", flush=True)
PY
done; done
