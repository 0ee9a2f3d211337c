"""Conformance of the service's drug guidance with CPIC's recommendation lookup tables.

For EVERY keyed row of ``<shared>/reference-data/cpic/recommendations.tsv`` (one row per CPIC
recommendation x drug x population) the genotype input that hits its lookup key is built:

- activity-score genes (CYP2D6, CYP2C9, DPYD): ``{"activity_score": "1.5"}``; the key ``n/a`` as
  the phenotype ``Indeterminate``; ``xN combinations`` as the CYP2D6 diplotype ``*1/*1xN``;
- HLA-A / HLA-B: the carrier result ``{"diplotype": "*57:01 positive"}``;
- every other gene: ``{"phenotype": <the key>}`` (CPIC's spelling);
- a gene keyed ``No Result`` is left out of the input.

That input goes through an *interpret* function (an adapter: ``core`` or ``http``) and the
answer for the row's population must carry CPIC's classification (normalized as in the tables:
"No recommendation", "N/A" and blank are "No Recommendation") and direction ``none`` exactly
where CPIC makes no recommendation (classification No Recommendation, or text "No
recommendation..." under another classification). Deviations are listed; those documented in
``reference_tables/recommendation_exceptions.yaml`` are marked as such.

    .venv/bin/python scripts/conformance_recommendations.py [--adapter core|http] [--verbose]

Exit status: 0 when agreement >= the goal (99.5 %) and every deviation is documented, 1
otherwise; 0 with a message when the shared reference data is absent (PGX_SHARED_DIR, default
``<repo>/../shared``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TABLES = REPO / "reference_tables"
EXCEPTIONS_FILE = TABLES / "recommendation_exceptions.yaml"
GOAL = 99.5
SCORE_GENES = {"CYP2D6", "CYP2C9", "DPYD"}
HLA_GENES = {"HLA-A", "HLA-B"}
CLASSIFICATIONS = {"Strong": "Strong", "Moderate": "Moderate", "Optional": "Optional",
                   "No recommendation": "No Recommendation", "N/A": "No Recommendation", "": "No Recommendation"}

# An interpret function: (genotype entries as in the HTTP body, drug) -> drug guidance dicts
# (at least drug, population, status, direction, classification).
Interpret = Callable[[list[dict[str, str]], str], list[dict[str, Any]]]


def shared_dir() -> Path:
    return Path(os.environ.get("PGX_SHARED_DIR", REPO.parent / "shared"))


def entry_for(gene: str, value: str) -> dict[str, str] | None:
    if value == "No Result":
        return None
    if gene in HLA_GENES:
        return {"gene": gene, "diplotype": value}
    if gene in SCORE_GENES:
        if value == "n/a":
            return {"gene": gene, "phenotype": "Indeterminate"}
        if value == "xN combinations":
            return {"gene": gene, "diplotype": "*1/*1xN"}
        return {"gene": gene, "activity_score": value}
    return {"gene": gene, "phenotype": value}


def expected_none(row: dict[str, str]) -> bool:
    text = row["recommendation_text"].strip().lower()
    return CLASSIFICATIONS[row["classification"]] == "No Recommendation" or text.startswith("no recommendation")


# -- adapters ------------------------------------------------------------------------------------


def guidance_dict(g: Any) -> dict[str, Any]:
    return {"drug": g.drug, "population": g.population, "status": str(g.status), "direction": str(g.direction),
            "classification": g.classification, "recommendation_id": g.recommendation_id, "message": g.message}


def minimal_results(entries: list[dict[str, str]]) -> dict[str, Any]:
    """Gene results straight from phenotype / score / carrier-result entries (no allele tables)."""
    from service.pgx.results import GeneResult, GeneStatus

    out = {}
    for e in entries:
        gene = e["gene"]
        kw: dict[str, Any] = {}
        status = GeneStatus.OK
        if "activity_score" in e:
            kw = {"activity_score": e["activity_score"], "lookup_key": e["activity_score"]}
        elif "phenotype" in e:
            if e["phenotype"] == "Indeterminate":
                status = GeneStatus.INDETERMINATE
                kw = {"phenotype": "Indeterminate", "lookup_key": "n/a" if gene in SCORE_GENES else "Indeterminate"}
            else:
                kw = {"phenotype": e["phenotype"], "lookup_key": None if gene in SCORE_GENES else e["phenotype"]}
        elif gene in HLA_GENES:
            allele = e["diplotype"].split(" ")[0]
            kw = {"allele_status": {allele: e["diplotype"]}, "lookup_key": e["diplotype"]}
        elif gene == "CYP2D6" and e["diplotype"].endswith("xN"):
            status = GeneStatus.INDETERMINATE
            kw = {"diplotype": e["diplotype"], "phenotype": "Indeterminate", "lookup_key": "xN combinations"}
        else:
            status = GeneStatus.INVALID
            kw = {"message": "the minimal builder reads phenotypes, scores and carrier results only"}
        out[gene] = GeneResult(gene=gene, input=json.dumps(e), status=status, **kw)
    return out


def core_adapter() -> tuple[str, Interpret]:
    """KnowledgeBase (gene engine + matcher) when it can be built, else matcher + minimal builder."""
    try:
        from service.pgx.knowledge import KnowledgeBase
        from service.pgx.results import GenotypeEntry

        kb = KnowledgeBase.from_directory(TABLES)
    except Exception as exc:  # the gene engine is not there (yet): say so and fall back
        from service.pgx.guidance import GuidanceMatcher
        from service.pgx.guidelines import load_guidelines

        matcher = GuidanceMatcher.from_guidelines(load_guidelines(TABLES / "guidelines"))

        def interpret_minimal(entries, drug):
            return [guidance_dict(g) for g in matcher.guidance([drug], minimal_results(entries))]

        return f"core (GuidanceMatcher + minimal result builder; KnowledgeBase unavailable: {exc!r})", \
            interpret_minimal

    def interpret_kb(entries, drug):
        results = [kb.interpret(GenotypeEntry(**e)) for e in entries]
        return [guidance_dict(g) for g in kb.guidance([drug], results)]

    return f"core (KnowledgeBase, release {kb.release})", interpret_kb


def http_adapter() -> tuple[str, Interpret]:
    """POST /v1/interpretations through create_app()'s Flask test client (SQLite in a temp dir)."""
    import atexit
    import shutil
    import tempfile

    from service import create_app
    from service.auth.clients import create_client
    from service.cli.db import upgrade
    from service.releases import load_release_directory_into

    tmp = tempfile.mkdtemp(prefix="pgx-conformance-")
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    url = f"sqlite:///{tmp}/pgx.sqlite3"
    upgrade(url)
    app = create_app({"PGX_DATABASE_URL": url, "TESTING": True, "PGX_RATELIMIT_DEFAULT": "1000000/minute"})
    with app.app_context():
        load_release_directory_into(app, TABLES)
        _client, key = create_client(app, "conformance", "pharmacy")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}

    def interpret(entries, drug):
        resp = client.post("/v1/interpretations", json={"genotypes": entries, "drugs": [drug]}, headers=headers)
        if resp.status_code != 200:
            return [{"drug": drug, "population": None, "status": f"http {resp.status_code}",
                     "direction": None, "classification": None, "message": resp.get_data(as_text=True)[:300]}]
        return resp.get_json()["drugs"]

    return f"http (POST /v1/interpretations, SQLite at {tmp})", interpret


