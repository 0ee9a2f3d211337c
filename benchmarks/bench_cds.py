"""The CDS Hooks section of bench_http.py (`--cds`): order-sign calls under load against /healthz.

An EHR is registered (`pgx cds-clients add` with a generated P-384 key); every call carries its
own ES384 JWT (signed beforehand: a jti is accepted once, and each one is verified and stored by
the server, as in production), a clopidogrel draft order with its own id for its own patient
(every call is a new order: the audit trail is read for cards shown before, none is found, and
the card is answered), and a prefetch with the patient's CYP2C19 *2/*2 Genotype Observation. wrk runs `connections`
concurrent EHR calls on loopback (benchmarks/wrk_cds.lua) for `duration` seconds.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

ISSUER = "https://bench-ehr.example/"
PATH = "/cds-services/pgx-order-sign"
LUA = Path(__file__).resolve().parent / "wrk_cds.lua"
WRK_THREADS = 2


def register_ehr(pgx, env: dict[str, str], workdir: Path):
    key = ec.generate_private_key(ec.SECP384R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwks_file = workdir / "bench-ehr.jwks.json"
    jwks_file.write_text(json.dumps({"keys": [{**jwk, "kid": "bench-1", "use": "sig", "alg": "ES384"}]}))
    pgx(["cds-clients", "add", ISSUER, "--jwks", str(jwks_file)], env)
    return key


def _body(order_id: str, patient: str) -> str:
    observation = {
        "resourceType": "Observation", "id": "gt-1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "84413-4"}]},
        "subject": {"reference": f"Patient/{patient}"}, "valueCodeableConcept": {"text": "*2/*2"},
        "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": "48018-6"}]},
                       "valueCodeableConcept": {"coding": [{"system": "http://www.genenames.org/geneId",
                                                            "code": "HGNC:2621", "display": "CYP2C19"}]}}]}
    order = {"resourceType": "MedicationRequest", "id": order_id, "status": "draft", "intent": "order",
             "subject": {"reference": f"Patient/{patient}"},
             "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                       "code": "309362", "display": "clopidogrel 75 MG Oral Tablet"}]}}
    return json.dumps({
        "hook": "order-sign", "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/bench", "patientId": patient,
                    "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": order}]}},
        "prefetch": {"genotypes": {"resourceType": "Bundle", "type": "searchset",
                                   "entry": [{"resource": observation}]}},
    }, separators=(",", ":"))


def write_requests(target: Path, key, base: str, count: int) -> Path:
    now = int(time.time())
    with target.open("w") as fh:
        for _ in range(count):
            token = jwt.encode({"iss": ISSUER, "aud": base + PATH, "iat": now, "exp": now + 600,
                                "jti": str(uuid.uuid4())}, key, algorithm="ES384",
                               headers={"kid": "bench-1", "typ": "JWT"})
            fh.write(f"{token}\t{_body('mr-' + uuid.uuid4().hex[:12], 'bench-' + uuid.uuid4().hex[:8])}\n")
    return target


def _wrk_cds(base: str, requests_file: Path, connections: int, duration: float) -> dict:
    env = {"WRK_CDS_REQUESTS": str(requests_file), "WRK_CDS_THREADS": str(WRK_THREADS), "PATH": "/usr/bin:/bin",
           "WRK_REPORT": str(LUA.with_name("wrk_report.lua"))}
    argv = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
            "-s", str(LUA), base + PATH]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=duration + 60)
    line = next((x for x in result.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        sys.exit(f"wrk gave no summary:\n{result.stdout}\n{result.stderr}")
    data = json.loads(line.split(" ", 1)[1])
    data.update(rps=data["requests"] / (data["duration_us"] / 1e6), p50_ms=data["p50_us"] / 1000,
                p99_ms=data["p99_us"] / 1000)
    return data


def section(base: str, env: dict[str, str], workdir: Path, *, pgx, wrk, connections: int, duration: float,
            runs: int, cpu) -> dict:
    """Alternating runs of /healthz and the hook call at `connections`; prints a Markdown table."""
    key = register_ehr(pgx, env, workdir)
    started = time.perf_counter()
    warm = write_requests(workdir / "cds-warm.tsv", key, base, 200)
    signing_ms = (time.perf_counter() - started) / 200 * 1000
    _wrk_cds(base, warm, 2, 1)
    health, hooks = [], []
    for i in range(runs):
        health.append(wrk(base, "/healthz", connections=connections, duration=duration))
        # more tokens than the server can use in the run: none is sent twice
        tokens = write_requests(workdir / f"cds-{i}.tsv", key, base, max(2000, int(duration * 1500)))
        before = cpu()
        run = _wrk_cds(base, tokens, connections, duration)
        after, n = cpu(), max(1, run["requests"])
        run.update(app_cpu_ms=(after["app"] - before["app"]) / n * 1000, pg_cpu_ms=(after["pg"] - before["pg"]) / n * 1000)
        hooks.append(run)
    med = {name: {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50_ms", "p99_ms")}
           for name, rs in (("healthz", health), ("hook", hooks))}
    print(f"\nCDS Hooks: POST {PATH} (ES384 JWT verified, jti stored, CYP2C19 *2/*2 prefetch, one clopidogrel "
          f"order -> one warning card, audited), {connections} concurrent, {runs} x {duration:g}s "
          f"(client-side signing {signing_ms:.2f} ms/token, beforehand)")
    print("\n| endpoint | req/s (runs) | median req/s | p50 ms | p99 ms | non-2xx / errors |")
    print("|---|---|---|---|---|---|")
    for name, rs in (("GET /healthz", health), (f"POST {PATH}", hooks)):
        m = med["healthz" if name.startswith("GET") else "hook"]
        errors = sum(r["status_errors"] + r["connect_errors"] + r["read_errors"] + r["timeouts"] for r in rs)
        rates = " / ".join(f"{r['rps']:,.0f}" for r in rs)
        print(f"| {name} | {rates} | {m['rps']:,.0f} | {m['p50_ms']:.2f} | "
              f"{m['p99_ms']:.2f} | {errors} |")
    ratio = med["hook"]["rps"] / med["healthz"]["rps"]
    app_ms = statistics.median(r["app_cpu_ms"] for r in hooks)
    pg_ms = statistics.median(r["pg_cpu_ms"] for r in hooks)
    print(f"\nhook/healthz rate ratio: {ratio:.2f}; hook p99 {med['hook']['p99_ms']:.1f} ms (goal < 100 ms); "
          f"CPU per hook call: app {app_ms:.2f} ms, PostgreSQL {pg_ms:.2f} ms")
    return {"healthz": health, "hook": hooks, "ratio": ratio, "signing_ms_per_token": signing_ms}
