#!/usr/bin/env python3
"""FHIR translation cost: in-process time per Bundle, and FHIR vs JSON interpretations over HTTP.

    .venv/bin/python benchmarks/bench_fhir.py [--seconds 3]     # in-process only

In-process (one thread; wall clock per Bundle, the median of 5 timed rounds of --seconds/5):
  * read     - `service.fhir.genotypes.read_bundle` on an eMERGE-shaped collection Bundle
               (3 Genotype Observations, 2 MedicationRequests by clinical-drug RxNorm codes);
  * report   - `service.fhir.report.genomic_report` on that Bundle's interpretation answer
               (every Observation and Task of the answer; uuids derived, no JSON encoding);
  * core     - the domain core's interpretation of the same entries (memoized engine), for scale;
  * encode   - orjson of the report Bundle.

Over HTTP, `fhir_vs_json(base, key, workdir, args)` is called by benchmarks/bench_http.py on the
server it started: `POST /v1/fhir/interpretations` with that Bundle against
`POST /v1/interpretations` with the same genotypes and drugs as JSON, alternating wrk runs,
medians (goal: the FHIR answer costs at most 2x the JSON one, i.e. req/s ratio >= 0.5).
Nothing is asserted; figures are printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from service.fhir.genotypes import read_bundle  # noqa: E402
from service.fhir.report import genomic_report  # noqa: E402
from service.pgx.knowledge import KnowledgeBase  # noqa: E402
from service.pgx.results import GenotypeEntry  # noqa: E402

WRK_POST = Path(__file__).resolve().parent / "wrk_post.lua"
LOINC, HGNC, RXNORM = "http://loinc.org", "http://www.genenames.org", "http://www.nlm.nih.gov/research/umls/rxnorm"
GENOTYPES = [("CYP2C19", "HGNC:2621", "CYP2C19 *2/*17"), ("CYP2D6", "HGNC:2625", "CYP2D6 *1/*4"),
             ("CYP2C9", "HGNC:2623", "CYP2C9*1/*3")]
ORDERS = [("309362", "clopidogrel 75 MG Oral Tablet"), ("993781", "acetaminophen 300 MG / codeine phosphate 30 MG Oral Tablet")]


def sample_bundle() -> dict:
    entries = []
    for i, (gene, hgnc, text) in enumerate(GENOTYPES):
        entries.append({"fullUrl": f"urn:uuid:00000000-0000-4000-8000-00000000000{i}", "resource": {
            "resourceType": "Observation", "id": f"g{i}", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "laboratory"}]},
                         {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "GE"}]}],
            "code": {"coding": [{"system": LOINC, "code": "84413-4"}]},
            "subject": {"reference": "Patient/bench-1"},
            "valueCodeableConcept": {"text": text},
            "component": [{"code": {"coding": [{"system": LOINC, "code": "48018-6"}]},
                           "valueCodeableConcept": {"coding": [{"system": HGNC, "code": hgnc, "display": gene}]}}]}})
    for i, (code, name) in enumerate(ORDERS):
        entries.append({"fullUrl": f"urn:uuid:00000000-0000-4000-9000-00000000000{i}", "resource": {
            "resourceType": "MedicationRequest", "id": f"m{i}", "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/bench-1"},
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code, "display": name}]}}})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def json_body(bundle: dict) -> dict:
    return read_bundle(bundle).body()


def _per_call(fn, seconds: float) -> float:
    """Median seconds per call over 5 rounds."""
    rounds = []
    for _ in range(5):
        n, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds / 5:
            fn()
            n += 1
        rounds.append((time.perf_counter() - started) / n)
    return statistics.median(rounds)


def in_process(seconds: float) -> dict[str, float]:
    kb = KnowledgeBase.from_directory(REPO / "reference_tables")
    bundle = sample_bundle()
    reading = read_bundle(bundle)
    entries = [GenotypeEntry(**e) for e in reading.entries()]

    def core():
        results = [kb.interpret(e) for e in entries]
        return results, kb.guidance(list(reading.drugs), results)

    results, guidance = core()
    answer = {"patient_ref": reading.patient_ref, "release": kb.release, "audit_id": "bench", "audit_seq": 1,
              "genes": [dataclasses.asdict(r) for r in results], "drugs": [dataclasses.asdict(d) for d in guidance]}
    report = genomic_report(answer)
    figures = {
        "read": _per_call(lambda: read_bundle(bundle), seconds),
        "report": _per_call(lambda: genomic_report(answer), seconds),
        "core": _per_call(core, seconds),
        "encode": _per_call(lambda: orjson.dumps(report), seconds),
    }
    figures["entries_out"] = len(report["entry"])
    figures["guidance"] = len(guidance)
    return figures


def fhir_vs_json(base: str, key: str, workdir: Path, args, wrk) -> dict:
    """Alternating wrk runs of the FHIR and the JSON interpretation of the same input, at
    bench_http's --connections, --duration and --runs, with bench_http's `wrk`; printed."""
    connections, duration, runs = args.connections, args.duration, args.runs

    def post(path: str, body: Path, ctype: str, seconds: float) -> dict:
        extra = {"WRK_BODY": str(body), "WRK_CTYPE": ctype, "WRK_REPORT": str(WRK_POST.with_name("wrk_report.lua"))}
        return wrk(base, path, connections=connections, duration=seconds, auth=f"Bearer {key}", script=WRK_POST,
                   extra=extra)
    bundle = sample_bundle()
    fhir_file, json_file = workdir / "fhir-body.json", workdir / "json-body.json"
    fhir_file.write_bytes(orjson.dumps(bundle))
    json_file.write_bytes(orjson.dumps(json_body(bundle)))
    cases = (("POST /v1/interpretations (JSON)", "/v1/interpretations", json_file, "application/json"),
             ("POST /v1/fhir/interpretations (FHIR)", "/v1/fhir/interpretations", fhir_file, "application/fhir+json"))
    for _name, path, body, ctype in cases:  # warm-up; any error status shows in the counts below
        post(path, body, ctype, 1)
    results: dict[str, list[dict]] = {name: [] for name, *_ in cases}
    for _ in range(runs):
        for name, path, body, ctype in cases:
            results[name].append(post(path, body, ctype, duration))
    print("\n| endpoint (same input: 3 genes, 2 orders) | req/s (runs) | median req/s | p99 ms | non-2xx/errors |")
    print("|---|---|---|---|---|")
    for name, rs in results.items():
        errors = sum(r["errors"] for r in rs)
        print(f"| {name} | {' / '.join(format(r['rps'], ',.0f') for r in rs)} | {statistics.median(r['rps'] for r in rs):,.0f} | "
              f"{statistics.median(r['p99_ms'] for r in rs):.1f} | {errors} |")
    j, f = (statistics.median(r["rps"] for r in rs) for rs in results.values())
    print(f"\nFHIR/JSON req/s ratio: {f / j:.2f} (goal >= 0.5: FHIR costs at most 2x JSON)")
    return {"runs": results, "ratio": f / j}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per in-process figure")
    args = parser.parse_args()
    print("# bench_fhir (in-process): " + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
    print("command: " + " ".join([Path(sys.executable).name, *sys.argv]))
    f = in_process(args.seconds)
    print(f"\nBundle in: 3 Genotype Observations + 2 MedicationRequests; out: {f['entries_out']} entries "
          f"({f['guidance']} guidance)\n")
    print("| step | us per Bundle |")
    print("|---|---|")
    for step in ("read", "core", "report", "encode"):
        print(f"| {step} | {f[step] * 1e6:,.1f} |")
    print(f"| translation (read + report + encode) | {(f['read'] + f['report'] + f['encode']) * 1e6:,.1f} |")


if __name__ == "__main__":
    main()
