"""`pgx serve` for real: gunicorn with 2 workers on a loopback port, probes, metrics, graceful stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PGX = Path(sys.executable).with_name("pgx")
START_DEADLINE_S = 60
STOP_DEADLINE_S = 40
SECRET_QUERY = "diplotype=*2/*17&patient_ref=MRN-0042-ZETA"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Connection": "close"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - loopback only
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _pgx(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run([str(PGX), *args], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def _start(tmp_path, workers: int = 2, port: int | None = None, **extra_env):
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'pgx.sqlite3'}",
        PGX_INSTANCE_DIR=str(tmp_path / "instance"),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        PGX_LOG_LEVEL="info",
        **extra_env,
    )
    _pgx(["db", "upgrade"], env)
    _pgx(["tables", "load", str(REPO / "reference_tables")], env)
    port = port or _free_port()
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(PGX), "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", "2"],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
        )
    base = f"http://127.0.0.1:{port}"
    healthz_ok = 0
    deadline = time.monotonic() + START_DEADLINE_S
    while True:
        try:
            status, _ = _get(base + "/healthz", timeout=2)
            if status == 200:
                healthz_ok += 1
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"pgx serve did not come up:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    return {"base": base, "proc": proc, "log": log_path, "healthz_ok": healthz_ok,
            "metrics_dir": tmp_path / "metrics"}


def _stop(info) -> None:
    proc = info["proc"]
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture
def server(tmp_path):
    info = _start(tmp_path)
    try:
        yield info
    finally:
        _stop(info)


def _worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(p) for p in children.read_text().split()] if children.exists() else []


_USABLE = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0


@pytest.mark.skipif(_USABLE < 2, reason="needs CPU affinity and at least 2 CPUs")
@pytest.mark.parametrize(
    ("setting", "workers", "pinned"),
    [
        ("on", 2, True),
        (None, 2, True),  # the default, auto: a CPU for every worker
        ("auto", _USABLE + 1, False),  # more workers than CPUs: left to the scheduler
        ("off", 2, False),
    ],
)
def test_cpu_affinity_puts_each_worker_on_its_own_cpu(tmp_path, setting, workers, pinned):
    env = {} if setting is None else {"PGX_CPU_AFFINITY": setting}
    info = _start(tmp_path, workers=workers, **env)
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        while len(pids := _worker_pids(info["proc"].pid)) < workers and time.monotonic() < deadline:
            time.sleep(0.2)
        masks = [os.sched_getaffinity(pid) for pid in pids]
        assert len(masks) == workers, masks
        if pinned:
            assert all(len(m) == 1 for m in masks), masks
            assert len(set(map(frozenset, masks))) == workers  # spread, not stacked
        else:
            assert all(len(m) == _USABLE for m in masks), masks
        assert len(os.sched_getaffinity(info["proc"].pid)) > 1  # the master is left alone
        assert _get(info["base"] + "/healthz")[0] == 200
    finally:
        _stop(info)


def _healthz_counted(base: str) -> tuple[float, str]:
    """pgx_http_requests_total of /healthz 200s, summed over the workers' series; the page."""
    status, body = _get(base + "/metrics")
    assert status == 200
    text = body.decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("pgx_http_requests_total{") and 'endpoint="/healthz"' in line and 'status="200"' in line
    ), text


def test_serve_probes_metrics_and_graceful_stop(server):
    base = server["base"]
    # Counted from here: a start-up probe the client gave up on (its 2 s timeout, on a busy box)
    # may still have been answered and counted.
    before, _ = _healthz_counted(base)
    assert before >= server["healthz_ok"]
    for _ in range(30):
        status, body = _get(base + "/healthz")
        assert status == 200
        assert json.loads(body) == {"status": "ok"}

    status, body = _get(base + "/readyz")
    assert status == 200, body
    ready = json.loads(body)
    assert ready["database"] == "ok" and ready["release"]

    # A query string with a genotype and a patient reference must never reach the logs.
    status, _ = _get(f"{base}/readyz?{SECRET_QUERY}")
    assert status == 200

    # Aggregated over both workers: the /healthz count grew by exactly what we sent.
    counted, text = _healthz_counted(base)
    assert counted - before == 30
    assert "MRN-0042-ZETA" not in text and "*2/*17" not in text
    # Both workers run in Prometheus multiprocess mode (one value file per worker PID).
    pids = {p.stem.rsplit("_", 1)[-1] for p in server["metrics_dir"].glob("*.db")}
    assert len(pids) >= 2, pids

    proc = server["proc"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=STOP_DEADLINE_S) == 0
    log = server["log"].read_text()
    assert "Shutting down: Master" in log
    for secret in ("MRN-0042-ZETA", "*2/*17", "diplotype="):
        assert secret not in log, f"{secret!r} leaked into the server log"
    access = [json.loads(line) for line in log.splitlines()
              if line.startswith("{") and '"gunicorn.access"' in line]
    assert access, "no JSON access log lines"
    assert all(entry["request_id"] for entry in access)
    assert {entry["path"] for entry in access} >= {"/healthz", "/readyz", "/metrics"}


def _listeners(port: int) -> set[str]:
    """PIDs of the processes listening on the TCP port (from `ss`)."""
    import re

    out = subprocess.run(["ss", "-ltnpH", f"( sport = :{port} )"], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"pid=(\d+)", out))


def test_each_worker_listens_and_a_second_server_is_refused(server):
    """Per-worker SO_REUSEPORT sockets (the kernel spreads connections over the workers), and no
    second server can join the port and take a share of the traffic unnoticed."""
    import shutil

    port = int(server["base"].rsplit(":", 1)[1])
    if shutil.which("ss") is None:
        pytest.skip("`ss` (iproute2) is not installed: cannot list the listening sockets")
    master = server["proc"].pid
    listening = _listeners(port)
    assert len(listening) == 2 and str(master) not in listening, listening

    env = dict(os.environ, DATABASE_URL="sqlite:///unused.sqlite3")
    second = subprocess.run(
        [str(PGX), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        env=env, capture_output=True, text=True, timeout=60, cwd=server["log"].parent,
    )
    assert second.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in second.stdout + second.stderr
    assert _listeners(port) == listening
