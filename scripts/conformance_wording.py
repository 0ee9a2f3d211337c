"""Does our wording keep every clinical specific of CPIC's recommendation? (issue 13, item 2)

For EVERY row of ``<shared>/reference-data/cpic/recommendations.tsv`` (2,054: recommendation x
drug), matched to our table row by recommendation id, the specifics a prescriber acts on are
extracted from CPIC's text and looked for in our ``recommendation``:

- figures: every percentage, fold change ("10-fold" = 10 % of the dose, so either is kept), "N to
  M times", mg, mg/day, mg/kg(/day), mg/m2(/day), concentrations (ng/mL, ug/mL), "1 in 20";
  with their comparator (<=, <, >, >=; "no more than 40 mg" = "<=40 mg") and ranges ("50% to
  80%" = "50-80%");
- frequency ("thrice weekly" = "3 times a week" = "3 days/week"; once weekly; divided doses) and
  durations ("4-6 weeks", "3 days", "three months" = "3 months", "> 12 weeks");
- conditions: malignant / non-malignant, drug-naive, prior use, indications (H. pylori, erosive
  oesophagitis, chronic therapy, pre-/postmenopausal, jaundice, ...), response / adverse-event
  conditions ("if no response", "in the absence of adverse events");
- monitoring: therapeutic drug monitoring (= TDM = drug levels / plasma concentration), close
  monitoring for toxicity, TPMT activity, steady state, hearing, anaemia, efficacy;
- verb strength: consider, avoid, contraindicated, not recommended, do not use, strongly
  recommended - and ours may not harden: "avoid" / "contraindicated" / "do not use" where CPIC
  says none of them is a finding.

CPIC's "Other Considerations" are mostly background; the parts a prescriber must see are listed in
MUST_SEE below (each with its reason) and checked like the main text.

CPIC's text is read from the shared reference data at run time and never written anywhere.

    .venv/bin/python scripts/conformance_wording.py [--tables DIR] [--verbose] [--limit N]

Prints the rows with every specific kept, the missing specifics by kind and by file, and each
missing one (first N). Exit 0 when nothing is missing outside PENDING (files another helper is
still reviewing), 1 otherwise; 0 with a message when the shared data is absent.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TABLES = REPO / "reference_tables" / "guidelines"

# Files whose review is still under way (their owner lands them); listed, never hidden: the counts
# include them. Empty = every table is held to the check.
PENDING: frozenset[str] = frozenset()

_NUM_WORDS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
              "eight": "8", "nine": "9", "ten": "10", "twelve": "12"}
_DASHES = "\u2013\u2014\u2212"


def shared_dir() -> Path:
    return Path(os.environ.get("PGX_SHARED_DIR", REPO.parent / "shared"))


def normalize(text: str) -> str:
    """One spelling for what may be written several ways, in CPIC's text and in ours alike."""
    t = text.replace("\u00a0", " ").replace("\u2009", " ").replace("μ", "u").replace("µ", "u")
    for d in _DASHES:
        t = t.replace(d, "-")
    t = re.sub(r"\s*\(PMIDs?:?[^)]*\)", "", t)
    t = re.sub(r"PMID:? ?\d+", "", t)
    t = re.sub(r"\b(" + "|".join(_NUM_WORDS) + r")\b", lambda m: _NUM_WORDS[m[1].lower()], t, flags=re.I)
    t = re.sub(r"(?i)\bthrice\b", "3 times", t)
    t = re.sub(r"(?i)\btwice\b", "2 times", t)
    t = re.sub(r"(?i)\b(no more than|not more than|at most|up to a maximum of|up to|maximum of)\s+(?=\d)", "≤", t)
    t = re.sub(r"(?i)\b(at least|no less than)\s+(?=\d)", "≥", t)
    t = re.sub(r"(?i)\b(less than|below|under)\s+(?=\d)", "<", t)
    t = re.sub(r"(?i)\b(more than|greater than|above|over|exceeding)\s+(?=\d)", ">", t)
    t = re.sub(r"(?i)\bmg per day\b", "mg/day", t)
    t = re.sub(r"(?i)mg/m\^?2|mg/m²", "mg/m2", t)
    t = re.sub(r"(?i)\b(\d+(?:\.\d+)?)\s*(mg|ug|ng|g)\b", r"\1 \2", t)  # "40mg" -> "40 mg"
    # ranges: "50% to 80%", "50%-80%", "0.6 - 2.4" -> "50-80%", "0.6-2.4"
    t = re.sub(r"(\d+(?:\.\d+)?)\s*%\s*(?:-|to)\s*(\d+(?:\.\d+)?)\s*%", r"\1-\2%", t)
    t = re.sub(r"(\d+(?:\.\d+)?)\s*(?:-|to)\s*(\d+(?:\.\d+)?)(?=\s*(?:%|mg|ug|ng|times|weeks?|days?|months?|hours?|h\b))",
               r"\1-\2", t)
    t = re.sub(r"([≤<>≥~])\s+(?=\d)", r"\1", t)
    return re.sub(r"\s+", " ", t)


