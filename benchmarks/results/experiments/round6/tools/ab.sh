#!/bin/bash
# ab.sh backend workers threads rounds [ENV=V...]: A = $ASRC (default /tmp/base, on PYTHONPATH), B = working tree; alternating
b=$1 w=$2 t=$3 n=$4; shift 4
for r in $(seq $n); do
 for v in A B; do
  if [ $v = A ]; then ./restart.sh $b $w $t PYTHONPATH=${ASRC:-/tmp/base} "$@" >/dev/null; else ./restart.sh $b $w $t "$@" > /dev/null; fi
  ./measure.sh $v
 done
done
