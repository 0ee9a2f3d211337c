"""Round 8: N requests in-process (round 6's wsgi_bench2.py app, audit stubbed), for callgrind
instruction counts (tools/cg.sh): VARIANT=base|sync (variants.py). Expects /tmp/srv as in round 6."""

import os
import sys

what, n = sys.argv[1], int(sys.argv[2])
variant = os.environ.get("VARIANT", "base")
sys.argv = ["x", "stub"]
scope: dict = {}
with open("/tmp/srv/wsgi_bench2.py") as f:
    exec(f.read().split('for name in ("healthz", "lookup"):')[0], scope)  # noqa: S102
with open("/tmp/srv/variants.py") as f:
    exec(f.read(), scope)  # noqa: S102
scope["apply_variant"](scope["app"], variant)
scope["run"](what, 50)
scope["run"](what, n)