@dataclass(frozen=True)
class Specific:
    kind: str  # figure, frequency, duration, condition, monitoring, verb
    label: str  # what is shown when it is missing
    accept: tuple[str, ...]  # regexes over OUR normalized text; any one keeps it


def _re_num(x: str) -> str:
    return re.escape(x).replace(r"\.", r"\.")


def _figures(t: str) -> list[Specific]:
    out: list[Specific] = []
    unit = r"(mg/kg/day|mg/m2/day|mg/kg|mg/m2|mg/day|mg|ug/mL|ng/mL)"
    for m in re.finditer(r"([≤<>≥~]?)(\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)?) ?" + unit + r"(?![a-z/])", t, re.I):
        comp, num, u = m[1].replace("~", ""), m[2], m[3].lower()
        units = {"mg": r"mg(/day)?", "mg/day": r"mg(/day| a day| daily)", "mg/kg": r"mg/kg(/day)?",
                 "mg/m2": r"mg/m2(/day)?"}.get(u, re.escape(u).replace("/day", "(/day| a day| daily| per day)"))
        comp_re = {"≤": "≤", "<": "<", ">": ">", "≥": "≥"}.get(comp, "[~≈]?")
        out.append(Specific("figure", f"{comp}{num} {u}", (rf"{comp_re}{_re_num(num)} ?{units}(?![\d])",)))
    for m in re.finditer(r"([≤<>≥]?)(\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)?)%( (?:reduction|less|lower))?", t, re.I):
        comp, num, red = m[1], m[2], m[3]
        pats = [rf"(?<![\d.]){re.escape(comp)}{_re_num(num)}%"]
        if red and "-" not in num:  # a 25 % reduction = 75 % of the dose (">50 % reduction" = "<50 %")
            inverse = {"": "", ">": "<", "<": ">", "≥": "≤", "≤": "≥"}[comp]
            pats.append(rf"(?<![\d.]){re.escape(inverse)}{100 - float(num):g}%")
        if red and "-" in num:
            lo, hi = (float(x) for x in num.split("-"))
            pats.append(rf"(?<![\d.]){100 - hi:g}-{100 - lo:g}%")
        out.append(Specific("figure", f"{comp}{num}%{red or ''}", tuple(pats)))
    for m in re.finditer(r"(\d+)-fold", t, re.I):
        n = int(m[1])
        pats = [rf"{n}-fold", rf"(?<![\d.]){100 / n:g}%"] + ([r"\b(1|one|a) tenth\b"] if n == 10 else [])
        out.append(Specific("figure", f"{n}-fold", tuple(pats)))
    for m in re.finditer(r"(\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)?) times (?!a week|weekly|a day|daily|per)", t, re.I):
        out.append(Specific("figure", f"{m[1]} times", (rf"{_re_num(m[1])} ?(times|x)",)))
    for m in re.finditer(r"\b(\d+) in (\d+)\b", t):
        out.append(Specific("figure", f"{m[1]} in {m[2]}", (rf"\b{m[1]} in {m[2]}\b",)))
    return out


