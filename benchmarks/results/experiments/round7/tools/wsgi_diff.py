"""In-process profile of a lookup minus /healthz (wsgi_bench2.py's app, audit stubbed), per request (round 7)."""

import cProfile
import pstats
import sys
import time

sys.argv = ["x", "stub"]
exec(open("/tmp/srv/wsgi_bench2.py").read().split("if len(sys.argv) > 2:")[0])


def prof(name, n=3000):
    pr = cProfile.Profile(time.process_time)
    pr.enable()
    run(name, n)  # noqa: F821 - defined by the exec'd wsgi_bench2.py
    pr.disable()
    st = pstats.Stats(pr).stats
    return {
        f"{k[0].split('site-packages/')[-1].split('/work/main/')[-1]}:{k[1]}({k[2]})": (
            v[1] / n,
            v[2] / n * 1e6,
            v[3] / n * 1e6,
        )
        for k, v in st.items()
    }


h = prof("healthz")
lk = prof("lookup")
keys = set(h) | set(lk)
rows = sorted(keys, key=lambda k: -(lk.get(k, (0, 0, 0))[1] - h.get(k, (0, 0, 0))[1]))
print("tottime diff (us/req, profiled), calls/req lookup vs healthz")
for k in rows[:45]:
    a = h.get(k, (0, 0, 0))
    b = lk.get(k, (0, 0, 0))
    print(f"{b[1] - a[1]:7.2f}  {b[0]:5.1f} vs {a[0]:5.1f}  cum {b[2]:7.1f}  {k}")
print("total", sum(v[1] for v in lk.values()), sum(v[1] for v in h.values()))
