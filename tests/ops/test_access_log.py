"""The access log of `pgx serve` (service/serving/access_log.py JsonLogger): JSON lines queued by the
request threads and written by the worker's writer thread, in writes of whole lines, to a
descriptor whose number survives log rotation."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import logging
import threading
from pathlib import Path

import pytest

ACCESS_LOG = Path(__file__).resolve().parents[2] / "service" / "serving" / "access_log.py"


@pytest.fixture
def conf(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    spec = importlib.util.spec_from_file_location("pgx_access_log_under_test", ACCESS_LOG)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _logger(conf, **settings):
    from gunicorn.config import Config

    cfg = Config()
    for name, value in settings.items():
        cfg.set(name, value)
    cfg.set("logger_class", conf.JsonLogger)
    return conf.JsonLogger(cfg)


class _Resp:
    status = "200 OK"
    sent = 42

    def __init__(self, request_id: str):
        self.headers = [("Content-Type", "application/json"), ("X-Request-ID", request_id)]


def _line(log, request_id: str, path: str = "/healthz") -> None:
    environ = {"REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD": "GET", "PATH_INFO": path,
               "QUERY_STRING": "gene=CYP2D6&diplotype=*1/*4"}
    log.access(_Resp(request_id), None, environ, dt.timedelta(microseconds=1500))


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _wait_for_lines(path: Path, count: int, timeout: float = 5.0) -> list[dict]:
    import time

    deadline = time.monotonic() + timeout
    while True:
        # Only lines already ended: the writer thread may be in the middle of a write (a reader
        # can see part of it), as a log shipper would.
        done = path.read_text().split("\n")[:-1] if path.exists() else []
        if len(done) >= count or time.monotonic() > deadline:
            return [json.loads(line) for line in done]
        time.sleep(0.01)


def test_access_lines_are_json_without_the_query_and_survive_rotation(conf, tmp_path):
    target = tmp_path / "access.log"
    log = _logger(conf, accesslog=str(target))
    fd = log._access_lines.fd
    _line(log, "before-rotation")
    rotated = tmp_path / "access.log.1"
    target.rename(rotated)
    _line(log, "still-old-file")  # logrotate renamed it; until told, we write where we wrote
    log.reopen_files()  # SIGUSR1
    _line(log, "after-rotation", path="/v1/lookup")
    log.flush_access_lines()
    assert log._access_lines.fd == fd  # the same descriptor number, now on the new file
    old, new = _read(rotated), _read(target)
    assert [e["request_id"] for e in old] == ["before-rotation", "still-old-file"]
    assert [e["request_id"] for e in new] == ["after-rotation"]
    entry = new[0]
    assert entry["logger"] == "gunicorn.access" and entry["path"] == "/v1/lookup"
    assert entry["status"] == 200 and entry["bytes"] == 42 and entry["duration_ms"] == 1.5
    assert "CYP2D6" not in target.read_text() + rotated.read_text()


def test_lines_from_many_threads_never_interleave(conf, tmp_path):
    target = tmp_path / "access.log"
    log = _logger(conf, accesslog=str(target))

    def write(t: int) -> None:
        for i in range(300):
            _line(log, f"t{t}-{i}-" + "x" * 200)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    entries = _wait_for_lines(target, 2400)  # written by the writer thread, unasked
    ids = [e["request_id"] for e in entries]  # every line parses: none torn or merged
    assert len(ids) == 2400 and len(set(ids)) == 2400
    for t in range(8):  # each thread's lines in the order it wrote them
        mine = [int(i.split("-")[1]) for i in ids if i.startswith(f"t{t}-")]
        assert mine == sorted(mine)


def test_syslog_or_an_operators_logging_config_takes_the_logging_path(conf, tmp_path):
    from types import SimpleNamespace

    plain = dict(accesslog="/var/log/pgx/access.log", syslog=False, logconfig=None, logconfig_dict={},
                 logconfig_json=None)
    assert conf.JsonLogger._direct_access_target(SimpleNamespace(**plain)) == "/var/log/pgx/access.log"
    for other in (dict(syslog=True), dict(logconfig="/etc/pgx/logging.ini"),
                  dict(logconfig_dict={"version": 1}), dict(logconfig_json="/etc/pgx/logging.json"),
                  dict(accesslog=None)):
        assert conf.JsonLogger._direct_access_target(SimpleNamespace(**{**plain, **other})) is None, other

    target = tmp_path / "access.log"
    log = _logger(conf, accesslog=str(target))
    log._direct_access = None  # as setup() leaves it for those configurations
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append
    log.access_log.addHandler(handler)
    try:
        _line(log, "through-logging")
    finally:
        log.access_log.removeHandler(handler)
    assert json.loads(seen[-1].getMessage())["request_id"] == "through-logging"


def test_stdout_target_writes_to_a_duplicate_of_stdout(conf, capfd):
    log = _logger(conf, accesslog="-")
    assert log._access_lines.fd not in (None, 1)
    _line(log, "to-stdout")
    log.flush_access_lines()
    out = capfd.readouterr().out
    assert json.loads(out.strip().splitlines()[-1])["request_id"] == "to-stdout"


def test_writes_are_whole_lines_of_at_most_pipe_buf_bytes(conf, tmp_path, monkeypatch):
    """On a pipe only writes of at most PIPE_BUF bytes are never interleaved with another
    worker's: the writer cuts its writes there, at line boundaries (a longer line alone)."""
    lines = conf._AccessLines(fd=-1)
    writes: list[bytes] = []
    monkeypatch.setattr(lines, "_write", writes.append)
    queued = [(b"%04d" % i) + b"x" * (i * 37 % 900) + b"\n" for i in range(300)]
    queued.insert(150, b"L" * 5000 + b"\n")
    for line in queued:
        lines.put(line)
    lines.flush()
    assert b"".join(writes) == b"".join(queued)
    assert len(writes) > 10
    for w in writes:
        assert w.endswith(b"\n")
        assert len(w) <= conf._PIPE_BUF or w.count(b"\n") == 1
