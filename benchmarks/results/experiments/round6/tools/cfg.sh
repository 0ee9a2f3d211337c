#!/bin/bash
# cfg.sh backend "w t [ENV=V..]" ... : one run per config, lookup vs healthz
b=$1; shift
for c in "$@"; do
  ./restart.sh $b $c >/dev/null; rm -f /tmp/srv/st-*
  ./measure.sh "$c"
  cat /tmp/srv/st-* 2>/dev/null | head -2
done
