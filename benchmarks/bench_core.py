"""Single-gene interpretations per second of the knowledge core, against PyPGx as the baseline.

    .venv/bin/python benchmarks/bench_core.py [--pypgx-seconds 5] [--sample 20000]

Inputs: a seeded random mix of the diplotypes in the CPIC (and, for the genes CPIC's file lacks,
PharmCAT) diplotype -> phenotype tables, i.e. the same rows the conformance check uses.

Figures (one process, one thread; wall clock, with the process's own CPU time beside it):
  * cold   - a freshly built engine, every input seen for the first time: the raw string is
             parsed and the phenotype derived from the gene tables; no memo hit. The engine only
             notes the key (it memoizes an answer from the second sighting on).
  * second - the same inputs seen a second time: parsed and derived again, and now the answer is
             stored in the memo (the cost of first-seen inputs when every answer is stored).
  * warm   - the same engine afterwards: `interpret` answers from its memo keyed on the raw entry
             (what a busy service sees for common diplotypes). Slowest of 3 runs.
  * pypgx  - `pypgx.predict_phenotype(gene, a, b)` (PyPGx 0.27.0) on the same diplotypes, for the
             genes PyPGx knows; our cold/warm rate on exactly that subset is printed beside it.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from conformance_phenotypes import load_rows, shared_dir  # noqa: E402

from service.pgx.engine import PhenotypeEngine  # noqa: E402
from service.pgx.genes import load_gene_tables  # noqa: E402
from service.pgx.results import GenotypeEntry  # noqa: E402

PYPGX_GENES = ("CYP2B6", "CYP2C19", "CYP2C9", "CYP2D6", "CYP3A5", "NUDT15", "TPMT", "UGT1A1", "SLCO1B1", "NAT2")


def build_engine() -> tuple[PhenotypeEngine, float]:
    t = time.perf_counter()
    engine = PhenotypeEngine.from_gene_tables(load_gene_tables(REPO / "reference_tables/genes"))
    return engine, time.perf_counter() - t


def rate(engine: PhenotypeEngine, entries: list[GenotypeEntry]) -> float:
    return rates(engine, entries)[0]


_GC = {"start": 0.0, "spent": 0.0}


def _gc_clock(phase: str, _info: dict) -> None:
    if phase == "start":
        _GC["start"] = time.perf_counter()
    else:
        _GC["spent"] += time.perf_counter() - _GC["start"]


def rates(engine: PhenotypeEngine, entries: list[GenotypeEntry]) -> tuple[float, float, float]:
    """(per wall-clock second, per CPU-second of this process, share of the wall time spent in
    CPython's cyclic garbage collector) for one pass over `entries`."""
    interpret = engine.interpret
    gc.collect()  # start each pass without the previous step's garbage (the collector stays on)
    _GC["spent"] = 0.0
    gc.callbacks.append(_gc_clock)
    try:
        c, t = time.process_time(), time.perf_counter()
        for e in entries:
            interpret(e)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
    finally:
        gc.callbacks.remove(_gc_clock)
    return len(entries) / wall, len(entries) / cpu if cpu > 0 else float("inf"), _GC["spent"] / wall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=int, default=20_000, help="inputs in the warm mix")
    ap.add_argument("--pypgx-seconds", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    shared = shared_dir()
    if not (shared / "reference-data").is_dir():
        print(f"bench: shared reference data not found at {shared} (set PGX_SHARED_DIR); skipping")
        return 0
    rng = random.Random(args.seed)
    rows = load_rows(shared)
    every = [GenotypeEntry(r.gene, diplotype=r.diplotype) for r in rows]
    rng.shuffle(every)
    mix = [rng.choice(every) for _ in range(args.sample)]

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} CPUs, load average {load:.2f} (other processes slow every figure alike)")
    print(f"python {sys.version.split()[0]}, pid {os.getpid()}, {len(every)} distinct diplotypes "
          f"from the CPIC/PharmCAT tables, {len(mix)}-input warm mix")
    engine, build_s = build_engine()
    print(f"engine build (load + validate 23 YAML tables, compile): {build_s * 1000:.0f} ms")

    cold, cold_cpu, cold_gc = rates(engine, every)  # each entry is first-seen: no memo hits
    second, second_cpu, second_gc = rates(engine, every)  # seen once before: parsed again, answer stored
    warm = min(rate(engine, mix) for _ in range(3)) if mix else 0.0
    print(f"ours cold   (first-seen, full parse):   {cold:>12,.0f} interpretations/s "
          f"({cold_cpu:,.0f} per CPU-second; {cold_gc:.0%} of it in the cyclic GC)")
    print(f"ours second (full parse + memo store):  {second:>12,.0f} interpretations/s "
          f"({second_cpu:,.0f} per CPU-second; {second_gc:.0%} of it in the cyclic GC)")
    print(f"ours warm   (memo on the raw entry):    {warm:>12,.0f} interpretations/s")

    subset = [e for e in every if e.gene in PYPGX_GENES and "/" in (e.diplotype or "")]
    try:
        import pypgx  # noqa: PLC0415
    except ImportError:
        print("pypgx not installed (.venv/bin/pip install pypgx==0.27.0): no baseline")
        return 0
    pairs = [(e.gene, *e.diplotype.split("/", 1)) for e in subset]  # type: ignore[union-attr]
    rng.shuffle(pairs)
    pypgx.predict_phenotype("CYP2D6", "*1", "*4")  # warm its imports
    n, failures = 0, 0
    t = time.perf_counter()
    while time.perf_counter() - t < args.pypgx_seconds and n < len(pairs):
        g, a, b = pairs[n]
        try:
            pypgx.predict_phenotype(g, a, b)
        except Exception:  # noqa: BLE001 - PyPGx rejects some CPIC names; still timed
            failures += 1
        n += 1
    pypgx_rate = n / (time.perf_counter() - t)
    print(f"pypgx.predict_phenotype (0.27.0):       {pypgx_rate:>12,.1f} interpretations/s "
          f"({n} calls, {failures} raised)")

    fresh, _ = build_engine()
    sub_entries = [GenotypeEntry(g, diplotype=f"{a}/{b}") for g, a, b in pairs]
    sub_cold = rate(fresh, sub_entries)
    rate(fresh, sub_entries)  # second sighting: answers stored in the memo
    sub_warm = min(rate(fresh, sub_entries[: args.sample]) for _ in range(3))
    print(f"ours on the same {len(sub_entries)} diplotypes: cold {sub_cold:,.0f}/s, warm {sub_warm:,.0f}/s")
    print(f"ratio vs PyPGx: cold {sub_cold / pypgx_rate:,.0f}x, warm {sub_warm / pypgx_rate:,.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
