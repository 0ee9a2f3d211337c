"""Gene tables (reference_tables/genes/*.yaml): schema, validation and loading.

A gene table holds facts (alleles with clinical function and activity value) and the rule that
turns two alleles into a phenotype. The loaded payload is plain JSON-able dicts because the
service stores it as a knowledge release; `PhenotypeEngine.from_gene_tables` consumes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from .notation import name_key, parse_activity_score

METHODS = ("activity_score", "function_pair", "carrier_status", "single_allele", "x_linked",
           "any_causative", "rsid_genotype")
CATEGORIES = ("fast", "normal", "slow")
EHR = ("Abnormal/Priority/High Risk", "Normal/Routine/Low Risk")


class TableError(ValueError):
    """A gene table that must not be used; the message names file, entry and reason."""

    def __init__(self, file: str, entry: str, reason: str):
        super().__init__(f"{file}: {entry}: {reason}")
        self.file, self.entry, self.reason = file, entry, reason


def _score_text(value: str) -> None:
    if not isinstance(parse_activity_score(value), tuple):
        raise ValidationError(f"'{value}' is not an activity value")


class SourceRefSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1))
    url = fields.Url(required=True)
    version = fields.String(required=True, validate=validate.Length(min=1))


class SourceSchema(Schema):
    primary = fields.Nested(SourceRefSchema, required=True)
    also = fields.List(fields.Nested(SourceRefSchema), load_default=list)


class AlleleSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1))
    function = fields.String(required=True, validate=validate.Length(min=1))
    activity_value = fields.String(validate=_score_text)
    synonyms = fields.List(fields.String(validate=validate.Length(min=1)))
    note = fields.String()


class LabNameSchema(Schema):
    """A name labs use for several CPIC alleles (G6PD 'A-'): read as one allele only when they all
    have the same function and activity value; otherwise refused, naming them."""

    name = fields.String(required=True, validate=validate.Length(min=1))
    alleles = fields.List(fields.String(), required=True, validate=validate.Length(min=2))
    synonyms = fields.List(fields.String(validate=validate.Length(min=1)), load_default=list)
    reason = fields.String(required=True, validate=validate.Length(min=10))


class PhenotypeSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1))
    category = fields.String(required=True, allow_none=True, validate=validate.OneOf(CATEGORIES))
    ehr_priority = fields.String(required=True, allow_none=True, validate=validate.OneOf(EHR))


class FunctionPairSchema(Schema):
    functions = fields.List(fields.String(), required=True, validate=validate.Length(equal=2))
    phenotype = fields.String(required=True)


class SingleAlleleRuleSchema(Schema):
    function = fields.String(required=True)
    phenotype = fields.String(required=True)


class ThresholdSchema(Schema):
    min = fields.String(required=True, validate=_score_text)
    max = fields.String(required=True, allow_none=True, validate=_score_text)
    phenotype = fields.String(required=True)


class CopyNumberSchema(Schema):
    listed = fields.List(fields.String(), required=True)
    bin_from = fields.Integer(required=True, validate=validate.Range(min=2))
    unresolved_lookup_key = fields.String(required=True)


class RiskAlleleSchema(Schema):
    allele = fields.String(required=True, validate=validate.Regexp(r"^\*\d{2,3}:\d{2,4}$"))
    positive = fields.String(required=True)
    negative = fields.String(required=True)


class GenotypeSchema(Schema):
    variant_copies = fields.Integer(required=True, validate=validate.OneOf((0, 1, 2)))
    diplotype = fields.String(required=True)
    phenotype = fields.String(required=True)


class PositionAliasSchema(Schema):
    name = fields.String(required=True)
    ref = fields.String(required=True, validate=validate.OneOf("ACGT"))
    alt = fields.String(required=True, validate=validate.OneOf("ACGT"))


class OverrideSchema(Schema):
    diplotype = fields.String(required=True)
    phenotype = fields.String(required=True)
    activity_score = fields.String(allow_none=True)
    reason = fields.String(required=True, validate=validate.Length(min=10))


class GeneTableSchema(Schema):
    """One gene table. Unknown keys are refused so that a typo cannot silently drop a rule."""

    class Meta:
        unknown = RAISE

    gene = fields.String(required=True, validate=validate.Regexp(r"^[A-Z0-9][A-Z0-9-]*$"))
    aliases = fields.List(fields.String(), load_default=list)
    source = fields.Nested(SourceSchema, required=True)
    method = fields.String(required=True, validate=validate.OneOf(METHODS))
    ploidy = fields.Raw(required=True, validate=validate.OneOf((1, 2, "X")))
    alleles = fields.List(fields.Nested(AlleleSchema), load_default=list)
    lab_names = fields.List(fields.Nested(LabNameSchema))
    function_pairs = fields.List(fields.Nested(FunctionPairSchema))
    single_allele = fields.List(fields.Nested(SingleAlleleRuleSchema))
    phenotype_display = fields.Dict(keys=fields.String(), values=fields.String())
    activity_thresholds = fields.List(fields.Nested(ThresholdSchema))
    indeterminate_phenotype = fields.String()
    copy_number = fields.Nested(CopyNumberSchema)
    score_rule = fields.String(validate=validate.OneOf(("sum", "two_lowest")))
    causative_function = fields.String()
    causative_phenotype = fields.String()
    risk_alleles = fields.List(fields.Nested(RiskAlleleSchema))
    rsid = fields.String(validate=validate.Regexp(r"^rs\d+$"))
    ref = fields.String(validate=validate.OneOf("ACGT"))
    alt = fields.String(validate=validate.OneOf("ACGT"))
    genotypes = fields.List(fields.Nested(GenotypeSchema))
    position_alias = fields.Nested(PositionAliasSchema)
    phenotypes = fields.List(fields.Nested(PhenotypeSchema), required=True, validate=validate.Length(min=1))
    overrides = fields.List(fields.Nested(OverrideSchema), load_default=list)

    REQUIRED_BY_METHOD = {
        "activity_score": ("alleles", "activity_thresholds"),
        "function_pair": ("alleles", "function_pairs"),
        "any_causative": ("alleles", "function_pairs", "causative_function", "causative_phenotype"),
        "x_linked": ("alleles", "function_pairs", "single_allele"),
        "single_allele": ("alleles", "single_allele"),
        "carrier_status": ("risk_alleles",),
        "rsid_genotype": ("rsid", "ref", "alt", "genotypes"),
    }

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_: Any) -> None:
        method = data["method"]
        for key in self.REQUIRED_BY_METHOD[method]:
            if not data.get(key):
                raise ValidationError(f"method {method} needs '{key}'", key)
        phenos = {p["name"] for p in data["phenotypes"]}
        if len(phenos) != len(data["phenotypes"]):
            raise ValidationError("phenotype listed twice", "phenotypes")
        names: dict[str, str] = {}
        for i, a in enumerate(data.get("alleles", [])):
            for n in [a["name"], *a.get("synonyms", [])]:
                if n in names:
                    raise ValidationError(f"allele {i} '{a['name']}': name '{n}' already used by "
                                          f"'{names[n]}'", "alleles")
                names[n] = a["name"]
            if method == "activity_score" and "activity_value" not in a and a["function"] in (
                "Normal function", "Decreased function", "No function", "Increased function"
            ):
                raise ValidationError(f"allele '{a['name']}' ({a['function']}) has no activity value", "alleles")
        keys = {name_key(n): a for n, a in names.items()}
        for i, ln in enumerate(data.get("lab_names") or []):
            for n in ln["alleles"]:
                if n not in names or names[n] != n:
                    raise ValidationError(f"lab_names[{i}] '{ln['name']}': '{n}' is not an allele", "lab_names")
            for n in [ln["name"], *ln["synonyms"]]:
                if name_key(n) in keys:
                    raise ValidationError(f"lab_names[{i}]: '{n}' is already a spelling of '{keys[name_key(n)]}'",
                                          "lab_names")
                keys[name_key(n)] = ln["name"]
        functions = {a["function"] for a in data.get("alleles", [])}

        def need_pheno(ph: str, where: str) -> None:
            if ph not in phenos:
                raise ValidationError(f"{where}: phenotype '{ph}' is not in phenotypes", where)

        for i, fp in enumerate(data.get("function_pairs") or []):
            for f in fp["functions"]:
                if f not in functions:
                    raise ValidationError(f"function_pairs[{i}]: no allele has function '{f}'", "function_pairs")
            need_pheno(fp["phenotype"], f"function_pairs[{i}]")
        for i, r in enumerate(data.get("single_allele") or []):
            need_pheno(r["phenotype"], f"single_allele[{i}]")
        for i, t in enumerate(data.get("activity_thresholds") or []):
            need_pheno(t["phenotype"], f"activity_thresholds[{i}]")
        for i, r in enumerate(data.get("risk_alleles") or []):
            need_pheno(r["positive"], f"risk_alleles[{i}]")
            need_pheno(r["negative"], f"risk_alleles[{i}]")
        for i, g in enumerate(data.get("genotypes") or []):
            need_pheno(g["phenotype"], f"genotypes[{i}]")
        if data.get("causative_phenotype"):
            need_pheno(data["causative_phenotype"], "causative_phenotype")
        for i, o in enumerate(data.get("overrides") or []):
            need_pheno(o["phenotype"], f"overrides[{i}]")
        lows = [parse_activity_score(t["min"]) for t in data.get("activity_thresholds") or []]
        if lows != sorted(lows):
            raise ValidationError("thresholds are not in ascending order", "activity_thresholds")


_SCHEMA = GeneTableSchema()


def _first_error(messages: Any, path: str = "") -> tuple[str, str]:
    """marshmallow's nested error dict -> ('alleles[3].activity_value', 'reason')."""
    if isinstance(messages, dict):
        key, val = next(iter(messages.items()))
        sub = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))
        if key == "_schema":
            sub = path or "table"
        return _first_error(val, sub)
    if isinstance(messages, list) and messages:
        if all(isinstance(m, str) for m in messages):
            return path or "table", "; ".join(messages)
        return _first_error(messages[0], path)
    return path or "table", str(messages)


