#!/bin/bash
cd /tmp/srv
lat() {
  . /tmp/srv/cur
  if [ "$2" = healthz ]; then out=$(wrk -t2 -c32 -d5s --latency $BASE/healthz)
  else out=$(WRK_PATHS=$PATHS WRK_AUTH="Bearer $KEY" wrk -t2 -c32 -d5s --latency -s /work/main/benchmarks/wrk_report.lua $BASE/v1/lookup); fi
  echo "$1 $2: $(echo "$out" | grep Requests/sec | awk '{print $2}') req/s  p50 $(echo "$out" | awk '$1=="50%"{print $2}') p90 $(echo "$out" | awk '$1=="90%"{print $2}') p99 $(echo "$out" | awk '$1=="99%"{print $2}')"
}
for rep in 1 2; do
for cfg in "2 24" "2 24 PGX_CPU_AFFINITY=off" "4 12"; do
  ./restart.sh ${B:-sqlite} $cfg > /dev/null
  lat "srv $cfg" healthz; lat "srv $cfg" lookup; lat "srv $cfg" lookup
done
done
pkill -TERM -f hold.py
