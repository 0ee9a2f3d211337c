"""Allele definition tables (reference_tables/alleles/*.yaml): schema, validation, loading.

One table per gene: the GRCh38 positions that define its named alleles (REF and ALTs as a VCF
writes them) and each allele's bases at those positions. The loaded payload is plain JSON-able
dicts (a knowledge release stores it); `GeneDefinition.from_table` builds the matcher's view.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from service.pgx.genes import TableError

# IUPAC codes a definition may use for one base (a "wobble": either base defines the allele).
IUPAC = {"A": "A", "C": "C", "G": "G", "T": "T", "R": "AG", "Y": "CT", "S": "GC", "W": "AT",
         "K": "GT", "M": "AC", "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT"}
_BASES = re.compile(r"^[ACGT]+$")


def _bases(value: str) -> None:
    if not (_BASES.match(value) or (len(value) == 1 and value in IUPAC)):
        raise ValidationError(f"'{value}' is neither a base sequence nor an IUPAC code")


class PositionSchema(Schema):
    pos = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    ref = fields.String(required=True, validate=_bases)
    alts = fields.List(fields.String(validate=_bases), required=True)
    rsid = fields.String()
    hgvs = fields.String()


class NamedAlleleSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1))
    bases = fields.Dict(keys=fields.Integer(), values=fields.String(validate=_bases), required=True,
                        validate=validate.Length(min=1))
    reference = fields.Boolean(load_default=False)


class PrioritySchema(Schema):
    candidates = fields.List(fields.String(), required=True, validate=validate.Length(min=2))
    pick = fields.String(required=True)


class SourceSchema(Schema):
    name = fields.String(required=True)
    version = fields.String(required=True)


class AlleleTableSchema(Schema):
    class Meta:
        unknown = RAISE

    gene = fields.String(required=True, validate=validate.Regexp(r"^[A-Z0-9]+$"))
    chromosome = fields.String(required=True, validate=validate.Regexp(r"^chr([0-9]{1,2}|X|Y|M)$"))
    build = fields.String(required=True, validate=validate.Equal("GRCh38"))
    source = fields.Nested(SourceSchema, required=True)
    positions = fields.List(fields.Nested(PositionSchema), required=True, validate=validate.Length(min=1))
    alleles = fields.List(fields.Nested(NamedAlleleSchema), required=True, validate=validate.Length(min=1))
    undocumented_as_reference = fields.Boolean(required=True)
    lowest_function = fields.Boolean(required=True)
    display_names = fields.Dict(keys=fields.String(), values=fields.String())
    required_positions = fields.List(fields.Integer())
    amp1_positions = fields.List(fields.Integer())
    extra_positions = fields.List(fields.Dict())
    ignored_positions = fields.List(fields.Integer())
    unphased_priorities = fields.List(fields.Nested(PrioritySchema))

    @validates_schema
    def _consistent(self, data: dict, **_: Any) -> None:
        known = {p["pos"]: p for p in data["positions"]}
        if len(known) != len(data["positions"]):
            raise ValidationError("a position is listed twice")
        refs = [a for a in data["alleles"] if a["reference"]]
        if len(refs) != 1:
            raise ValidationError(f"{len(refs)} reference alleles (exactly one expected)")
        if set(refs[0]["bases"]) != set(known):
            raise ValidationError(f"reference allele {refs[0]['name']} does not define every position")
        names = [a["name"] for a in data["alleles"]]
        if len(set(names)) != len(names):
            raise ValidationError("an allele name is listed twice")
        for a in data["alleles"]:
            for pos, base in a["bases"].items():
                if pos not in known:
                    raise ValidationError(f"allele {a['name']}: position {pos} is not a defining position")
                p = known[pos]
                if len(base) > 1 and base not in (p["ref"], *p["alts"]):
                    raise ValidationError(f"allele {a['name']}: '{base}' at {pos} is neither REF nor an ALT")
        for pos in data.get("required_positions", []):
            if pos not in known:
                raise ValidationError(f"required position {pos} is not a defining position")
        for rule in data.get("unphased_priorities", []):
            if rule["pick"] not in rule["candidates"]:
                raise ValidationError(f"priority pick {rule['pick']} is not among its candidates")


def load_allele_tables(directory: str | Path) -> dict[str, dict]:
    """All allele tables of a directory, validated; `{}` when the directory is absent."""
    root = Path(directory)
    out: dict[str, dict] = {}
    if not root.is_dir():
        return out
    for f in sorted(root.glob("*.yaml")):
        try:
            raw = yaml.safe_load(f.read_text())
            table = AlleleTableSchema().load(raw)
        except ValidationError as exc:
            raise TableError(f.name, "table", str(exc.messages)) from exc
        if table["gene"] != f.stem:
            raise TableError(f.name, "gene", f"file names {f.stem} but the table is {table['gene']}")
        # JSON keys must be strings (the release is stored as JSON); positions in order.
        for a in table["alleles"]:
            a["bases"] = {str(k): v for k, v in sorted(a["bases"].items())}
        table["positions"].sort(key=lambda p: p["pos"])
        out[table["gene"]] = table
    return out


@dataclasses.dataclass(frozen=True)
class Position:
    pos: int
    ref: str
    alts: tuple[str, ...]
    rsid: str | None
    hgvs: str | None


@dataclasses.dataclass(frozen=True)
class NamedAllele:
    name: str
    bases: dict[int, str]
    reference: bool


@dataclasses.dataclass(frozen=True)
class GeneDefinition:
    gene: str
    chromosome: str
    positions: tuple[Position, ...]
    alleles: tuple[NamedAllele, ...]
    undocumented_as_reference: bool
    lowest_function: bool
    display_names: dict[str, str]
    required_positions: frozenset[int]
    amp1_positions: frozenset[int]
    priorities: tuple[tuple[frozenset[str], str], ...]
    # per allele: (name, reference, {pos: accepted bases}, wobble positions), built once
    accepts: tuple[tuple[str, bool, dict[int, frozenset[str]], frozenset[int]], ...] = ()

    @classmethod
    def from_table(cls, t: dict) -> GeneDefinition:
        accepts = []
        for a in t["alleles"]:
            cells = {int(k): (frozenset(IUPAC[v]) if len(v) == 1 else frozenset((v,))) for k, v in a["bases"].items()}
            wobbles = frozenset(int(k) for k, v in a["bases"].items() if len(v) == 1 and len(IUPAC[v]) > 1)
            accepts.append((a["name"], bool(a.get("reference")), cells, wobbles))
        return cls(
            accepts=tuple(accepts),
            gene=t["gene"], chromosome=t["chromosome"],
            positions=tuple(Position(p["pos"], p["ref"], tuple(p["alts"]), p.get("rsid"), p.get("hgvs"))
                            for p in t["positions"]),
            alleles=tuple(NamedAllele(a["name"], {int(k): v for k, v in a["bases"].items()},
                                      bool(a.get("reference"))) for a in t["alleles"]),
            undocumented_as_reference=t["undocumented_as_reference"],
            lowest_function=t["lowest_function"],
            display_names=dict(t.get("display_names") or {}),
            required_positions=frozenset(t.get("required_positions") or ()),
            amp1_positions=frozenset(t.get("amp1_positions") or ()),
            priorities=tuple((frozenset(r["candidates"]), r["pick"]) for r in t.get("unphased_priorities") or ()),
        )

    @property
    def reference_allele(self) -> NamedAllele:
        return next(a for a in self.alleles if a.reference)
