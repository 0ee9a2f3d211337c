"""Gunicorn configuration for `pgx serve` (and `gunicorn -c service/gunicorn_conf.py 'service:create_app()'`).

Every setting comes from an environment variable, with a default sized for a small machine:

| variable | default | gunicorn setting |
|---|---|---|
| PGX_BIND | 127.0.0.1:8000 | bind (comma-separated for several) |
| PGX_WORKERS | one per CPU the server may use | workers (processes) |
| PGX_THREADS | 24 | threads per worker (gthread worker class); the audit group commit batches the records of concurrent requests of one worker, so more threads per worker mean larger groups (benchmarks/RESULTS.md) |
| PGX_TIMEOUT | 30 | timeout: a worker silent this long is killed and replaced |
| PGX_GRACEFUL_TIMEOUT | 30 | graceful_timeout: time to finish in-flight requests on SIGTERM/HUP |
| PGX_KEEPALIVE | 5 | keepalive seconds; behind a load balancer set it above the LB's idle timeout (the LB must close idle connections first) |
| PGX_MAX_REQUESTS / PGX_MAX_REQUESTS_JITTER | 10000 / 1000 | recycle workers after that many requests |
| PGX_REUSE_PORT | 1 | reuse_port: each worker listens on its own SO_REUSEPORT socket (TCP binds), so the kernel spreads connections evenly over the workers |
| PGX_ACCESS_LOG | - | access log target (`-` = stdout, a path, or `off`) |
| PGX_CPU_AFFINITY | auto | `on`: each worker runs on one CPU (of those the server may use), the workers spread evenly; `auto`: on when there are no more workers than those CPUs; `off` |
| PGX_LOG_LEVEL | info | log level |
| PROMETHEUS_MULTIPROC_DIR | a fresh temp dir | where workers keep their metric values |

The app is NOT preloaded: each worker imports and builds it after fork, so no database
connection (nor the knowledge release) is ever shared across a fork. `service.db.Database`
creates its engine lazily per PID in any case.

Access log: one JSON object per request with the method, the *path without its query string*
(a lookup's query string carries a genotype: it is never logged), status, bytes, duration and
the request id (X-Request-ID response header).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _str(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


# -- Prometheus multiprocess directory: must exist, and be empty, before any worker imports
# prometheus_client (values are then kept in per-PID files that /metrics aggregates).
_multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
_own_multiproc_dir = False
if not _multiproc_dir:
    _multiproc_dir = tempfile.mkdtemp(prefix="pgx-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _multiproc_dir
    _own_multiproc_dir = True
else:
    # A directory left over from an earlier run would add stale counts: start from empty.
    Path(_multiproc_dir).mkdir(parents=True, exist_ok=True)
    for stale in Path(_multiproc_dir).glob("*.db"):
        stale.unlink()

bind = [part.strip() for part in _str("PGX_BIND", "127.0.0.1:8000").split(",") if part.strip()]
# One worker per CPU, each kept on its CPU (PGX_CPU_AFFINITY, below), 24 threads each (measured
# against other defaults: benchmarks/RESULTS.md, decisions register, 6553336). A request waiting
# for its audit commit holds its thread, so a worker's group commit gathers up to one record per
# thread: 24 threads cover the connections the kernel hashes onto one worker (SO_REUSEPORT,
# below) with room for its unevenness.
try:
    _USABLE_CPUS = len(os.sched_getaffinity(0))
except AttributeError:  # pragma: no cover - not Linux
    _USABLE_CPUS = os.cpu_count() or 1
workers = _int("PGX_WORKERS", _USABLE_CPUS)
threads = _int("PGX_THREADS", 24)
worker_class = "gthread"
timeout = _int("PGX_TIMEOUT", 30)
graceful_timeout = _int("PGX_GRACEFUL_TIMEOUT", 30)
keepalive = _int("PGX_KEEPALIVE", 5)
max_requests = _int("PGX_MAX_REQUESTS", 10000)
max_requests_jitter = _int("PGX_MAX_REQUESTS_JITTER", 1000)
backlog = _int("PGX_BACKLOG", 2048)
# Each worker listens on its own SO_REUSEPORT socket, so the kernel spreads new connections over
# the workers evenly (by a hash of the client address and port). With one shared socket, the
# worker that wakes first takes a burst of keep-alive connections (31 of 32 seen in a benchmark)
# and, one core per worker (the GIL), the machine sits half idle while it is saturated.
# TCP binds only: on a unix socket path each worker would replace the previous worker's socket.
# A second server started on a port already served would share it silently: on_starting refuses.
reuse_port = _str("PGX_REUSE_PORT", "1").lower() not in {"0", "off", "false", "no"} and all(
    not b.startswith(("unix:", "fd://")) for b in bind
)
preload_app = False
# Request-size guards (the body limit itself is Flask's MAX_CONTENT_LENGTH).
limit_request_line = 8190
limit_request_fields = 100
# The heartbeat file lives in memory where available (a disk-backed fchmod can stall workers).
# gunicorn creates it with mkstemp and unlinks it at once, so a shared directory is safe here.
_SHM = "/dev/shm"  # noqa: S108  # nosec B108
worker_tmp_dir = os.environ.get("PGX_WORKER_TMP_DIR") or (
    _SHM if os.path.isdir(_SHM) and os.access(_SHM, os.W_OK) else None
)
# gunicorn >= 25 opens a control socket at a fixed per-user path; several servers on one host
# (tests, benchmarks, instances) would collide on it. Off unless asked for.
_control_socket = os.environ.get("PGX_CONTROL_SOCKET", "").strip()
if _control_socket:
    control_socket = _control_socket
else:
    control_socket_disable = True
# Behind a load balancer / reverse proxy: trust its X-Forwarded-* only from these addresses.
forwarded_allow_ips = _str("PGX_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
proc_name = "pgx"
loglevel = _str("PGX_LOG_LEVEL", "info").lower()
errorlog = "-"
_access = _str("PGX_ACCESS_LOG", "-")
accesslog = None if _access.lower() in {"off", "none", "0", "false"} else _access
wsgi_app = "service:create_app()"


logger_class = "service.serving.access_log.JsonLogger"


def _tcp_address(spec: str) -> tuple[str, int]:
    host, _, port = spec.rpartition(":")
    # An empty host means every interface, as gunicorn reads it.
    return (host.strip("[]") or "0.0.0.0"), int(port)  # noqa: S104  # nosec B104


def on_starting(server) -> None:
    """With per-worker SO_REUSEPORT sockets nothing stops a second server from joining a port that
    one is already serving (each would take a share of the connections): bind it first (no SO_REUSEPORT),
    and refuse to start when that fails. Skipped on a USR2 re-exec (that sharing is intended)."""
    if not server.cfg.reuse_port or os.environ.get("GUNICORN_PID"):
        return
    import socket

    for spec in server.cfg.bind:
        host, port = _tcp_address(spec)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # SO_REUSEADDR: a stopped server's connections still in TIME-WAIT do not hold the
            # port (a restart under load failed for a minute); a listening server still does.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise SystemExit(f"pgx serve: cannot listen on {spec}: {exc.strerror} (another server?)") from None


_affinity = _str("PGX_CPU_AFFINITY", "auto").lower()
# `auto`: pinned only when every worker can have a CPU of its own. Never where the platform cannot pin.
_CPU_AFFINITY = hasattr(os, "sched_setaffinity") and (
    workers <= _USABLE_CPUS if _affinity == "auto" else _affinity in {"1", "on", "true", "yes"}
)


def post_fork(server, worker) -> None:
    """In the new worker: nothing inherited to reset (no preload); say which worker started and,
    when pinning (PGX_CPU_AFFINITY), keep it on one CPU of those it may use (worker i on CPU i mod n):
    its threads then hand requests and the GIL to each other on one core, with warm caches,
    instead of waking each other across cores (benchmarks/RESULTS.md, round 5)."""
    server.log.info("worker %s started", worker.pid)
    cpu = getattr(worker, "pgx_cpu", None)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def pre_fork(server, worker) -> None:
    """In the master, before a worker forks: when pinning (PGX_CPU_AFFINITY), give it the CPU that
    the fewest live workers have (a worker replaced after max_requests gets its predecessor's)."""
    if not _CPU_AFFINITY:
        return
    taken = [getattr(w, "pgx_cpu", None) for w in server.WORKERS.values()]
    cpus = sorted(os.sched_getaffinity(0))
    worker.pgx_cpu = min(cpus, key=lambda c: (taken.count(c), c))


def worker_exit(server, worker) -> None:
    """In the worker, as it exits: write the access lines still queued."""
    flush = getattr(worker.log, "flush_access_lines", None)
    if flush is not None:
        flush()


def child_exit(server, worker) -> None:
    """In the master: a worker exited; drop its live-gauge files (counters/histograms are kept)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if _own_multiproc_dir and _multiproc_dir:
        shutil.rmtree(_multiproc_dir, ignore_errors=True)
