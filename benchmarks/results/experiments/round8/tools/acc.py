"""Round 8: microseconds per access-log line of service/gunicorn_conf.py's JsonLogger (one thread,
20000 lines to /tmp/srv/acc.log). Run with the repository's venv from any directory."""

import datetime
import importlib.util
import os
import sys
import time

from gunicorn.config import Config

sys.argv = ["gunicorn"]
os.environ["PGX_ACCESS_LOG"] = "/tmp/srv/acc.log"
spec = importlib.util.spec_from_file_location("gconf", "/work/main/service/gunicorn_conf.py")
conf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(conf)
cfg = Config()
cfg.set("accesslog", "/tmp/srv/acc.log")
cfg.set("logger_class", conf.JsonLogger)
log = conf.JsonLogger(cfg)


class Resp:
    status = "200 OK"
    headers = [("Content-Type", "application/json"), ("X-Request-ID", "abc")]
    sent = 120


env = {"REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD": "GET", "PATH_INFO": "/healthz"}
rt = datetime.timedelta(microseconds=1234)
for _ in range(3):
    t = time.perf_counter()
    for _ in range(20000):
        log.access(Resp, None, env, rt)
    print(f"{(time.perf_counter() - t) / 20000 * 1e6:.1f} us per access line")
if hasattr(log, "flush_access_lines"):
    log.flush_access_lines()
