"""A Jepsen-style harness for the audit trail: a real gunicorn server, concurrent clients that
record every ACKNOWLEDGED lookup (200 with its audit receipt), faults (kill -9 of the whole server
process group), and a checker that compares the acknowledgements with the exported, verified log.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`gunicorn -w 3 --threads 4 'service:create_app()'` on a free loopback port, its own process group."""

    def __init__(self, url: str, instance_dir: Path, log_path: Path, workers: int = 3, threads: int = 4):
        self.url, self.instance_dir, self.log_path = url, instance_dir, log_path
        self.workers, self.threads = workers, threads
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": self.url,
            "PGX_INSTANCE_DIR": str(self.instance_dir),
            "PGX_PATIENT_REF_KEY": "test-patient-key",
            "PGX_RATELIMIT": "1000000/minute",
            "PGX_LOCK_TIMEOUT_S": "10",
        }
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn",
                "-w", str(self.workers), "--threads", str(self.threads),
                "-b", f"127.0.0.1:{self.port}", "--graceful-timeout", "5",
                "service:create_app()",
            ],
            cwd=REPO, env=env, stdout=log, stderr=log, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.proc.returncode}); see {self.log_path}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"gunicorn did not come up; see {self.log_path}")

    def kill(self) -> None:
        """kill -9 of the whole process group (master and workers), no warning."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            self.kill()
        self.proc = None


@dataclass
class Ack:
    request_id: str
    audit_id: str
    seq: int | None
    entry_hash: str | None


@dataclass
class Load:
    acks: list[Ack] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0  # connection reset / refused (the server was killed): not acknowledged
    refusals: dict[str, int] = field(default_factory=dict)  # "503 audit-unavailable": n
    bad_acks: list[str] = field(default_factory=list)  # a 200 without a receipt: a bug
    lock: threading.Lock = field(default_factory=threading.Lock)


def lookup_once(base: str, key: str, load: Load, tag: str) -> None:
    rid = f"{tag}-{uuid.uuid4().hex[:12]}"
    query = "gene=CYP2D6&diplotype=%2A1%2F%2A4&drug=codeine"
    req = urllib.request.Request(
        f"{base}/v1/lookup?{query}",
        headers={"Authorization": f"Bearer {key}", "X-Request-ID": rid, "X-Patient-Ref": f"MRN-{rid}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, b""
        try:
            kind = json.loads(exc.read()).get("type", "").rsplit("/", 1)[-1]
        except Exception:
            kind = "?"
        with load.lock:
            load.refusals[f"{status} {kind}"] = load.refusals.get(f"{status} {kind}", 0) + 1
    except Exception:  # refused, reset, or cut mid-body (IncompleteRead): the server died; not acknowledged
        with load.lock:
            load.errors += 1
        return
    with load.lock:
        load.statuses[status] = load.statuses.get(status, 0) + 1
        if status != 200:
            return
        try:
            data = json.loads(body)
            load.acks.append(Ack(rid, data["audit_id"], data.get("audit_seq"), data.get("audit_entry_hash")))
        except (ValueError, KeyError):
            load.bad_acks.append(rid)


def run_clients(base: str, key: str, *, clients: int, per_client: int | None = None,
                stop: threading.Event | None = None, load: Load | None = None, tag: str = "c") -> Load:
    """`clients` threads issuing lookups: `per_client` each, or until `stop` is set."""
    load = load or Load()

    def worker(n: int) -> None:
        i = 0
        while (per_client is None or i < per_client) and not (stop is not None and stop.is_set()):
            lookup_once(base, key, load, f"{tag}{n}")
            i += 1

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return load


def warm_up(base: str, key: str, load: Load, clients: int = 16, bursts: int = 20) -> None:
    """Concurrent bursts until one is answered 200 throughout, so every worker holds the knowledge
    release (a worker's first concurrent requests can be refused 503 while it builds it)."""
    for n in range(bursts):
        burst = run_clients(base, key, clients=clients, per_client=1, tag=f"warm{n}-")
        load.acks += burst.acks
        if burst.statuses == {200: clients}:
            return
    raise RuntimeError("the server never answered a whole burst with 200")


def check_log(url: str, instance_dir: Path, acks: list[Ack]) -> tuple[list[str], object]:
    """Every acknowledged lookup has exactly one record (same audit id, request id, hash), and the
    exported log verifies (contiguous seq, chain, signed checkpoint). Returns (problems, report)."""
    from service import create_app
    from service.audit import get_state
    from service.audit.export import ExportFilters, iter_export
    from service.audit.verify import verify_export
    from service.db import get_db

    app = create_app({"PGX_DATABASE_URL": url, "PGX_INSTANCE_DIR": str(instance_dir),
                      "PGX_PATIENT_REF_KEY": "test-patient-key"})
    try:
        with app.app_context():
            text = "".join(iter_export(get_db(app), ExportFilters(), "ndjson"))
            pub = get_state(app).signer.public_key
    finally:
        app.extensions["pgx.db"].dispose()
    report = verify_export(text.encode("utf-8"), public_key=pub)
    problems = [f"log does not verify: {f}" for f in report.errors]
    by_audit_id: dict[str, dict] = {}
    per_request: dict[str, int] = {}
    for line in text.splitlines():
        rec = json.loads(line)
        if "seq" not in rec:
            continue
        by_audit_id[rec["audit_id"]] = rec
        if rec["action"] == "GET /v1/lookup" and rec["request_id"]:
            per_request[rec["request_id"]] = per_request.get(rec["request_id"], 0) + 1
    for ack in acks:
        rec = by_audit_id.get(ack.audit_id)
        if rec is None:
            problems.append(f"acknowledged lookup {ack.request_id} (audit_id {ack.audit_id}) has no record")
            continue
        if rec["request_id"] != ack.request_id or rec["outcome"] != 200:
            problems.append(f"audit_id {ack.audit_id} names another request")
        if ack.seq is not None and (rec["seq"] != ack.seq or rec["entry_hash"] != ack.entry_hash):
            problems.append(f"audit_id {ack.audit_id}: the receipt (seq/hash) differs from the log")
        if per_request.get(ack.request_id) != 1:
            problems.append(f"request {ack.request_id} has {per_request.get(ack.request_id)} records")
    return problems, report
