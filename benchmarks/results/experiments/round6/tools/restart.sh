#!/bin/bash
# restart.sh backend workers threads [ENV=V...]
pkill -TERM -f "hold.py"; while pgrep -f hold.py >/dev/null; do sleep 0.5; done
PGX_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test nohup /work/main/.venv/bin/python /tmp/srv/hold.py "$@" > /tmp/srv/hold.log 2>&1 &
for i in $(seq 60); do grep -q ready /tmp/srv/hold.log && break; sleep 1; done; cat /tmp/srv/hold.log
