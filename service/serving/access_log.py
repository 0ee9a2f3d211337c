"""The access log of `pgx serve`: one JSON line per request (no query string), written off the
request threads.

A `write(2)` releases the GIL, and getting it back under load waits up to the switch interval,
so request threads only queue their line; each worker's writer thread writes the queue in whole
lines (never interleaved on a pipe). gunicorn uses it as `logger_class` (service/gunicorn_conf.py).
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import sys
import threading
import time
from datetime import UTC, datetime

import orjson
from gunicorn.glogging import Logger

_PIPE_BUF = 4096  # POSIX: a write of at most this many bytes to a pipe is never interleaved


class _AccessLines:
    """A worker's access lines, queued by request threads and written by one writer thread.

    Every FLUSH_EVERY_S it writes what queued, in order, in writes of whole lines of at most
    PIPE_BUF bytes each (one line alone if longer): on a pipe (stdout under a container runtime)
    such writes never interleave with another worker's, and on an O_APPEND file no write does.
    The queue is flushed at worker exit (worker_exit, atexit); a worker killed outright loses at
    most the last FLUSH_EVERY_S of lines (the audit trail, not this log, is the record of
    lookups). A forked child starts with an empty queue and its own writer thread."""

    FLUSH_EVERY_S = 0.05

    def __init__(self, fd: int):
        self.fd = fd
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lines: collections.deque[bytes] = collections.deque()
        self._lock = threading.Lock()
        self._writer: threading.Thread | None = None

    def put(self, line: bytes) -> None:
        if self._writer is None:
            self._start()
        self._lines.append(line)  # deque.append: atomic, no lock taken by request threads

    def _start(self) -> None:
        with self._lock:
            if self._writer is None:
                self._writer = threading.Thread(target=self._run, name="pgx-access-log", daemon=True)
                self._writer.start()
                atexit.register(self.flush)

    def _run(self) -> None:
        while True:
            time.sleep(self.FLUSH_EVERY_S)
            try:
                self.flush()
            except Exception:  # pragma: no cover - never let the writer die over one write
                logging.getLogger("gunicorn.error").exception("access log lines could not be written")

    def flush(self) -> None:
        with self._lock:  # one writer at a time: the lines keep their order
            lines = self._lines
            chunk: list[bytes] = []
            size = 0
            for _ in range(len(lines)):
                line = lines.popleft()
                if chunk and size + len(line) > _PIPE_BUF:
                    self._write(b"".join(chunk))
                    chunk, size = [], 0
                chunk.append(line)
                size += len(line)
            if chunk:
                self._write(b"".join(chunk))

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]


class JsonLogger(Logger):
    """Gunicorn's logger with JSON lines for both the error log and the access log."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        from pythonjsonlogger.json import JsonFormatter

        formatter = JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger", "asctime": "time"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )
        for handler in self.error_log.handlers:
            handler.setFormatter(formatter)
        for handler in self.access_log.handlers:
            handler.setFormatter(logging.Formatter("%(message)s"))
        self._direct_access = self._direct_access_target(cfg)
        if self._direct_access is not None:
            self._open_access_fd()

    # Access lines go to a file descriptor of our own, not through logging (a LogRecord, a
    # formatter and the handler's lock, on which a busy worker's threads queue). A request thread
    # only queues its line: every write(2) releases the GIL, and a thread that gives it up waits
    # up to the switch interval to get it back while the others run. The worker's writer thread
    # (_AccessLines) writes what queued every FLUSH_EVERY_S.
    # The descriptor's number never changes while the process runs: reopening (SIGUSR1, log
    # rotation) and a configuration reload dup2() the new file onto it, so a write in flight
    # goes to the old file or to the new one, never to a descriptor number closed and reused.
    # Syslog or a logging configuration of the operator's own take the logging path, as
    # gunicorn does.
    _direct_access: str | None = None
    _access_lines: _AccessLines | None = None

    @staticmethod
    def _direct_access_target(cfg) -> str | None:
        if cfg.accesslog is None or cfg.syslog or cfg.logconfig or cfg.logconfig_dict or cfg.logconfig_json:
            return None
        return cfg.accesslog

    def _open_access_fd(self) -> None:
        target = self._direct_access
        if target == "-":
            new = os.dup(sys.stdout.fileno())
        else:
            new = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        if self._access_lines is None:
            self._access_lines = _AccessLines(new)
        else:
            os.dup2(new, self._access_lines.fd)
            os.close(new)

    def reopen_files(self) -> None:
        super().reopen_files()
        if self._direct_access not in (None, "-"):
            self.flush_access_lines()  # what queued before the rotation belongs to the old file
            self._open_access_fd()

    def _write_access_line(self, line: dict) -> None:
        lines = self._access_lines if self._direct_access is not None else None
        if lines is None:
            self.access_log.info(orjson.dumps(line, default=str).decode())
            return
        lines.put(orjson.dumps(line, default=str) + b"\n")

    def flush_access_lines(self) -> None:
        if self._access_lines is not None:
            self._access_lines.flush()

    def access(self, resp, req, environ, request_time) -> None:
        if not self.access_log_enabled:
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        request_id = None
        for name, value in getattr(resp, "headers", None) or []:
            if name.lower() == "x-request-id":
                request_id = value
                break
        line = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "logger": "gunicorn.access",
            "remote": environ.get("REMOTE_ADDR"),
            "method": environ.get("REQUEST_METHOD"),
            # PATH_INFO only: never RAW_URI or QUERY_STRING (a lookup's query carries a genotype).
            "path": environ.get("PATH_INFO"),
            "status": int(status) if str(status).isdigit() else status,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "request_id": request_id,
            "pid": os.getpid(),
        }
        try:
            self._write_access_line(line)
        except Exception:  # never crash a worker over a log line
            self.error("access log line could not be written")