def validate_gene_table(raw: Any, file: str = "<table>") -> dict[str, Any]:
    """Validate one table dict; returns the cleaned, JSON-round-trippable dict or raises TableError."""
    if not isinstance(raw, dict):
        raise TableError(file, "table", "not a mapping")
    try:
        data = _SCHEMA.load(raw)
    except ValidationError as e:
        entry, reason = _first_error(e.messages)
        raise TableError(file, entry, reason) from None
    clean = json.loads(json.dumps(data, ensure_ascii=False))
    if clean != data:  # pragma: no cover - fields above only produce JSON types
        raise TableError(file, "table", "does not round-trip through JSON")
    return clean


def load_gene_tables(directory: str | Path) -> dict[str, dict[str, Any]]:
    """Read and validate every *.yaml in `directory`; {gene symbol: table}. Refuses duplicates."""
    directory = Path(directory)
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise TableError(str(directory), "directory", "no *.yaml gene tables found")
    tables: dict[str, dict[str, Any]] = {}
    for path in files:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise TableError(path.name, "yaml", str(e).replace("\n", " ")) from None
        table = validate_gene_table(raw, path.name)
        if table["gene"] in tables:
            raise TableError(path.name, "gene", f"{table['gene']} is defined twice")
        tables[table["gene"]] = table
    return tables


__all__ = ["GeneTableSchema", "TableError", "load_gene_tables", "validate_gene_table"]
