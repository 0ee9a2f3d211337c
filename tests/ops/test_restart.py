"""A restart right after a stop under load comes up (issue 13, item 12): the pre-start port check
(service/gunicorn_conf.py on_starting) binds with SO_REUSEADDR, so connections of the stopped
server still in TIME-WAIT do not block it; a server still listening does."""

from __future__ import annotations

import importlib.util
import signal
import socket
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from .test_serve import STOP_DEADLINE_S, _get, _start, _stop

CONF = Path(__file__).resolve().parents[2] / "service" / "gunicorn_conf.py"


@pytest.fixture
def conf(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    monkeypatch.delenv("GUNICORN_PID", raising=False)
    spec = importlib.util.spec_from_file_location("pgx_gunicorn_conf_restart", CONF)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _server(port: int):
    return SimpleNamespace(cfg=SimpleNamespace(reuse_port=True, bind=[f"127.0.0.1:{port}"]))


def _port_in_time_wait() -> int:
    """A loopback port whose listener is gone and whose accepted connection the server side
    closed first: that side's socket is left in TIME-WAIT (about a minute on Linux)."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn listens
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the server closes first, as after `Connection: close`
        client.recv(1)
        client.close()
    return port


def test_the_port_check_passes_with_only_time_wait_connections_left(conf):
    port = _port_in_time_wait()
    with socket.socket() as plain:  # what the check did before: refused, "Address already in use"
        with pytest.raises(OSError):
            plain.bind(("127.0.0.1", port))
    conf.on_starting(_server(port))  # no SystemExit


def test_the_port_check_still_refuses_a_port_another_server_listens_on(conf):
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # as gunicorn's workers listen
        other.bind(("127.0.0.1", 0))
        other.listen()
        with pytest.raises(SystemExit, match="cannot listen"):
            conf.on_starting(_server(other.getsockname()[1]))


@pytest.mark.slow
def test_pgx_serve_restarts_at_once_after_a_stop_under_load(tmp_path):
    first = _start(tmp_path, workers=1)
    port = int(first["base"].rsplit(":", 1)[1])
    try:
        for _ in range(50):  # each answered with Connection: close: the server closes first
            assert _get(first["base"] + "/healthz")[0] == 200
        first["proc"].send_signal(signal.SIGTERM)
        first["proc"].wait(timeout=STOP_DEADLINE_S)
    finally:
        _stop(first)
    started = time.monotonic()
    second = _start(tmp_path, workers=1, port=port)  # fails the test if it does not come up
    try:
        assert _get(second["base"] + "/healthz")[0] == 200
        assert time.monotonic() - started < 50  # not after TIME-WAIT ran out (60 s on Linux)
    finally:
        _stop(second)
