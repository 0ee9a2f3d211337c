#!/bin/bash
cd /tmp/srv
lat() { # label wrk-threads path
  . /tmp/srv/cur
  if [ "$3" = healthz ]; then out=$(wrk -t$2 -c32 -d5s --latency $BASE/healthz)
  else out=$(WRK_PATHS=$PATHS WRK_AUTH="Bearer $KEY" wrk -t$2 -c32 -d5s --latency -s /work/main/benchmarks/wrk_report.lua $BASE/v1/lookup); fi
  echo "$1 wrk-t$2 $3: $(echo "$out" | grep Requests/sec | awk '{print $2}') req/s  p50 $(echo "$out" | awk '$1=="50%"{print $2}') p90 $(echo "$out" | awk '$1=="90%"{print $2}') p99 $(echo "$out" | awk '$1=="99%"{print $2}')"
}
for cfg in "2 24" "2 4" "2 8"; do
  ./restart.sh sqlite $cfg > /dev/null
  for rep in 1 2; do
    lat "srv $cfg" 2 healthz; lat "srv $cfg" 1 healthz; lat "srv $cfg" 2 lookup
  done
done
pkill -TERM -f hold.py