def _frequency(t: str) -> list[Specific]:
    out = []
    if re.search(r"3 times weekly|3 times a week|3 days ?/ ?week|3 days a week", t, re.I):
        out.append(Specific("frequency", "3 times a week", (r"3 (times|days) (a|per|each) week|3 times weekly|3 days/week",)))
    if re.search(r"instead of daily", t, re.I):
        out.append(Specific("frequency", "instead of daily", (r"instead of (daily|every day)|not daily",)))
    if re.search(r"once weekly|once a week", t, re.I):
        out.append(Specific("frequency", "once weekly", (r"once (a )?week(ly)?",)))
    if re.search(r"single dose", t, re.I):
        out.append(Specific("frequency", "single dose", (r"single dose|one dose|once",)))
    if re.search(r"divided doses", t, re.I):
        out.append(Specific("frequency", "divided doses", (r"divided|split",)))
    return out


def _durations(t: str) -> list[Specific]:
    out = []
    for m in re.finditer(r"([<>≥≤~]?)(\d+(?:-\d+)?) ?(weeks?|days?|months?|hours?|h\b)", t, re.I):
        comp, num, u = m[1].replace("~", ""), m[2], m[3].lower()
        base = {"h": "hour"}.get(u, u.rstrip("s"))
        u_re = {"hour": r"(hours?|h\b)"}.get(base, rf"{base}s?")
        out.append(Specific("duration", f"{comp}{num} {base}s", (rf"{re.escape(comp)}{_re_num(num)} ?{u_re}",)))
    return out


