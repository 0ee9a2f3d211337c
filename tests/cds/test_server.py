"""The CDS services on a real gunicorn server on loopback, started as `gunicorn 'service:create_app()'`
(no PGX_BIND, no PGX_PUBLIC_BASE_URL): the JWT's audience is the address the connection reached,
never the Host header; an EHR registered with `pgx cds-clients add` gets its card."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.cds.helpers import (
    claims,
    ec_key,
    genotype_observation,
    hook_request,
    jwks,
    medication_request,
    searchset,
)

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
PGX = Path(sys.executable).with_name("pgx")
ISS = "https://real-ehr.example/"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _call(url: str, token: str, body: dict | None = None, host: str | None = None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if host:
        headers["Host"] = host
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback only
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def server(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PGX_BIND", "PGX_PUBLIC_BASE_URL")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'pgx.sqlite3'}", PGX_INSTANCE_DIR=str(tmp_path / "instance"),
               PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"), PGX_ACCESS_LOG="off")
    (tmp_path / "metrics").mkdir()
    for args in (["db", "upgrade"], ["tables", "load", str(REPO / "reference_tables")]):
        subprocess.run([str(PGX), *args], env=env, check=True, capture_output=True, timeout=120)
    key = ec_key(kid="real-1")
    (tmp_path / "jwks.json").write_text(jwks(key))
    subprocess.run([str(PGX), "cds-clients", "add", ISS, "--jwks", str(tmp_path / "jwks.json")], env=env,
                   check=True, capture_output=True, timeout=60)
    port = _free_port()
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "1",
                             "service:create_app()"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2):  # noqa: S310 - loopback only
                break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.2)
    yield base, key
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def test_audience_from_the_socket_and_a_card(server):
    base, key = server
    ok, doc = _call(base + "/cds-services", key.sign(claims("/cds-services", iss=ISS, base=base)))
    assert ok == 200 and len(doc["services"]) == 2
    # a Host header naming another origin changes nothing: the audience is the server's address
    status, _ = _call(base + "/cds-services", key.sign(claims("/cds-services", iss=ISS, base="http://evil.example")),
                      host="evil.example")
    assert status == 401
    path = "/cds-services/pgx-order-sign"
    body = hook_request("order-sign", [medication_request("mr-real", "309362", "clopidogrel 75 MG Oral Tablet")],
                        prefetch={"genotypes": searchset(genotype_observation("g", "CYP2C19", "HGNC:2621", "*2/*2"))})
    status, answer = _call(base + path, key.sign(claims(path, iss=ISS, base=base)), body)
    assert status == 200 and [c["indicator"] for c in answer["cards"]] == ["warning"]
