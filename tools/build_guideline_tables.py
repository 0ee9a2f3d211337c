"""Derive the curated guideline tables (reference_tables/guidelines/*.yaml) from CPIC's data.

Input: the CPIC recommendation lookup tables as flattened from PharmCAT v2.12 guideline annotations
(``<shared>/reference-data/cpic/recommendations.tsv``, data as of 2024-03-25), the guideline index
(``pharmcat/guidelines_v2.12.0/_guidelines.tsv``) and the CPIC pair list (for the cpicpgx.org URL).

Output: one YAML file per guideline in OUR format. The structured fields (lookup key, population,
classification) are carried over; the dose direction, dose factor, named alternatives and the
one-line recommendation are derived by the rules below and then reviewed by hand. CPIC's own
sentences are never copied: the wording is assembled from our templates; the guideline is cited.

The direction comes only from service/pgx/direction_rules.py (the one rule, checked against every
row by tests/pgx/test_direction_rules.py). Wording and dose factors the templates cannot settle are
fixed in OVERRIDES (keyed by guideline slug and a prefix of CPIC's text); each becomes a
``# judged:`` comment in the YAML so a reviewer sees where a human decided.

The committed tables have since been reviewed row by row against CPIC's text (issue 13: every
clinical specific kept, checked by scripts/conformance_wording.py). Re-running this tool would
overwrite that review: edit the YAML instead; the tool documents how the tables began.

    .venv/bin/python tools/build_guideline_tables.py [--shared DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from service.pgx.direction_rules import cpic_direction  # noqa: E402 (the one direction rule)

# Classification normalization: CPIC spells "No recommendation"; the annotation uses "N/A" for a
# few fluvastatin/rosuvastatin/phenytoin rows whose text is "n/a"/"No recommendation", and leaves
# it blank for the CYP2D6 "xN combinations" rows (unresolvable copy number). All three mean that
# CPIC makes no recommendation for that key, so all become "No Recommendation".
CLASSIFICATIONS = {"Strong": "Strong", "Moderate": "Moderate", "Optional": "Optional",
                   "No recommendation": "No Recommendation", "N/A": "No Recommendation",
                   "": "No Recommendation"}

# Drug names recognised as named alternatives inside CPIC's text.
EXTRA_ALTERNATIVES = ["prasugrel", "ticagrelor", "granisetron", "isavuconazole", "posaconazole",
                      "liposomal amphotericin B", "nortriptyline", "desipramine", "rosuvastatin"]

# (slug, text prefix) -> fields to force, plus the note that becomes a YAML comment.
OVERRIDES: list[tuple[str, str, dict]] = [
    ("tamoxifen_cyp2d6", "Avoid moderate and strong CYP2D6 inhibitors",
     {"note": "'Avoid' here is about co-medication (CYP2D6 inhibitors); tamoxifen itself is dosed as usual",
      "recommendation": "Use the usual tamoxifen dose (20 mg/day); avoid moderate or strong CYP2D6 "
                        "inhibitors as co-medication."}),
    ("tamoxifen_cyp2d6", "Consider hormonal therapy such as an aromatase inhibitor",
     {"alternatives": ["aromatase inhibitor"],
      "note": "primary advice is another hormonal therapy; a higher tamoxifen dose is only the fallback",
      "recommendation": "Prefer an aromatase inhibitor (with ovarian suppression if premenopausal); if that "
                        "is contraindicated, consider tamoxifen 40 mg/day."}),
    ("tamoxifen_cyp2d6", "Recommend alternative hormonal therapy",
     {"alternatives": ["aromatase inhibitor"],
      "recommendation": "Prefer an aromatase inhibitor (with ovarian suppression if premenopausal): little "
                        "active metabolite is formed from tamoxifen."}),
    ("atomoxetine_cyp2d6", "Initiate with a dose of 40 mg/day and increase to 80 mg/day",
     {"note": "usual adult titration (40 -> 80 mg/day after 3 days)",
      "recommendation": "Usual adult titration (40 mg/day, 80 mg/day after 3 days); if no response after "
                        "2 weeks, measure a peak level and raise the dose proportionally."}),
    ("atomoxetine_cyp2d6", "",
     {"match_regex": r"^Initiate with a dose of 0\.5 mg/kg(/day)? and increase to 1\.2",
      "note": "usual paediatric titration (0.5 -> 1.2 mg/kg/day after 3 days)",
      "recommendation": "Usual paediatric titration (0.5 mg/kg/day, 1.2 mg/kg/day after 3 days); if no "
                        "response after 2 weeks, measure a peak level and raise the dose proportionally."}),
    ("atomoxetine_cyp2d6", "Initiate with a dose of 40 mg/day and if no clinical response",
     {"note": "slower titration than usual: stay at 40 mg/day for 2 weeks",
      "recommendation": "Titrate more slowly than usual: start 40 mg/day and go to 80 mg/day only after 2 weeks "
                        "without response; guide further changes by plasma level."}),
    ("atomoxetine_cyp2d6", "Initiate with a dose of 0.5 mg/kg/day and if no clinical response",
     {"note": "slower titration than usual: stay at 0.5 mg/kg/day for 2 weeks",
      "recommendation": "Titrate more slowly than usual: stay at 0.5 mg/kg/day for 2 weeks and guide any "
                        "increase by plasma level; reduce if side effects occur."}),
    ("mercaptopurine_nudt15_tpmt", "For malignancy, initiate dose at 10 mg/m2/day",
     {"dose_factor": None,
      "note": "condition split (direction rule 3): the malignancy dose sets direction; non-malignant: consider a non-thiopurine",
      "recommendation": "Malignancy: start at 10 mg/m2/day; adjust to myelosuppression and disease-specific "
                        "guidelines, 4-6 weeks to steady state per change. Non-malignant conditions: consider a "
                        "non-thiopurine immunosuppressant instead."}),
    ("mercaptopurine_nudt15_tpmt", "For malignancy, start with drastically reduced doses",
     {"dose_factor": "0.1", "frequency": "3 times a week",
      "note": "condition split (direction rule 3): the malignancy dose sets direction; non-malignant: consider a non-thiopurine",
      "recommendation": "Malignancy: start at a tenth of the daily dose (10-fold lower), given 3 times a week "
                        "instead of daily; adjust to myelosuppression, 4-6 weeks to steady state per change. "
                        "Non-malignant conditions: consider a non-thiopurine immunosuppressant instead."}),
    ("azathioprine_nudt15_tpmt", "",
     {"match_regex": r"^for non-malignant conditions, consider alternative",
      "dose_factor": "0.1",
      "note": "condition split (direction rule 3): the malignancy dose sets direction; non-malignant: consider a non-thiopurine",
      "recommendation": "Malignancy: start at a tenth of the usual daily dose (10-fold lower; 3 times a week "
                        "instead of daily where CPIC says so, see `frequency`); adjust to myelosuppression, 4-6 "
                        "weeks to steady state per change. Non-malignant conditions: consider a non-thiopurine "
                        "immunosuppressant instead."}),
    ("desflurane_enflurane_halothane_isoflurane_methoxyflurane_sevoflurane_succinylcholine_cacna1s_ryr1", "",
     {"match_regex": r"(?i)relatively contraindicated", "note": "'relatively contraindicated ... should not be used except in extreme circumstances'",
      "alternatives": [],
      "recommendation": "Do not use halogenated volatile anaesthetics or succinylcholine except in extreme "
                        "circumstances; choose non-triggering anaesthesia."}),
    ("desflurane_enflurane_halothane_isoflurane_methoxyflurane_sevoflurane_succinylcholine_cacna1s_ryr1", "",
     {"match_regex": r"(?i)clinical findings, family history", "note": "uncertain susceptibility: no genotype-based dose advice; clinical assessment decides",
      "recommendation": "The genotype does not settle susceptibility: let clinical findings, family history "
                        "and further testing decide on triggering agents."}),
    ("carbamazepine_hla_a_hla_b", "If patient is carbamazepine-naïve and alternative agents are not",
     {"note": "only when no alternative exists: use with closer clinical monitoring",
      "recommendation": "If no alternative is available, carbamazepine may be used with more frequent "
                        "clinical monitoring; stop at the first sign of a skin reaction."}),
    ("sertraline_cyp2b6_cyp2c19", "Initiate therapy with recommended starting dose. Consider a slower",
     {"note": "usual start, but slower titration and a lower maintenance dose",
      "recommendation": "Use the usual starting dose, then titrate more slowly to a lower maintenance dose "
                        "than usual."}),
    ("citalopram_escitalopram_cyp2c19", "Initiate therapy with recommended starting dose. Consider a slower",
     {"note": "usual start, but slower titration and a lower maintenance dose",
      "recommendation": "Use the usual starting dose, then titrate more slowly to a lower maintenance dose "
                        "than usual."}),
    ("atazanavir_ugt1a1", "Consider an alternative agent particularly where jaundice",
     {"recommendation": "Consider another antiretroviral, especially if jaundice would matter to the patient: "
                        "stopping atazanavir for jaundice is likely."}),
    ("atazanavir_ugt1a1", "There is no need to avoid prescribing of atazanavir",
     {"recommendation": "Atazanavir can be used as usual; jaundice leading to discontinuation is unlikely "
                        "with this genotype."}),
]

def slug_for(file_name: str) -> str:
    stem = file_name.removeprefix("CPIC_").removesuffix(".json")
    return stem.replace("_and_", "_").lower()


def main_text(text: str) -> str:
    return text.split(" / Other Considerations")[0].strip()


def strip_based_on(text: str) -> str:
    return re.sub(r"^(based( on)? (\w|-)+( status| genotype| phenotype)?, )", "", text, flags=re.I)


def pct(x: float) -> str:
    return f"{x:g}"


def dose_factor(text: str) -> str | None:
    t = text
    rules = [
        (r"(\d+)%\s*(?:-|–|to)\s*(\d+)% of (?:the )?normal dose",
         lambda m: f"{pct(int(m[1]) / 100)}-{pct(int(m[2]) / 100)}"),
        (r"(\d+)\s*-\s*(\d+)% of the lowest", lambda m: f"{pct(int(m[1]) / 100)}-{pct(int(m[2]) / 100)}"),
        (r"(\d+)\s*-\s*(\d+)% lower starting dose",
         lambda m: f"{pct(1 - int(m[2]) / 100)}-{pct(1 - int(m[1]) / 100)}"),
        (r"starting doses? to (\d+)% of normal", lambda m: pct(int(m[1]) / 100)),
        (r"(\d+)% of the lowest", lambda m: pct(int(m[1]) / 100)),
        (r"initiate (\d+)% of starting", lambda m: pct(int(m[1]) / 100)),
        (r"10-fold", lambda m: "0.1"),
        (r"reduce starting dose by (\d+)%", lambda m: pct(1 - int(m[1]) / 100)),
        (r"(\d+)% reduction", lambda m: pct(1 - int(m[1]) / 100)),
        (r"approximately (\d+)% less than typical", lambda m: pct(1 - int(m[1]) / 100)),
        (r"increase starting dose (\d(?:\.\d)?) to (\d(?:\.\d)?) times", lambda m: f"{m[1]}-{m[2]}"),
        (r"increase starting daily dose by (\d+)%", lambda m: pct(1 + int(m[1]) / 100)),
    ]
    for pattern, fn in rules:
        m = re.search(pattern, t, re.I)
        if m:
            return fn(m)
    return None


def alternatives_in(text: str, drug_vocab: list[str], own: set[str]) -> list[str]:
    found: list[str] = []
    for sentence in re.split(r"(?<=[.;])\s+", text):
        if re.match(r"(?i)avoid ", sentence):
            continue
        for name in drug_vocab:
            if name in own or name in found:
                continue
            if re.search(rf"(?<![-\w]){re.escape(name)}\b", sentence, re.I) and not re.search(
                    rf"non-{re.escape(name)}", sentence, re.I):
                found.append(name)
    low = text.lower()
    return sorted(found, key=lambda name: low.find(name.lower()))  # in the order the text names them


def classify(text: str, classification: str) -> str:
    return cpic_direction(text, classification) or "UNDECIDED"


def fraction_words(factor: str) -> str:
    parts = [f"{round(float(p) * 100):g}%" for p in factor.split("-")]
    return "–".join(parts)


def reason(text: str, implications: str) -> str | None:
    # CPIC's own recommendation text first; implications only for unambiguous hazard words (they
    # often say "may affect response or side effects", which must not become a stated reason).
    blob = re.split(r"(?<=[.;])\s+", strip_based_on(main_text(text)).lower())[0]
    eff = re.search(r"lack of efficacy|sub-optimal response|diminished|reduced efficacy|non-responsive|"
                    r"lack of effect", blob)
    tox = re.search(r"toxicity|side effects|adverse|hypersensitivity|hearing loss|myopathy", blob)
    if not eff and not tox:
        tox = re.search(r"hypersensitivity|sjs|stevens|hearing loss|hemoly|haemoly|severe cutaneous|"
                        r"serious toxicity|life-threatening", implications.lower())
    if eff and not tox:
        return "it is likely to work poorly"
    if tox and not eff:
        return "the risk of serious adverse effects is raised"
    return None


def wording(direction: str, drug: str, text: str, implications: str, factor: str | None,
            alternatives: list[str], key: dict[str, str]) -> str:
    t = main_text(text)
    low = t.lower()
    tdm = " Use therapeutic drug monitoring." if "therapeutic drug monitoring" in low else ""
    if direction == "none":
        if any(v == "xN combinations" for v in key.values()):
            return ("No guidance: the CYP2D6 copy number (xN) is unresolved; resolve it to an exact count "
                    "to get an activity score.")
        if any(v in ("n/a", "Indeterminate") for v in key.values()) or "n/a" == low:
            return "No guidance: the phenotype could not be assigned from this genotype."
        return "CPIC makes no recommendation for this result; prescribe on clinical grounds."
    if direction == "standard":
        cap = re.search(r"no response and opioid use is warranted, consider (a )?(non-.*?opioid)", low)
        extra = f" Without response, consider a {cap[2]}." if cap else ""
        if "for chronic therapy" in low:
            extra += " Once chronic therapy (>12 weeks) works, consider halving the daily dose."
        if "h. pylori" in low:
            extra += " For H. pylori or erosive oesophagitis, consider 50-100% more."
        if "desired starting dose" in low:
            return f"Use the desired starting dose of {drug} and adjust by disease-specific guidance.{extra}"
        return f"Use the usual (label) dose of {drug}; no change is needed for this result.{extra}{tdm}"
    if direction == "caution":
        if "enzyme activity must be measured" in low:
            return "Measure G6PD enzyme activity and follow the guidance for the resulting phenotype."
        if "aware of possible increased risk" in low:
            return (f"Usual starting dose of {drug} is acceptable, but myopathy risk rises at higher "
                    "doses: watch for muscle symptoms.")
        if "tpmt" in low and re.search(r"could (not )?be assigned|not available|no \w+ genotype", low):
            return ("TPMT/NUDT15 status is incomplete: consider measuring TPMT enzyme activity, and "
                    "monitor closely for toxicity if a thiopurine is needed.")
        if "cautiously consider" in low:
            return (f"Prior use of {drug} for over 3 months without a skin reaction: it may be used again, "
                    "with care.")
        if "monitoring for anemia" in low:
            return f"Usual dose of {drug} with caution: monitor closely for anaemia (haemolysis)."
        return f"No dose change is stated; use {drug} with extra monitoring.{tdm}"
    if direction == "decrease":
        cap = re.search(r"prescribe ?([≤<]) ?(\d+) ?mg", t, re.I)
        if cap:
            if "higher potency is needed" in low:
                more = "a higher dose or another statin"
            elif "alternative statin" in low or "consider rosuvastatin" in low:
                more = "another statin or combination therapy"
            else:
                more = "combination therapy"
            return f"Start {drug} at no more than {cap[2]} mg/day; if more effect is needed, consider {more}."
        if factor:
            base = "the lowest usual starting dose" if "of the lowest" in low else "the usual starting dose"
            if "less than typical maintenance" in low:
                return (f"Give the usual loading dose, then maintenance at about {fraction_words(factor)} of "
                        "the typical dose; adjust by drug levels and response.")
            if "reduction of standard maintenance dose" in low:
                return (f"Start lower and titrate slowly, aiming for about {fraction_words(factor)} of the usual "
                        "maintenance dose.")
            if "lower maintenance dose" in low:
                return (f"Start lower ({fraction_words(factor)} of {base}), titrate slowly and aim for a "
                        "lower maintenance dose.")
            return f"Start at {fraction_words(factor)} of {base} and titrate to effect.{tdm}"
        if "decreased dose of" in low:
            m = re.search(r"decreased dose of ([\d ormg/day]+)", t)
            return f"Consider starting {drug} at a lower dose ({m[1].strip() if m else 'below 600 mg/day'})."
        if "lowest recommended starting dose" in low:
            return f"Start {drug} at the lowest usual starting dose and titrate up with care."
        return f"Use a lower starting dose and/or slower titration of {drug} than usual.{tdm}"
    if direction == "increase":
        if factor:
            return f"Start at {factor.replace('-', '–')} times the usual starting dose.{tdm}"
        return f"A higher dose than usual may be needed.{tdm}"
    if direction == "alternative":
        why = reason(text, implications)
        alt = f" (e.g. {', '.join(alternatives)})" if alternatives else ""
        other = "another statin suited to the needed potency" if "alternative statin" in low else \
            f"an alternative{alt}"
        s = f"Avoid {drug}" + (f": {why}" if why else "") + f"; prefer {other}."
        opioid = re.search(r"opioid use is warranted, consider (a )?(non-.*?opioid)", low)
        if opioid:
            s += f" If an opioid is needed, use a {opioid[2]}."
        if "avoid carbamazepine and oxcarbazepine" in low:
            s += " Carbamazepine and oxcarbazepine should be avoided too."
        if "strongly reduced dose" in low:
            s += " If no alternative is suitable, use a strongly reduced dose with early drug-level monitoring."
        elif factor and re.search(r"if .{0,50}(is|are) (warranted|clinically appropriate|required)|"
                                  r"in the event|consider a \d+", low):
            s += f" If it must be used, start at {fraction_words(factor)} of the usual starting dose."
        elif re.search(r"limit dose to ([<≤]\d+) ?mg", low):
            m = re.search(r"limit dose to ([<≤]\d+) ?mg", low)
            s += f" If it must be used, keep the dose {m[1]} mg/day."
        elif "higher target dose" in low:
            s += " If it must be used, a higher target dose guided by drug levels may be needed."
        elif "therapeutic drug monitoring" in low:
            s += " If it must be used, guide the dose by drug levels."
        return s
    return "UNDECIDED"


def yq(value) -> str:
    """A YAML scalar: JSON strings are valid YAML double-quoted scalars."""
    if value is None:
        return "null"
    return json.dumps(value, ensure_ascii=False)


def build(shared: Path, out: Path) -> dict[str, int]:
    ref = shared / "reference-data"
    with open(ref / "cpic/recommendations.tsv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    with open(ref / "pharmcat/guidelines_v2.12.0/_guidelines.tsv", newline="", encoding="utf-8") as f:
        index = {r["guideline_id"]: r for r in csv.DictReader(f, delimiter="\t")}
    with open(ref / "cpic/gene_drug_pairs.tsv", newline="", encoding="utf-8") as f:
        pairs = list(csv.DictReader(f, delimiter="\t"))
    cpic_url = {p["Drug"]: p["Guideline"] for p in pairs if p["Guideline"]}
    vocab = sorted({p["Drug"] for p in pairs} | set(EXTRA_ALTERNATIVES), key=lambda n: (-len(n), n))

    by_guideline: dict[str, dict[str, dict]] = defaultdict(dict)
    for r in rows:
        recs = by_guideline[r["guideline_id"]]
        rec = recs.setdefault(r["recommendation_id"], {"row": r, "drugs": []})
        rec["drugs"].append(r["drug"])

    out.mkdir(parents=True, exist_ok=True)
    stats = defaultdict(int)
    for gid, recs in sorted(by_guideline.items()):
        meta = index[gid]
        slug = slug_for(meta["file"])
        drugs = sorted({d for rec in recs.values() for d in rec["drugs"]})
        genes = meta["genes"].split(",")
        url = cpic_url.get(drugs[0], "")
        lines = [
            f"# CPIC guideline for {', '.join(drugs)} and {', '.join(genes)}: curated lookup table.",
            f"# Source: {meta['guideline_name']} (ClinPGx/PharmGKB annotation of the CPIC guideline,",
            f"# annotation version {meta['guideline_version']}, data as of {meta['data_version'][:10]}),",
            f"# {meta['url']} ; CPIC guideline page: {url or 'n/a'}",
            "# Generated by tools/build_guideline_tables.py from the structured fields, then reviewed.",
            "# `recommendation` is our own wording; read the guideline for the full text.",
            "# classification: CPIC's term; 'No recommendation', 'N/A' and blank (xN rows) -> No Recommendation.",
            "# direction: standard | decrease | increase | alternative | caution | none (CONTRACT.md); derived",
            "# from CPIC's wording by one rule, service/pgx/direction_rules.py (see reference_tables/README.md).",
            "# dose_factor: fraction of the usual dose given at each administration (starting dose unless the",
            "# wording says maintenance; for `alternative` rows: only if the drug must be used anyway).",
            "# frequency: how often, only where CPIC changes the dosing interval (\"3 times a week\");",
            "# absent = null = the usual interval. `# judged:` = decided by hand.",
            f"id: {yq(gid)}",
            f"name: {yq(meta['guideline_name'].removeprefix('Annotation of '))}",
            f"url: {yq(url or meta['url'])}",
            f"annotation_url: {yq(meta['url'])}",
            f"version: {yq(meta['guideline_version'])}",
            f"date: {yq(meta['data_version'][:10])}",
            f"genes: [{', '.join(yq(g) for g in genes)}]",
            f"drugs: [{', '.join(yq(d) for d in drugs)}]",
            "recommendations:",
        ]
        for rid, rec in sorted(recs.items(), key=lambda kv: (kv[1]["row"]["population"], kv[1]["row"]["lookup_key"])):
            r = rec["row"]
            key = json.loads(r["lookup_key_json"])
            classification = CLASSIFICATIONS[r["classification"]]
            text, impl = r["recommendation_text"], r["implications"]
            drug_label = rec["drugs"][0] if len(rec["drugs"]) == 1 else _group_label(rec["drugs"])
            direction = classify(text, classification)
            factor = dose_factor(main_text(text)) if direction in ("decrease", "increase", "alternative") else None
            alts = alternatives_in(main_text(text), vocab, set(drugs)) if direction == "alternative" else []
            # CPIC changes the interval only as "thrice weekly instead of daily" (TPMT poor metabolizers)
            frequency = "3 times a week" if re.search(r"(?i)thrice weekly", main_text(text)) else None
            rec_wording = None
            note = None
            for o_slug, prefix, fields in OVERRIDES:
                if o_slug != slug:
                    continue
                # matched on the text without a leading "Based on <gene> status, "
                mt = strip_based_on(main_text(text))
                hit = re.search(fields["match_regex"], mt, re.I) if "match_regex" in fields else \
                    mt.lower().startswith(prefix.lower())
                if hit:
                    factor = fields.get("dose_factor", factor)
                    frequency = fields.get("frequency", frequency)
                    alts = fields.get("alternatives", alts)
                    rec_wording = fields.get("recommendation")
                    note = fields.get("note", "direction set by hand")
                    stats["judged"] += 1
                    break
            if direction == "none":
                factor, alts = None, []
            if rec_wording is None:
                rec_wording = wording(direction, drug_label, text, impl, factor, alts, key)
            stats[direction] += 1
            population = r["population"] or "general"
            if note:
                lines.append(f"  # judged: {note}")
            if not r["population"]:
                lines.append("  # population blank in the source (xN row): general")
            lines += [
                f"  - id: {yq(rid)}",
                f"    lookup: {{{', '.join(f'{yq(g)}: {yq(v)}' for g, v in sorted(key.items()))}}}",
                f"    drugs: [{', '.join(yq(d) for d in sorted(rec['drugs']))}]",
                f"    population: {yq(population)}",
                f"    classification: {yq(classification)}",
                f"    direction: {direction}",
                f"    dose_factor: {yq(factor)}",
                *([f"    frequency: {yq(frequency)}"] if frequency else []),
                f"    alternatives: [{', '.join(yq(a) for a in alts)}]",
                f"    recommendation: {yq(rec_wording)}",
            ]
        (out / f"{slug}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        stats["files"] += 1
    return dict(stats)


def _group_label(drugs: list[str]) -> str:
    if "gentamicin" in drugs:
        return "aminoglycosides"
    if "sevoflurane" in drugs or "succinylcholine" in drugs:
        return "these anaesthetics"
    return "this drug"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("PGX_SHARED_DIR", str(REPO.parent / "shared")))
    ap.add_argument("--out", default=str(REPO / "reference_tables/guidelines"))
    args = ap.parse_args()
    print(build(Path(args.shared), Path(args.out)))


if __name__ == "__main__":
    main()