# (pattern in CPIC's normalized main text, label, accepted in ours)
_CONDITIONS: list[tuple[str, str, str]] = [
    (r"non-?malignan", "non-malignant conditions", r"non-?malignan"),
    (r"(?<!non-)(?<!non)\bmalignan", "malignancy", r"(?<!non-)(?<!non)\bmalignan|cancer|leuka?emia"),
    (r"na[iï]ve", "drug-naive patients", r"na[iï]ve|never (taken|used|had)|not (taken|used)( \S+)? before|first use"),
    (r"previously used", "prior use without reaction", r"previous|prior|before|already (taken|used)|after .{0,40}months"),
    (r"h\. ?pylori", "H. pylori", r"h\. ?pylori"),
    (r"erosive esophagitis", "erosive oesophagitis", r"erosive o?esophagitis"),
    (r"chronic therapy", "chronic therapy", r"chronic"),
    (r"postmenopausal", "postmenopausal", r"post-?menopausal"),
    (r"premenopausal", "premenopausal", r"pre-?menopausal"),
    (r"ovarian function suppression", "ovarian function suppression", r"ovarian (function )?suppression"),
    (r"jaundice", "jaundice", r"jaundice"),
    (r"if no (clinical )?response|no clinical response|does not adequately respond|response is inadequate|"
     r"adequate efficacy is not achieved|if no response", "if no (adequate) response",
     r"no (clinical )?response|without (a )?response|not respond|inadequate|no (adequate )?effect|"
     r"not (adequately )?effective|efficacy is not|insufficient response|does not work"),
    (r"in the absence of adverse events", "no adverse events", r"no (adverse|side) (events|effects)|without (adverse|side)|tolerat"),
    (r"unacceptable side effects", "unacceptable side effects", r"side effects|adverse"),
    (r"if (a |the )?\S+ (is|are) warranted|is considered to be the most appropriate|if \S+ or \S+ are clinically appropriate|"
     r"if \S+ therapy is warranted|must be used|if (a )?(tca|tricyclic|tertiary amine) is warranted",
     "if the drug is still needed", r"if (it|(an? |the )?[\w-]+( [\w-]+){0,2}) (is|are|must be) (still )?(needed|used|warranted|chosen|required|judged|"
     r"clinically appropriate)|"
     r"if (it|\S+) must|if still (needed|used|chosen)|if used|if chosen|if (a )?\S+ is (prescribed|given)|if (an? )?\S+ is needed"),
    (r"if no contraindication", "if no contraindication", r"no contraindication|not contraindicated|unless contraindicated"),
    (r"thiopurines are required|if thiopurines", "if a thiopurine is needed", r"thiopurine is (needed|used|given|required)|if (a )?thiopurine"),
    (r"status is unknown", "gene status unknown", r"unknown|not (known|available|tested)|missing|incomplete"),
    (r"disease-specific", "disease-specific guidelines", r"disease-specific|disease guidelines"),
    (r"depending on other therapy", "depending on other therapy", r"other therapy|other (drugs|agents)"),
    (r"over other agents", "reduce this drug before other agents", r"(before|rather than|over) (the )?other (agents|drugs|myelosuppressive)"),
    (r"without any special emphasis", "no special emphasis on this drug", r"(alike|equally|no special emphasis|like the other)"),
    (r"lowest effective dosage for shortest duration", "lowest effective dose, shortest time",
     r"lowest effective dose.*shortest|shortest.*lowest effective"),
    (r"symptom improvement", "titrate to clinical response", r"clinical response|symptom|response"),
    (r"severity of infection", "unless infection severity outweighs", r"severity|severe infection|outweigh"),
    (r"shortest feasible course", "shortest feasible course", r"shortest"),
    (r"extraordinary circumstances", "except in extraordinary circumstances", r"extraordinary|extreme|exceptional"),
    (r"desired potency", "by the desired potency", r"potency"),
    (r"combination therapy", "combination therapy", r"combination|non-statin|adding"),
    (r"co-?medication|cyp2d6 inhibitors", "CYP2D6 inhibitors", r"cyp2d6 inhibitors"),
    (r"aromatase inhibitor", "aromatase inhibitor", r"aromatase inhibitor"),
    (r"granisetron", "granisetron", r"granisetron"),
    (r"prasugrel|ticagrelor", "prasugrel / ticagrelor", r"prasugrel.*ticagrelor|ticagrelor.*prasugrel"),
    (r"non-tramadol", "non-tramadol opioid", r"non-tramadol|not tramadol|other than (codeine and )?tramadol|tramadol"),
    (r"non-codeine", "non-codeine opioid", r"non-codeine|not codeine|other than codeine|codeine"),
    (r"loading dose", "usual loading dose first", r"loading"),
    (r"maintenance dos", "maintenance dose", r"maintenance"),
    (r"steady[- ]state dose", "steady-state dose", r"steady[- ]state"),
]

_MONITORING: list[tuple[str, str, str]] = [
    (r"therapeutic (drug|dose) monitoring|\btdm\b|therapeutic monitoring|therapuetic monitoring|plasma concentration|"
     r"trough concentration", "therapeutic drug monitoring",
     r"therapeutic drug monitoring|\btdm\b|drug levels?|plasma (level|concentration)|trough|blood levels?"),
    (r"monitor closely for toxicity|monitor closely", "monitor closely for toxicity", r"monitor.{0,30}(closely|toxicity)|close(ly)? monitor"),
    (r"tpmt (erythrocyte )?activity|erythrocyte tpmt activity", "measure TPMT activity", r"tpmt.{0,20}activity"),
    (r"enzyme activity", "measure enzyme activity", r"enzyme activity|activity test"),
    (r"steady[- ]state|steady state", "steady state", r"steady[- ]state"),
    (r"myelosuppression", "adjust to myelosuppression", r"myelosuppression|blood counts?"),
    (r"hearing loss", "hearing loss", r"hearing"),
    (r"anemia|hemolysis", "monitor for anaemia / haemolysis", r"an(a)?emia|ha?emoly"),
    (r"monitor for (continued )?efficacy", "monitor efficacy", r"monitor.{0,30}(efficacy|response|effect)"),
    (r"blood pressure", "blood pressure", r"blood pressure"),
    (r"kidney function|renal function", "kidney function", r"kidney|renal"),
    (r"peak plasma concentration|plasma concentration \d", "peak level timing", r"peak|after (a |the )?dos"),
    (r"clinical monitoring", "more clinical monitoring", r"monitor"),
    (r"skin reaction|cutaneous adverse reaction", "stop at the first skin reaction", r"skin|cutaneous|rash"),
    (r"myopathy", "myopathy risk", r"myopathy|muscle"),
    (r"family history", "clinical findings / family history", r"family history"),
    (r"inform the patient", "tell the patient", r"tell|inform"),
]

