"""What changed between two knowledge releases, in a pharmacist's terms.

Pure: two release payloads (service.pgx.knowledge.load_release_directory's shape) in, a list of
`Change`s out, ordered gene by gene, then drug by drug. Each change names its item (an allele, a
phenotype rule, a recommendation by drug, population and lookup key) and the field that moved,
with the value before and after, so that a reviewer can decide whether to activate the release.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

# Recommendation fields that change what a prescriber is told, in the order they are reported.
RECOMMENDATION_FIELDS = ("classification", "direction", "dose_factor", "frequency", "alternatives",
                         "recommendation")
ALLELE_FIELDS = ("function", "activity_value", "synonyms")
# Gene-table keys read as a whole: the rule that turns alleles into a phenotype.
RULE_KEYS = ("method", "function_pairs", "activity_thresholds", "single_allele", "risk_alleles",
             "genotypes", "copy_number", "score_rule", "causative_function", "causative_phenotype",
             "indeterminate_phenotype", "rsid", "ref", "alt", "ploidy")


@dataclass(frozen=True)
class Change:
    scope: str  # gene | drug | medications | release
    subject: str  # the gene or drug
    kind: str  # added | removed | changed
    item: str  # what, within the subject: "allele *17", "recommendation (general; CYP2D6=1.0)"
    field: str | None = None
    before: Any = None
    after: Any = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        if self.kind == "changed":
            return f"{self.item}: {self.field} {_show(self.before)} -> {_show(self.after)}"
        return f"{self.item} {self.kind}"


def _show(v: Any) -> str:
    if v is None:
        return "(none)"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(map(str, v)) + "]" if v else "[]"
    return repr(v) if isinstance(v, str) else str(v)


def diff_releases(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    out: list[Change] = []
    om, nm = old.get("manifest") or {}, new.get("manifest") or {}
    for key in sorted(set(om) | set(nm)):
        if key in ("name", "version") and om.get(key) != nm.get(key):
            out.append(Change("release", "manifest", "changed", "release", key, om.get(key), nm.get(key)))
    out.extend(_genes(old.get("genes") or {}, new.get("genes") or {}))
    out.extend(_drugs(_recommendations(old), _recommendations(new)))
    out.extend(_medications(old.get("medications") or {}, new.get("medications") or {}))
    return out


def _genes(old: dict[str, Any], new: dict[str, Any]) -> Iterator[Change]:
    for gene in sorted(set(old) | set(new)):
        a, b = old.get(gene), new.get(gene)
        if a is None or b is None:
            yield Change("gene", gene, "added" if a is None else "removed", f"gene {gene}")
            continue
        alleles_a = {x["name"]: x for x in a.get("alleles") or ()}
        alleles_b = {x["name"]: x for x in b.get("alleles") or ()}
        for name in _ordered(alleles_a, alleles_b):
            x, y = alleles_a.get(name), alleles_b.get(name)
            if x is None or y is None:
                what = f"allele {name} ({(y or x).get('function')})"
                yield Change("gene", gene, "added" if x is None else "removed", what)
                continue
            for f in ALLELE_FIELDS:
                if x.get(f) != y.get(f):
                    yield Change("gene", gene, "changed", f"allele {name}", f, x.get(f), y.get(f))
        for key in RULE_KEYS:
            if a.get(key) != b.get(key):
                yield Change("gene", gene, "changed", "phenotype rule", key, a.get(key), b.get(key))
        ph_a = {p["name"]: p for p in a.get("phenotypes") or ()}
        ph_b = {p["name"]: p for p in b.get("phenotypes") or ()}
        for name in _ordered(ph_a, ph_b):
            x, y = ph_a.get(name), ph_b.get(name)
            if x is None or y is None:
                yield Change("gene", gene, "added" if x is None else "removed", f"phenotype {name}")
                continue
            for f in ("category", "ehr_priority"):
                if x.get(f) != y.get(f):
                    yield Change("gene", gene, "changed", f"phenotype {name}", f, x.get(f), y.get(f))


def _ordered(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return [*a, *(k for k in b if k not in a)]


def _key_text(lookup: dict[str, str]) -> str:
    return ", ".join(f"{g}={v}" for g, v in sorted(lookup.items()))


def _recommendations(payload: dict[str, Any]) -> dict[str, dict[tuple[str, str], dict[str, Any]]]:
    """drug -> (population, lookup key text) -> the recommendation, across every guideline."""
    by_drug: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    guidelines = payload.get("guidelines") or {}
    for doc in guidelines.values():
        org = doc.get("organization", "CPIC")
        for r in doc["recommendations"]:
            for drug in r["drugs"]:
                label = drug if org == "CPIC" else f"{drug} ({org})"
                by_drug.setdefault(label, {})[(r["population"], _key_text(r["lookup"]))] = r
    return by_drug


def _drugs(old: dict[str, Any], new: dict[str, Any]) -> Iterator[Change]:
    for drug in sorted(set(old) | set(new)):
        a, b = old.get(drug), new.get(drug)
        if a is None or b is None:
            yield Change("drug", drug, "added" if a is None else "removed",
                         f"guidance for {drug} ({len(b or a)} recommendations)")
            continue
        for key in _ordered(a, b):
            x, y = a.get(key), b.get(key)
            item = f"recommendation ({key[0]}; {key[1]})"
            if x is None or y is None:
                yield Change("drug", drug, "added" if x is None else "removed", item)
                continue
            for f in RECOMMENDATION_FIELDS:
                if x.get(f) != y.get(f):
                    yield Change("drug", drug, "changed", item, f, x.get(f), y.get(f))


def _medications(old: dict[str, Any], new: dict[str, Any]) -> Iterator[Change]:
    for gene in sorted(set(old.get("inhibitors") or {}) | set(new.get("inhibitors") or {})):
        a = (old.get("inhibitors") or {}).get(gene) or {}
        b = (new.get("inhibitors") or {}).get(gene) or {}
        for strength in ("strong", "moderate"):
            was, now = set(a.get(strength) or ()), set(b.get(strength) or ())
            for name in sorted(now - was):
                yield Change("medications", gene, "added", f"{strength} inhibitor {name}")
            for name in sorted(was - now):
                yield Change("medications", gene, "removed", f"{strength} inhibitor {name}")
    if (old.get("phenoconversion") or {}) != (new.get("phenoconversion") or {}):
        yield Change("medications", "phenoconversion", "changed", "phenoconversion rules", "rules",
                     old.get("phenoconversion"), new.get("phenoconversion"))


def render_text(changes: list[Change], old_label: str, new_label: str) -> str:
    if not changes:
        return f"{old_label} -> {new_label}: no changes\n"
    lines = [f"{old_label} -> {new_label}: {len(changes)} change{'s' if len(changes) != 1 else ''}"]
    current = None
    for c in changes:
        head = f"{c.scope} {c.subject}"
        if head != current:
            lines.append("")
            lines.append(head)
            current = head
        lines.append(f"  {c.text()}")
    return "\n".join(lines) + "\n"


__all__ = ["Change", "diff_releases", "render_text"]
