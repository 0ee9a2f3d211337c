#!/bin/bash
cd /work/main
for rnd in 1 2; do
for sw in 0.005 0.001 0.002; do
  echo "=== round $rnd switch $sw $(date +%T)"
  .venv/bin/python benchmarks/bench_http.py --backend postgresql --duration 6 --runs 3 --skip-batch --skip-scaling --skip-sync --server-env PYTHONPATH=/tmp/sw --server-env PGX_XP_SWITCH=$sw 2>&1 | grep -E "^\| GET|ratio|each lookup|records per"
done
done