# Verb strength: (CPIC pattern, label, ours must match). "consider" also in "consideration".
_VERBS: list[tuple[str, str, str]] = [
    (r"\bconsider(?!ed to be)", "consider", r"\bconsider"),
    (r"(?<!need to )(?<!reason to )\bavoid\b", "avoid", r"\bavoid"),
    (r"(?<!relatively )contraindicated", "contraindicated", r"(?<!relatively )contraindicated"),
    (r"relatively contraindicated", "relatively contraindicated", r"relatively contraindicated"),
    (r"not recommended", "not recommended", r"not recommended"),
    (r"do not use|should not be used", "do not use",
     r"do not use|should not be used|not be used|don't use|only in (extraordinary|extreme|exceptional)"),
    (r"strongly recommended", "strongly recommended", r"strongly"),
]
# ours hardens CPIC: (label, instruction in ours, CPIC stem that licenses it)
_HARD = [("avoid", r"(^|[.;:(]\s*)avoid\b|should be avoided", r"\bavoid"),
         ("contraindicated", r"(?<!relatively )(?<!are )(?<!is )contraindicated", r"contraindicat"),
         ("do not use", r"do not use|don't use|never use", r"do not use|should not be used|contraindicated|avoid")]

# Parts of CPIC's "Other Considerations" a prescriber must see: (pattern, label, accepted, why), and
# optionally (drug regex, main-text regex) limiting where it applies.
MUST_SEE: list[tuple] = [
    (r"therapeutic drug monitoring if a tricyclic is prescribed .* is strongly recommended", "TDM strongly recommended (both genes altered)",
     r"therapeutic drug monitoring|\btdm\b|drug levels?", "two altered genes: the dose cannot be predicted"),
    (r"starting dose in this guideline refers to the recommended steady-state dose", "doses refer to the steady-state dose",
     r"steady[- ]state", "a reduction applies to the target dose, not a low initial dose"),
    (r"only apply to higher initial doses", "applies to depression-range doses", r"depression|higher (initial )?doses|neuropathic",
     "low-dose use (neuropathic pain) is not covered"),
    (r"dose reduction might not be recommended for intermediate", "below-normal usual dose: maybe no reduction",
     r"(already )?(below|lower than|<) (the )?(normal|usual|standard)|may not be needed|might not be needed|no reduction",
     "regimens whose usual dose is already low need no further cut", None, r"reduced (starting )?doses \(\d"),
    (r"increase the dose in patients experiencing no or clinically tolerable toxicity in the first 2 cycles",
     "re-titrate after the first 2 cycles", r"2 cycles", "a halved start must be raised again if tolerated"),
    (r"citalopram 20 mg/day is the maximum recommended dose", "citalopram: 20 mg/day maximum (QT)", r"20 mg",
     "FDA warning for CYP2C19 poor metabolizers", r"^citalopram$", None),
    (r"further dose reduction might be needed", "both intermediate: a further reduction may be needed",
     r"further (dose )?reduction|reduce further|lower still", "TPMT and NUDT15 both intermediate"),
    (r"falsely low at diagnosis of leukemia", "TPMT activity unreliable (leukaemia diagnosis, transfusion)",
     r"falsely low|transfusion", "a wrong activity result would mis-dose"),
    (r"doses above 120 mg/day have not been evaluated", ">120 mg/day not evaluated", r">120 mg", "dose ceiling"),
    (r"<25% of the normal starting dose", "<25% of the normal starting dose", r"<25%", "DPYD score 0.5 dose estimate"),
    (r"therapeutic drug monitoring should be done at the earliest time point", "TDM at the earliest time point",
     r"earliest|early", "stop at once if the level is too high"),
    (r"prasugrel is contraindicated in patients with a history of stroke", "prasugrel contraindicated after stroke/TIA",
     r"prasugrel.{0,60}(stroke|tia)", "neurovascular indication"),
    (r"g6pd enzyme activity ≥70%", "G6PD activity ≥70% for tafenoquine", r"≥70%", "safety established only above it"),
    (r"an enzyme activity test is needed", "heterozygous females: enzyme activity test", r"enzyme activity|activity test",
     "X-linked mosaicism: genotype alone cannot assign the phenotype"),
    (r"lowest possible dose and duration, utilization of therapeutic drug monitoring", "no alternative: TDM, hearing checks",
     r"therapeutic drug monitoring|\btdm\b|drug levels?", "if the aminoglycoside must be used"),
    (r"therapuetic monitoring should be considered", "consider TDM (phenotype not assigned)",
     r"therapeutic drug monitoring|\btdm\b|drug levels?", "nortriptyline, CYP2D6 indeterminate"),
    (r"meticulous tdm is critical", "meticulous TDM (rapid metabolizers)", r"\btdm\b|therapeutic drug monitoring|drug levels?",
     "voriconazole in children"),
    (r"an alternative antifungal agent is recommended", "children: an alternative antifungal", r"alternative|another antifungal",
     "voriconazole, paediatric rapid/ultrarapid"),
    (r"more than one pill", "reduced efavirenz dose may need more pills", r"pill|tablet", "adherence"),
    (r"close monitoring may be more important at higher", "closer monitoring at high / chronic doses",
     r"higher|chronic|longer", "nitrofurantoin"),
    (r"cyp2c9\*2 allele", "ibuprofen caution with CYP2C9*2 (CYP2C8*3)", r"cyp2c8|\*2", "ibuprofen", r"^ibuprofen$", None),
    (r"still at risk of aminoglycoside-associated hearing loss", "hearing risk remains without the variant",
     r"still|remains|any patient|all patients", "normal result is not a licence for long courses"),
    (r"avoid carbamazepine and oxcarbazepine|previous tolerance of \S+ is not indicative", "prior tolerance does not transfer",
     r"tolerance|tolerated|other aromatic|carbamazepine|oxcarbazepine", "aromatic anticonvulsant alternatives"),
]


