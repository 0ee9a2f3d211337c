#!/bin/bash
cd /work/main
for rnd in 1 2; do
for t in 24 8 12; do
  echo "=== round $rnd threads $t $(date +%T)"
  .venv/bin/python benchmarks/bench_http.py --backend postgresql --threads $t --duration 6 --runs 3 --skip-batch --skip-scaling --skip-sync 2>&1 | grep -E "^\| GET|ratio|each lookup|records per"
done
done
