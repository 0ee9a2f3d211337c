#!/bin/bash
# load.sh DURATION [healthz]
. /tmp/srv/cur
if [ "$2" = healthz ]; then wrk -t2 -c32 -d${1}s -s /work/main/benchmarks/wrk_report.lua $BASE/healthz | grep -E "Requests/sec|WRKJSON" | head -2
else WRK_PATHS=$PATHS WRK_AUTH="Bearer $KEY" wrk -t2 -c32 -d${1}s -s /work/main/benchmarks/wrk_report.lua "$BASE/v1/lookup" | grep -E "Requests/sec|WRKJSON"|head -2; fi