def _applies(entry: tuple, drug: str, main: str) -> bool:
    drug_re, main_re = (entry[4:6] + (None, None))[:2]
    return (drug_re is None or re.search(drug_re, drug) is not None) and (
        main_re is None or re.search(main_re, main) is not None)


def specifics(cpic_text: str, drug: str = "") -> list[Specific]:
    """Every specific of one CPIC recommendation (main text, and MUST_SEE other considerations)."""
    parts = cpic_text.split(" / Other Considerations / ", 1)
    main = normalize(re.sub(r"^(?i:based( on)? (\w|-)+( status| genotype| phenotype)?, )", "", parts[0]))
    other = normalize(parts[1]) if len(parts) > 1 else ""
    low = main.lower()
    if re.match(r"(no recommendation|no action recommended|xn is not|n/a$)", low):
        return []
    out = _figures(main) + _frequency(main) + _durations(main)
    out += [Specific("condition", label, (acc,)) for pat, label, acc in _CONDITIONS if re.search(pat, low)]
    out += [Specific("monitoring", label, (acc,)) for pat, label, acc in _MONITORING if re.search(pat, low)]
    out += [Specific("verb", label, (acc,)) for pat, label, acc in _VERBS if re.search(pat, low)]
    out += [Specific("other considerations", e[1], (e[2],)) for e in MUST_SEE
            if re.search(e[0], other.lower()) and _applies(e, drug, low)]
    seen: dict[tuple[str, str], Specific] = {}
    for s in out:
        seen.setdefault((s.kind, s.label), s)
    return list(seen.values())


