"""Derive reference_tables/genes/<GENE>.yaml from the shared CPIC / PharmCAT reference data.

Dev tool, not part of the service. The YAML it writes is the reviewed product and is committed;
re-run it only to pick up a new data snapshot, then review the diff.

What it does per gene: take the allele facts (clinical function, activity value) from PharmCAT's
phenotype JSON (itself built from CPIC's allele function tables), then *learn the rule* from CPIC's
diplotype -> phenotype table (function pair -> phenotype, or activity score -> phenotype) and
refuse to write anything when a rule does not reproduce a row.  Rows no rule reproduces would go
into `overrides:` with a reason; so far none are needed.

    .venv/bin/python tools/build_gene_tables.py [--shared ../shared] [--out reference_tables/genes]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

CPIC_URL = "https://cpicpgx.org/guidelines/"
PHARMCAT_URL = "https://github.com/PharmGKB/PharmCAT"

# gene -> (method, where the phenotype truth comes from)
GENES: dict[str, dict] = {
    "CYP2B6": {"method": "function_pair", "truth": "cpic"},
    "CYP2C19": {"method": "function_pair", "truth": "cpic"},
    "CYP2C9": {"method": "activity_score", "truth": "cpic"},
    "CYP2D6": {"method": "activity_score", "truth": "cpic"},
    "CYP3A5": {"method": "function_pair", "truth": "cpic"},
    "CYP4F2": {"method": "function_pair", "truth": "cpic"},
    "DPYD": {"method": "activity_score", "truth": "cpic"},
    "NUDT15": {"method": "function_pair", "truth": "cpic"},
    "TPMT": {"method": "function_pair", "truth": "cpic"},
    "UGT1A1": {"method": "function_pair", "truth": "cpic"},
    "SLCO1B1": {"method": "function_pair", "truth": "pharmcat"},
    "ABCG2": {"method": "function_pair", "truth": "pharmcat"},
    "NAT2": {"method": "function_pair", "truth": "pharmcat"},
    "CFTR": {"method": "function_pair", "truth": "pharmcat"},
    "G6PD": {"method": "x_linked", "truth": "pharmcat"},
    "MT-RNR1": {"method": "single_allele", "truth": "pharmcat"},
    "RYR1": {"method": "any_causative", "truth": "pharmcat"},
    "CACNA1S": {"method": "any_causative", "truth": "pharmcat"},
    "VKORC1": {"method": "rsid_genotype", "truth": "cpic"},
    "IFNL4": {"method": "rsid_genotype", "truth": "cpic"},
    "CYP2C": {"method": "rsid_genotype", "truth": "cpic", "cpic_gene": "CYP2C cluster"},
    "HLA-A": {"method": "carrier_status", "truth": "cpic", "cpic_gene": "HLA"},
    "HLA-B": {"method": "carrier_status", "truth": "cpic", "cpic_gene": "HLA"},
}

CATEGORY = {
    "Ultrarapid Metabolizer": "fast", "Rapid Metabolizer": "fast", "Increased Function": "fast",
    "Normal Metabolizer": "normal", "Normal Function": "normal",
    "Intermediate Metabolizer": "slow", "Poor Metabolizer": "slow",
    "Likely Intermediate Metabolizer": "slow", "Likely Poor Metabolizer": "slow",
    "Possible Intermediate Metabolizer": "slow", "Decreased Function": "slow",
    "Possible Decreased Function": "slow", "Poor Function": "slow",
    "Reduced Function": "slow", "Low Function": "slow",
}
# Genes whose result is not a rate of metabolism or transport: category is always null.
NULL_CATEGORY_GENES = {"G6PD", "MT-RNR1", "RYR1", "CACNA1S", "HLA-A", "HLA-B", "CFTR", "VKORC1", "IFNL4",
                       "CYP2C"}

FUNCTION_RANK = ["Increased function", "Normal function", "Decreased function", "No function"]


# Spellings labs and older PharmCAT versions use (reviewed: each names exactly one CPIC allele).
EXTRA_SYNONYMS = {
    ("G6PD", "B (reference)"): ["B (wildtype)", "B (wild type)"],
    ("G6PD", "A"): ["A+"],  # c.376A>G alone: the non-deficient 'A+' of lab reports
    ("DPYD", "Reference"): ["*1"],  # DPYD*1 is the reference allele in the older star nomenclature
    # legacy intron name and protein names of the same DPYD variants (an rs number names a position,
    # not an allele, so it is not a synonym)
    ("DPYD", "c.1905+1G>A (*2A)"): ["IVS14+1G>A"],
    ("DPYD", "c.2846A>T"): ["p.D949V", "D949V", "p.Asp949Val"],
    ("DPYD", "c.1679T>G (*13)"): ["p.I560S", "I560S", "p.Ile560Ser"],
    # PharmCAT's outside-call spelling of UGT1A1's combination alleles
    ("UGT1A1", "*80+*28"): ["[*80+*28]"],
    ("UGT1A1", "*80+*37"): ["[*80+*37]"],
}

# Names labs use for several CPIC alleles. The engine reads one only when its alleles share function
# and activity value, and refuses it otherwise; the answer says what it was read as.
LAB_NAMES = {
    "G6PD": [{"name": "A-", "alleles": ["A- 202A_376G", "A- 680T_376G", "A- 968C_376G"],
              "reason": "labs report the African A- variant without naming which of CPIC's three A- alleles "
                        "(c.376A>G with c.202G>A, c.680G>T or c.968T>C) it is"}],
}


def read_tsv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def pharmcat_json(shared: Path, gene: str) -> dict | None:
    name = {"MT-RNR1": "MT_RNR1", "IFNL4": "IFNL3"}.get(gene, gene)
    p = shared / "reference-data/pharmcat/phenotype" / f"{name}.json"
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else None


def strip_gene(phenotype: str, cpic_gene: str) -> str:
    for prefix in (cpic_gene + " ", "CYP2C "):
        if phenotype.startswith(prefix):
            return phenotype[len(prefix):]
    return phenotype


def quarters(value: str) -> int:
    return round(float(value) * 4)


def fmt_q(q: int) -> str:
    return f"{q / 4:.1f}" if q % 2 == 0 else f"{q / 4:.2f}"


def synonyms_for(name: str, all_names: set[str]) -> list[str]:
    """Other spellings labs use: 'c.1905+1G>A (*2A)' -> 'c.1905+1G>A', '*2A'; G6PD 'A, B' -> 'A', 'B'."""
    out: list[str] = []
    m = re.fullmatch(r"(.+?) \(([^()]+)\)", name)
    if m:
        out += [m.group(1), m.group(2)]
    if ", " in name or "," in name:
        out += [p.strip() for p in name.split(",") if p.strip()]
    return [s for s in dict.fromkeys(out) if s not in all_names and s != name]


class Builder:
    def __init__(self, shared: Path):
        self.shared = shared
        rd = shared / "reference-data"
        self.cpic_rows = defaultdict(list)
        for r in read_tsv(rd / "cpic/diplotype_phenotype.tsv"):
            self.cpic_rows[r["gene"]].append(r)
        self.pc_rows = defaultdict(list)
        for r in read_tsv(rd / "pharmcat/diplotype_phenotype.tsv"):
            self.pc_rows[r["gene"]].append(r)
        self.manifest = {r["file"].split("/")[-1].removesuffix(".json"): r
                         for r in read_tsv(rd / "pharmcat/phenotype/_manifest.tsv")}
        readme = (rd / "README.md").read_text(encoding="utf-8")
        m = re.search(r"cpicpgx/cpic-data \| (\w+) \(release (v[\d.]+)\)", readme)
        self.cpic_release = m.group(2) if m else None

    # ---- sources -----------------------------------------------------------------------------
    def source(self, gene: str, truth: str) -> dict:
        pc_name = {"MT-RNR1": "MT_RNR1", "IFNL4": "IFNL3"}.get(gene, gene)
        man = self.manifest.get(pc_name)
        src = []
        if truth == "cpic":
            src.append({
                "name": f"CPIC {GENES[gene].get('cpic_gene', gene)} diplotype-phenotype table",
                "url": CPIC_URL,
                "version": "CPIC table as mirrored 2025-07..2025-12 (hhakimjavadichla/PGxBridge@ae08d5de)",
            })
        if man:
            src.append({
                "name": f"PharmCAT phenotype data {pc_name}.json (origin {man['origin']})",
                "url": PHARMCAT_URL,
                "version": f"data {man['data_version']}, commit {man['commit'][:12]}",
            })
        return {"primary": src[0], "also": src[1:]} if src else {}

    # ---- generic helpers ---------------------------------------------------------------------
    def truth_rows(self, gene: str, truth: str) -> list[tuple[str, str, str, str | None, str | None]]:
        """(allele1, allele2 or '', phenotype, activity score or None, ehr or None) per row."""
        out = []
        if truth == "cpic":
            cg = GENES[gene].get("cpic_gene", gene)
            for r in self.cpic_rows[cg]:
                if cg == "HLA":
                    if not r["diplotype"].startswith(gene + "*"):
                        continue
                    r = dict(r, phenotype=r["phenotype"].removeprefix(gene), diplotype=r["diplotype"])
                a, _, b = r["diplotype"].partition("/")
                score = None if r["activity_score"] in ("n/a", "") else r["activity_score"]
                ehr = None if r["ehr_priority_notation"].lower() in ("none", "") else r["ehr_priority_notation"]
                if ehr:  # CPIC's CYP2D6 file writes 'Normal/Routine/ Low Risk'; one spelling for all genes
                    ehr = ehr.replace("/ ", "/")
                out.append((a, b, strip_gene(r["phenotype"], cg), score, ehr))
        else:
            for r in self.pc_rows[gene]:
                a, b = r["allele1"], r["allele2"]
                if b and not r["diplotype"].startswith(a + "/"):  # allele columns are unordered
                    a, b = b, a
                assert r["diplotype"] == (f"{a}/{b}" if b else a), r["diplotype"]
                out.append((a, b, r["phenotype"], r["activity_score"] or None, None))
        return out

    def allele_facts(self, gene: str) -> list[dict]:
        pj = pharmcat_json(self.shared, gene)
        alleles = []
        if pj and pj.get("namedAlleles"):
            for a in pj["namedAlleles"]:
                e = {"name": a["name"], "function": a["functionValue"]}
                av = a.get("activityValue")
                if av not in (None, "", "n/a") and gene in ("CYP2D6", "CYP2C9", "DPYD"):
                    e["activity_value"] = av
                alleles.append(e)
            named = {a["name"] for a in alleles}
            alleles += [{"name": k, "function": v} for k, v in pj.get("haplotypes", {}).items() if k not in named]
        elif pj and pj.get("haplotypes"):
            alleles = [{"name": k, "function": v} for k, v in pj["haplotypes"].items()]
        return alleles

    @staticmethod
    def ordered(alleles: list[dict], rows) -> list[dict]:
        """Reorder alleles so that every truth row lists allele1 before allele2 (CPIC's canonical order).

        Stable topological sort: the source's own allele order breaks ties.
        """
        import heapq

        idx = {a["name"]: i for i, a in enumerate(alleles)}
        after: dict[str, set] = defaultdict(set)
        indeg = dict.fromkeys(idx, 0)
        for a, b, *_ in rows:
            if b and a != b and a in idx and b in idx and b not in after[a]:
                after[a].add(b)
                indeg[b] += 1
        heap = [(idx[n], n) for n, d in indeg.items() if d == 0]
        heapq.heapify(heap)
        out = []
        while heap:
            _, n = heapq.heappop(heap)
            out.append(n)
            for m in after[n]:
                indeg[m] -= 1
                if indeg[m] == 0:
                    heapq.heappush(heap, (idx[m], m))
        if len(out) != len(alleles):
            raise SystemExit(f"allele order in the table is not consistent: {sorted(set(idx) - set(out))[:5]}")
        by_name = {a["name"]: a for a in alleles}
        return [by_name[n] for n in out]

    # ---- methods -----------------------------------------------------------------------------
    def build(self, gene: str) -> dict:
        cfg = GENES[gene]
        method, truth = cfg["method"], cfg["truth"]
        rows = self.truth_rows(gene, truth)
        table: dict = {
            "gene": gene,
            "source": self.source(gene, truth),
            "method": method,
        }
        if gene == "IFNL4":
            table["aliases"] = ["IFNL3"]
        if gene == "CYP2C":
            table["aliases"] = ["CYP2C cluster"]
        fn = getattr(self, f"build_{method}")
        table.update(fn(gene, rows))
        table["phenotypes"] = self.phenotypes(gene, rows, table)
        if gene in LAB_NAMES:  # right after the alleles they name
            items = list(table.items())
            at = [k for k, _ in items].index("alleles") + 1
            table = dict(items[:at] + [("lab_names", LAB_NAMES[gene])] + items[at:])
        return table

    def phenotypes(self, gene: str, rows, table) -> list[dict]:
        ehr: dict[str, set] = defaultdict(set)
        for _, _, ph, _, e in rows:
            ehr[ph].add(e)
        out = []
        names = list(dict.fromkeys([ph for *_, ph, _, _ in [(r[0], r[1], r[2], r[3], r[4]) for r in rows]]))
        for extra in table.pop("_extra_phenotypes", []):
            if extra not in names:
                names.append(extra)
        for ph in names:
            e = ehr.get(ph, {None})
            if len(e) > 1:
                raise SystemExit(f"{gene}: EHR priority of {ph} differs between rows: {e}")
            cat = None if gene in NULL_CATEGORY_GENES else CATEGORY.get(ph)
            entry = {"name": ph, "category": cat, "ehr_priority": next(iter(e))}
            out.append(entry)
        return out

    def build_function_pair(self, gene: str, rows) -> dict:
        alleles = self.allele_facts(gene)
        if gene == "CYP4F2":
            # No PharmCAT phenotype file; CPIC's own table shows *2 only ever giving Indeterminate.
            alleles = [
                {"name": "*1", "function": "Normal function"},
                {"name": "*2", "function": "Uncertain function",
                 "note": "function not in PharmCAT data; every CPIC row with *2 is Indeterminate"},
                {"name": "*3", "function": "Decreased function"},
            ]
        func = {a["name"]: a["function"] for a in alleles}
        pairs: dict[tuple[str, str], str] = {}
        missing = sorted({x for a, b, *_ in rows for x in (a, b) if x not in func})
        if missing:
            raise SystemExit(f"{gene}: alleles without a function: {missing[:10]}")
        for a, b, ph, _, _ in rows:
            key = tuple(sorted((func[a], func[b])))
            if pairs.setdefault(key, ph) != ph:
                raise SystemExit(f"{gene}: function pair {key} gives {pairs[key]} and {ph} ({a}/{b})")
        alleles = self.ordered(alleles, rows)
        self.add_synonyms(alleles, gene)
        return {
            "ploidy": 2,
            "alleles": alleles,
            "function_pairs": [{"functions": list(k), "phenotype": v} for k, v in sorted(pairs.items())],
        }

    def build_any_causative(self, gene: str, rows) -> dict:
        out = self.build_function_pair(gene, rows)
        out["causative_function"] = "Malignant Hyperthermia associated"
        out["causative_phenotype"] = "Malignant Hyperthermia Susceptibility"
        return out

    def build_x_linked(self, gene: str, rows) -> dict:
        alleles = self.allele_facts(gene)
        func = {a["name"]: a["function"] for a in alleles}
        single: dict[str, str] = {}
        pairs: dict[tuple[str, str], str] = {}
        for a, b, ph, _, _ in rows:
            if not b:
                if single.setdefault(func[a], ph) != ph:
                    raise SystemExit(f"{gene}: single {a} disagrees")
                continue
            key = tuple(sorted((func[a], func[b])))
            if pairs.setdefault(key, ph) != ph:
                raise SystemExit(f"{gene}: function pair {key} gives {pairs[key]} and {ph} ({a}/{b})")
        alleles = self.ordered(alleles, rows)
        self.add_synonyms(alleles, gene)
        return {
            "ploidy": "X",
            "alleles": alleles,
            "single_allele": [{"function": k, "phenotype": v} for k, v in sorted(single.items())],
            "function_pairs": [{"functions": list(k), "phenotype": v} for k, v in sorted(pairs.items())],
        }

    def build_single_allele(self, gene: str, rows) -> dict:
        alleles = self.allele_facts(gene)
        func = {a["name"]: a["function"] for a in alleles}
        single: dict[str, str] = {}
        for a, b, ph, _, _ in rows:
            assert not b
            if single.setdefault(func[a], ph) != ph:
                raise SystemExit(f"{gene}: {a}")
        self.add_synonyms(alleles, gene)
        return {
            "ploidy": 1,
            "alleles": alleles,
            "single_allele": [{"function": k, "phenotype": v} for k, v in sorted(single.items())],
            # CONTRACT spells the phenotype in title case; recommendations are keyed on CPIC's lower case.
            "phenotype_display": {v: v[0].upper() + v[1:].replace("risk of aminoglycoside-induced hearing loss",
                                                                    "Risk of Aminoglycoside-Induced Hearing Loss")
                                  for v in single.values()},
        }

    def build_activity_score(self, gene: str, rows) -> dict:
        alleles = self.allele_facts(gene)
        base = [a for a in alleles if not re.search(r"x(\d+|≥\d+)$", a["name"])]
        copies = [a for a in alleles if re.search(r"x(\d+|≥\d+)$", a["name"])]
        value = {a["name"]: a.get("activity_value") for a in base}
        # copy-number forms must follow CPIC's rule "value x N" (N >= 3 written as a >= bin)
        listed_copies = []
        for c in copies:
            m = re.fullmatch(r"(.+)x(≥?)(\d+)", c["name"])
            b, ge, n = m.group(1), m.group(2), int(m.group(3))
            bv = value[b]
            want = None if bv is None else quarters(bv) * n
            got = c.get("activity_value")
            if (want is None) != (got is None) or (got is not None and quarters(got.lstrip("≥")) != want):
                raise SystemExit(f"{gene}: {c['name']} value {got} is not {b} x {n}")
            if ge and want and not got.startswith("≥"):
                raise SystemExit(f"{gene}: {c['name']} should be a ≥ bin")
            listed_copies.append(c["name"])
        # thresholds: score -> phenotype, learned from the rows
        by_score: dict[str, set] = defaultdict(set)
        for _, _, ph, sc, _ in rows:
            by_score[sc].add(ph)
        bins = {}
        for sc, phs in by_score.items():
            if len(phs) != 1:
                raise SystemExit(f"{gene}: score {sc} -> {phs}")
            if sc is not None:
                bins[quarters(sc.lstrip("≥"))] = next(iter(phs))
        thresholds = []
        for q in sorted(bins):
            ph = bins[q]
            if thresholds and thresholds[-1]["phenotype"] == ph:
                thresholds[-1]["max"] = fmt_q(q)
            else:
                thresholds.append({"min": fmt_q(q), "max": fmt_q(q), "phenotype": ph})
        thresholds[-1]["max"] = None  # open-ended
        base = self.ordered(base, rows)
        self.add_synonyms(base, gene)
        out = {
            "ploidy": 2,
            "alleles": base,
            "activity_thresholds": thresholds,
            "indeterminate_phenotype": next(iter(by_score.get(None, {"Indeterminate"}))),
        }
        if gene == "CYP2D6":
            out["copy_number"] = {
                "listed": listed_copies,
                "bin_from": 3,
                "unresolved_lookup_key": "xN combinations",
            }
        if gene == "DPYD":
            out["score_rule"] = "two_lowest"
        return out

    def build_rsid_genotype(self, gene: str, rows) -> dict:
        if gene == "VKORC1":
            rsid, ref, alt, alias = "rs9923231", "C", "T", {"name": "-1639", "ref": "G", "alt": "A"}
            names = {0: "Reference/Reference", 1: "Reference/rs9923231 (-1639G>A)",
                     2: "rs9923231 (-1639G>A)/rs9923231 (-1639G>A)"}
        elif gene == "IFNL4":
            rsid, ref, alt, alias = "rs12979860", "C", "T", None
            names = {0: "rs12979860 CC", 1: "rs12979860 CT", 2: "rs12979860 TT"}
        else:
            rsid, ref, alt, alias = "rs12777823", "G", "A", None
            names = {0: "rs12777823 GG", 1: "rs12777823 GA", 2: "rs12777823 AA"}
        by_diplo = {(a + ("/" + b if b else "")): ph for a, b, ph, _, _ in rows}
        genotypes = []
        for n_alt in (0, 1, 2):
            genotypes.append({"variant_copies": n_alt, "diplotype": names[n_alt],
                              "phenotype": by_diplo[names[n_alt]]})
        out = {"ploidy": 2, "rsid": rsid, "ref": ref, "alt": alt, "genotypes": genotypes}
        if alias:
            out["position_alias"] = alias
        return out

    def build_carrier_status(self, gene: str, rows) -> dict:
        risk = []
        for a, _, ph, _, _ in rows:
            m = re.fullmatch(r"(HLA-[AB])(\*\d+:\d+) (positive|negative)", a)
            if m and m.group(1) == gene:
                allele, status = m.group(2), m.group(3)
                entry = next((r for r in risk if r["allele"] == allele), None)
                if entry is None:
                    entry = {"allele": allele}
                    risk.append(entry)
                entry[status] = ph
        risk.sort(key=lambda r: r["allele"])
        return {"ploidy": 2, "risk_alleles": risk}

    def add_synonyms(self, alleles: list[dict], gene: str = "") -> None:
        names = {a["name"] for a in alleles}
        seen: dict[str, int] = defaultdict(int)
        cand = {a["name"]: synonyms_for(a["name"], names) for a in alleles}
        for syns in cand.values():
            for s in syns:
                seen[s] += 1
        for a in alleles:
            cand[a["name"]] += [s for s in EXTRA_SYNONYMS.get((gene, a["name"]), []) if s not in names]
            if a["name"].startswith("m.") and a["name"][2:] not in names:  # MT-RNR1 '1555A>G'
                cand[a["name"]].append(a["name"][2:])
        for a in alleles:
            syn = [s for s in cand[a["name"]] if seen[s] <= 1]  # ambiguous short names are not synonyms
            if syn:
                a["synonyms"] = syn


def dump(table: dict) -> str:
    """YAML with one line per allele / rule so that a review diff shows exactly what changed."""
    lines = ["# Generated by tools/build_gene_tables.py from the shared CPIC/PharmCAT data, then reviewed.",
             "# Facts only (allele function, activity value, phenotype rules); no CPIC prose."]

    def flow(v) -> str:
        if not isinstance(v, dict | list):
            return flow([v])[1:-1]
        return yaml.safe_dump(v, default_flow_style=True, allow_unicode=True, width=10_000, sort_keys=False).strip()

    for key, value in table.items():
        if key.startswith("_"):
            continue
        if isinstance(value, list) and value and isinstance(value[0], dict | str):
            lines.append(f"{key}:")
            for item in value:
                lines.append(f"  - {flow(item)}")
        elif isinstance(value, dict):
            lines.append(f"{key}:")
            for k, v in value.items():
                if isinstance(v, list) and v and isinstance(v[0], dict):
                    lines.append(f"  {k}:")
                    for item in v:
                        lines.append(f"    - {flow(item)}")
                else:
                    lines.append(f"  {flow({k: v})[1:-1]}")
        else:
            lines.append(flow({key: value})[1:-1])
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--out", type=Path, default=REPO / "reference_tables/genes")
    ap.add_argument("genes", nargs="*")
    args = ap.parse_args(argv)
    b = Builder(args.shared)
    args.out.mkdir(parents=True, exist_ok=True)
    for gene in args.genes or GENES:
        table = b.build(gene)
        text = dump(table)
        assert yaml.safe_load(text)["gene"] == gene
        (args.out / f"{gene}.yaml").write_text(text, encoding="utf-8")
        print(f"{gene}: {len(text.splitlines())} lines", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