ADAPTERS: dict[str, Callable[[], tuple[str, Interpret]]] = {"core": core_adapter, "http": http_adapter}


# -- comparison ----------------------------------------------------------------------------------


@dataclass
class Report:
    adapter: str
    total: int = 0
    agree: int = 0
    per_drug: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    deviations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def percent(self) -> float:
        return 100.0 * self.agree / self.total if self.total else 0.0

    @property
    def undocumented(self) -> list[dict[str, Any]]:
        return [d for d in self.deviations if not d["documented"]]

    @property
    def ok(self) -> bool:
        return self.percent >= GOAL and not self.undocumented


def load_exceptions() -> dict[tuple[str, str, str], dict[str, Any]]:
    if not EXCEPTIONS_FILE.exists():
        return {}
    doc = yaml.safe_load(EXCEPTIONS_FILE.read_text(encoding="utf-8")) or {}
    return {(e["recommendation_id"], e["drug"], e.get("population", "general")): e
            for e in doc.get("exceptions", [])}


def compare(shared: Path, adapter: str = "core") -> Report:
    label, interpret = ADAPTERS[adapter]()
    exceptions = load_exceptions()
    report = Report(label)
    with open(shared / "reference-data/cpic/recommendations.tsv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for row in rows:
        key = json.loads(row["lookup_key_json"])
        entries = [e for g, v in sorted(key.items()) if (e := entry_for(g, v))]
        population = row["population"] or "general"
        want_class = CLASSIFICATIONS[row["classification"]]
        want_none = expected_none(row)
        answers = interpret(entries, row["drug"])
        got = next((a for a in answers if a.get("population") == population), None)
        if got is None and len(answers) == 1 and answers[0].get("population") in (None, "general"):
            got = answers[0]
        problem = None
        if got is None:
            problem = f"no answer for population {population!r} (got {[a.get('population') for a in answers]})"
        elif got.get("classification") != want_class:
            problem = f"classification {got.get('classification')!r} != CPIC {want_class!r}"
        elif (got.get("direction") == "none") != want_none:
            problem = f"direction {got.get('direction')!r} but CPIC {'makes no' if want_none else 'makes a'} recommendation"
        report.total += 1
        report.per_drug[row["drug"]][1] += 1
        if problem is None:
            report.agree += 1
            report.per_drug[row["drug"]][0] += 1
            continue
        exc = exceptions.get((row["recommendation_id"], row["drug"], population))
        report.deviations.append({
            "recommendation_id": row["recommendation_id"], "drug": row["drug"], "population": population,
            "lookup_key": row["lookup_key"], "problem": problem, "status": got and got.get("status"),
            "message": got and got.get("message"), "documented": exc is not None,
            "reason": exc and exc.get("reason")})
    return report


def print_report(report: Report, verbose: bool = False) -> None:
    print(f"adapter: {report.adapter}")
    for drug in sorted(report.per_drug):
        ok, n = report.per_drug[drug]
        flag = "" if ok == n else "   <-- deviations"
        print(f"  {drug:<16} {ok:>4}/{n:<4} {100.0 * ok / n:6.1f}%{flag}")
    print(f"overall: {report.agree}/{report.total} rows agree = {report.percent:.2f}% (goal {GOAL}%)")
    documented = len(report.deviations) - len(report.undocumented)
    print(f"deviations: {len(report.deviations)} ({documented} documented in {EXCEPTIONS_FILE.relative_to(REPO)})")
    shown = report.deviations if verbose else report.undocumented[:40]
    for d in shown:
        tag = "documented" if d["documented"] else "UNDOCUMENTED"
        print(f"  [{tag}] {d['drug']} {d['population']} {d['lookup_key']} ({d['recommendation_id']}): "
              f"{d['problem']}" + (f" -- {d['reason']}" if d["reason"] else ""))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="CPIC recommendation conformance")
    ap.add_argument("--adapter", choices=sorted(ADAPTERS), default="core")
    ap.add_argument("--verbose", action="store_true", help="list documented deviations too")
    args = ap.parse_args(argv)
    shared = shared_dir()
    if not (shared / "reference-data/cpic/recommendations.tsv").is_file():
        print(f"skipped: {shared}/reference-data is absent (set PGX_SHARED_DIR); nothing to compare against")
        return 0
    report = compare(shared, args.adapter)
    print_report(report, args.verbose)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
