import json
import os
import sys

tick = os.sysconf("SC_CLK_TCK")
master = int(sys.argv[1])
app = pg = wrk = 0.0
for e in os.listdir("/proc"):
    if not e.isdigit():
        continue
    try:
        raw = open(f"/proc/{e}/stat").read()
    except OSError:
        continue
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    f = raw[raw.rindex(")") + 2 :].split()
    cpu = (int(f[11]) + int(f[12])) / tick
    if int(e) == master or int(f[1]) == master:
        app += cpu
    elif comm.startswith("postgres"):
        pg += cpu
    elif comm == "wrk":
        wrk += cpu
c = [int(x) for x in open("/proc/stat").readline().split()[1:]]
idle = (c[3] + c[4]) / tick
busy = sum(c) / tick - idle
print(json.dumps({"app": app, "pg": pg, "wrk": wrk, "busy": busy, "idle": idle}))
