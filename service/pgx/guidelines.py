"""Load and validate the curated guideline tables (reference_tables/guidelines/*.yaml).

Each file is one CPIC guideline in our own format (see tools/build_guideline_tables.py and the
header comment of every file). ``load_guidelines`` refuses a broken file with a ``TableError``
naming the file, the entry and the reason, and returns plain JSON-serialisable dicts (they are
stored in the database as part of a knowledge release and must round-trip through JSON).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from service.pgx.genes import TableError  # one error type for every reference table

DIRECTIONS = ("standard", "decrease", "increase", "alternative", "caution", "none")
CLASSIFICATIONS = ("Strong", "Moderate", "Optional", "No Recommendation")
# dose_factor: the fraction of the usual dose given at EACH administration ("0.5", "0.25-0.5",
# "1.5-2": a multiple or a range of multiples). It says nothing about how often: where CPIC also
# changes the dosing interval, `frequency` says how often (TPMT poor metabolizer + thioguanine:
# dose_factor 0.1 and frequency "3 times a week" = a tenth of the daily dose, 3 days a week).
DOSE_FACTOR = r"^\d+(\.\d+)?(-\d+(\.\d+)?)?$"
# frequency, in one spelling: "once a day", "twice a week", "3 times a week", "every 48 hours".
FREQUENCY = r"^((once|twice|[3-9] times) a (day|week)|every \d+ (hours|days|weeks))$"

_text = fields.Str(required=True, validate=validate.Length(min=1))


class RecommendationSchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.Str(required=True, validate=validate.Regexp(r"^PA\d+$"))
    lookup = fields.Dict(keys=fields.Str(validate=validate.Length(min=1)),
                         values=fields.Str(validate=validate.Length(min=1)), required=True)
    drugs = fields.List(fields.Str(validate=validate.Length(min=1)), required=True,
                        validate=validate.Length(min=1))
    population = fields.Str(required=True, validate=validate.Length(min=1))
    classification = fields.Str(required=True, validate=validate.OneOf(CLASSIFICATIONS))
    direction = fields.Str(required=True, validate=validate.OneOf(DIRECTIONS))
    dose_factor = fields.Str(required=True, allow_none=True, validate=validate.Regexp(DOSE_FACTOR))
    # optional in the YAML (absent = null: the usual dosing interval)
    frequency = fields.Str(load_default=None, allow_none=True, validate=validate.Regexp(FREQUENCY))
    alternatives = fields.List(fields.Str(validate=validate.Length(min=1)), required=True)
    recommendation = fields.Str(required=True, validate=validate.Length(min=1, max=700))


class GuidelineSchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.Str(required=True, validate=validate.Regexp(r"^PA\d+$"))
    name = _text
    url = fields.Url(required=True)
    annotation_url = fields.Url(load_default=None, allow_none=True)
    version = fields.Str(required=True, validate=validate.Length(min=1))
    date = fields.Date(required=True)
    genes = fields.List(fields.Str(validate=validate.Length(min=1)), required=True,
                        validate=validate.Length(min=1))
    drugs = fields.List(fields.Str(validate=validate.Length(min=1)), required=True,
                        validate=validate.Length(min=1))
    # validated one by one below, so that an error can name the recommendation
    recommendations = fields.List(fields.Dict(), required=True, validate=validate.Length(min=1))


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_guideline_schema = GuidelineSchema()
_recommendation_schema = RecommendationSchema()


def _first_error(messages: Any) -> str:
    return json.dumps(messages, ensure_ascii=False, sort_keys=True)


def validate_guideline(raw: Any, file: str) -> dict[str, Any]:
    """One guideline document -> a validated JSON-able dict, or TableError."""
    if not isinstance(raw, dict):
        raise TableError(file, "guideline", "not a mapping (expected a guideline document)")
    try:
        doc = _guideline_schema.load(raw)
    except ValidationError as exc:
        raise TableError(file, f"guideline {raw.get('id', '?')}", _first_error(exc.messages)) from None
    doc["date"] = doc["date"].isoformat()
    genes, drugs = set(doc["genes"]), set(doc["drugs"])
    if len(genes) != len(doc["genes"]) or len(drugs) != len(doc["drugs"]):
        raise TableError(file, f"guideline {doc['id']}", "duplicate gene or drug in the guideline header")
    seen: dict[tuple, str] = {}
    recs = []
    for i, raw_rec in enumerate(doc["recommendations"]):
        entry = f"recommendation {raw_rec.get('id', '#' + str(i))}"
        try:
            rec = _recommendation_schema.load(raw_rec)
        except ValidationError as exc:
            raise TableError(file, entry, _first_error(exc.messages)) from None
        if set(rec["lookup"]) != genes:
            raise TableError(file, entry, f"lookup genes {sorted(rec['lookup'])} != guideline genes {sorted(genes)}")
        if not set(rec["drugs"]) <= drugs:
            raise TableError(file, entry, f"drugs {sorted(set(rec['drugs']) - drugs)} not in the guideline")
        if rec["classification"] == "No Recommendation" and rec["direction"] != "none":
            raise TableError(file, entry, "classification 'No Recommendation' needs direction 'none'")
        if rec["dose_factor"] is not None and rec["direction"] not in ("decrease", "increase", "alternative"):
            raise TableError(file, entry, f"dose_factor given for direction {rec['direction']!r}")
        if rec["frequency"] is not None and rec["direction"] not in ("decrease", "increase", "alternative"):
            raise TableError(file, entry, f"frequency given for direction {rec['direction']!r}")
        if rec["dose_factor"] is not None:
            low = float(rec["dose_factor"].split("-")[0])
            if rec["direction"] == "decrease" and low >= 1:
                raise TableError(file, entry, "a decrease needs a dose_factor below 1")
            if rec["direction"] == "increase" and low <= 1:
                raise TableError(file, entry, "an increase needs a dose_factor above 1")
        for drug in rec["drugs"]:
            key = (drug, rec["population"], tuple(sorted(rec["lookup"].items())))
            if key in seen:
                raise TableError(file, entry, f"same drug/population/lookup as {seen[key]}")
            seen[key] = rec["id"]
        recs.append(rec)
    doc["recommendations"] = recs
    return doc


def load_guidelines(directory: str | Path) -> dict[str, dict[str, Any]]:
    """Every ``*.yaml`` in ``directory`` -> {slug: validated guideline}; TableError on any fault."""
    root = Path(directory)
    if not root.is_dir():
        raise TableError(str(root), "directory", "guideline directory not found")
    out: dict[str, dict[str, Any]] = {}
    owner: dict[str, str] = {}
    for path in sorted(root.glob("*.yaml")):
        try:
            raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 (safe loader)  # nosec B506
        except yaml.YAMLError as exc:
            raise TableError(str(path), "file", f"not valid YAML: {exc}") from None
        doc = validate_guideline(raw, str(path))
        for drug in doc["drugs"]:
            if drug in owner:
                raise TableError(str(path), f"drug {drug}", f"drug already covered by {owner[drug]}")
            owner[drug] = path.name
        out[path.stem] = doc
    if not out:
        raise TableError(str(root), "directory", "no guideline files (*.yaml)")
    return out


__all__ = ["TableError", "load_guidelines", "validate_guideline"]