def missing_in(ours: str, cpic_text: str, drug: str = "") -> list[Specific]:
    """The specifics of CPIC's text our wording does not keep, and any verb ours hardens."""
    t = normalize(ours)
    gone = [s for s in specifics(cpic_text, drug) if not any(re.search(p, t, re.I) for p in s.accept)]
    main = normalize(cpic_text.split(" / Other Considerations / ")[0]).lower()
    for label, pat, licence in _HARD:
        if re.search(pat, t, re.I) and not re.search(licence, main):
            gone.append(Specific("verb", f"hardened: ours says '{label}', CPIC does not", ()))
    return gone


# -- the run -------------------------------------------------------------------------------------


@dataclass
class Report:
    rows: int = 0
    kept: int = 0  # rows with every specific kept
    specifics: int = 0
    missing: list[tuple[str, str, str, str, Specific]] = field(default_factory=list)  # file, id, drug, key, s

    def by(self, key) -> Counter:
        return Counter(key(m) for m in self.missing)

    @property
    def failing(self) -> list:
        return [m for m in self.missing if m[0] not in PENDING]


def our_rows(tables: Path) -> dict[str, tuple[str, str]]:
    out = {}
    for path in sorted(tables.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for rec in doc["recommendations"]:
            out[rec["id"]] = (path.stem, rec["recommendation"])
    return out


def compare(shared: Path, tables: Path = TABLES) -> Report:
    ours = our_rows(tables)
    report = Report()
    with open(shared / "reference-data/cpic/recommendations.tsv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            report.rows += 1
            file, text = ours.get(row["recommendation_id"], ("(no row)", ""))
            report.specifics += len(specifics(row["recommendation_text"], row["drug"]))
            gone = missing_in(text, row["recommendation_text"], row["drug"])
            report.missing += [(file, row["recommendation_id"], row["drug"], row["lookup_key"], s) for s in gone]
            report.kept += not gone
    return report


def print_report(report: Report, limit: int = 30) -> None:
    print(f"rows: {report.rows}; every specific kept: {report.kept}/{report.rows}; "
          f"specifics extracted: {report.specifics}; missing or hardened: {len(report.missing)}")
    print("missing by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(report.by(lambda m: m[4].kind).items())))
    files = report.by(lambda m: m[0])
    for file, n in sorted(files.items()):
        print(f"  {file:<60} {n:>5}{'  (pending review)' if file in PENDING else ''}")
    for file, rid, drug, key, s in report.failing[:limit]:
        print(f"  {file} {rid} {drug} {key}: {s.kind}: {s.label}")
    print(f"outside pending files: {len(report.failing)} missing; pending: {sorted(PENDING) or 'none'}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="CPIC specifics kept by our wording")
    ap.add_argument("--tables", type=Path, default=TABLES, help="guideline directory (another checkout's, say)")
    ap.add_argument("--limit", type=int, default=30, help="missing specifics to list")
    args = ap.parse_args(argv)
    shared = shared_dir()
    if not (shared / "reference-data/cpic/recommendations.tsv").is_file():
        print(f"skipped: {shared}/reference-data is absent (set PGX_SHARED_DIR); CPIC's text is read only from there")
        return 0
    report = compare(shared, args.tables)
    print_report(report, args.limit)
    return 0 if not report.failing else 1


if __name__ == "__main__":
    sys.exit(main())
