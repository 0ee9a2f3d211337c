#!/bin/bash
# ab_env.sh BACKEND ROUNDS "ENV_A" "ENV_B": alternate two server envs (2x24), healthz + lookup 6s each
cd /tmp/srv
b=$1 n=$2 A=$3 B=$4
lat() {
  . /tmp/srv/cur
  if [ "$2" = healthz ]; then out=$(wrk -t2 -c32 -d6s --latency $BASE/healthz)
  else out=$(WRK_PATHS=$PATHS WRK_AUTH="Bearer $KEY" wrk -t2 -c32 -d6s --latency -s /work/main/benchmarks/wrk_report.lua $BASE/v1/lookup); fi
  echo "$1 $2: $(echo "$out" | grep Requests/sec | awk '{print $2}') req/s  p50 $(echo "$out" | awk '$1=="50%"{print $2}') p99 $(echo "$out" | awk '$1=="99%"{print $2}')"
}
for r in $(seq $n); do
  for v in A B; do
    if [ $v = A ]; then env=$A; else env=$B; fi
    ./restart.sh $b 2 24 $env > /dev/null
    lat "$v[$env]" healthz; lat "$v[$env]" lookup
  done
done
pkill -TERM -f hold.py
