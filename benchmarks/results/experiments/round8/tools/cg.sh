#!/bin/bash
# usage: cg.sh VARIANT WHAT N  -> prints total instructions
out=/tmp/srv/cg.$1.$2.$3.out
VARIANT=$1 valgrind --tool=callgrind --callgrind-out-file=$out /work/main/.venv/bin/python /tmp/srv/cg_run.py $2 $3 > /dev/null 2>/tmp/srv/cg.$1.$2.$3.err
echo "$1 $2 $3 $(grep -m1 '^summary:\|^totals:' $out)"
