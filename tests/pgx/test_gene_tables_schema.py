"""Gene tables: the committed YAML validates, round-trips through JSON, and broken tables are refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from service.pgx.genes import TableError, load_gene_tables, validate_gene_table

GENES_DIR = Path(__file__).resolve().parents[2] / "reference_tables/genes"
BRIEF_GENES = {"CYP2B6", "CYP2C19", "CYP2C9", "CYP2D6", "CYP3A5", "CYP4F2", "DPYD", "NUDT15", "TPMT", "UGT1A1",
               "SLCO1B1", "ABCG2", "NAT2", "VKORC1", "IFNL4", "HLA-A", "HLA-B", "G6PD", "MT-RNR1", "RYR1",
               "CACNA1S", "CFTR"}


@pytest.fixture(scope="module")
def tables():
    return load_gene_tables(GENES_DIR)


def test_all_genes_present_and_json_round_trip(tables):
    assert BRIEF_GENES <= set(tables)
    assert json.loads(json.dumps(tables, ensure_ascii=False)) == tables


def test_every_table_names_its_source(tables):
    for gene, t in tables.items():
        assert t["source"]["primary"]["url"].startswith("https://"), gene
        assert t["source"]["primary"]["version"], gene


def _cyp2c19():
    return yaml.safe_load((GENES_DIR / "CYP2C19.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("mutate", "entry", "reason"),
    [
        (lambda t: t["alleles"][1].pop("function"), "alleles[1].function", "required"),
        (lambda t: t["function_pairs"][0].update(phenotype="Fast Metabolizer"), "function_pairs[0]",
         "not in phenotypes"),
        (lambda t: t["function_pairs"][0].update(functions=["Normal function", "Magic function"]),
         "function_pairs", "Magic function"),
        (lambda t: t["alleles"].append({"name": "*2", "function": "No function"}), "alleles", "already used"),
        (lambda t: t.update(method="guesswork"), "method", "Must be one of"),
        (lambda t: t.update(colour="blue"), "colour", "Unknown field"),
        (lambda t: t["phenotypes"][0].update(category="speedy"), "phenotypes[0].category", "Must be one of"),
        (lambda t: t.pop("function_pairs"), "function_pairs", "needs 'function_pairs'"),
    ],
)
def test_broken_table_is_refused_naming_file_entry_and_reason(mutate, entry, reason):
    t = _cyp2c19()
    mutate(t)
    with pytest.raises(TableError) as err:
        validate_gene_table(t, "CYP2C19.yaml")
    msg = str(err.value)
    assert msg.startswith("CYP2C19.yaml: "), msg
    assert entry in msg and reason in msg, msg


def test_bad_activity_value_refused():
    t = yaml.safe_load((GENES_DIR / "CYP2D6.yaml").read_text(encoding="utf-8"))
    t = copy.deepcopy(t)
    t["alleles"][0]["activity_value"] = "lots"
    with pytest.raises(TableError, match=r"CYP2D6.yaml: alleles\[0\].activity_value: 'lots' is not an activity"):
        validate_gene_table(t, "CYP2D6.yaml")


def test_directory_errors(tmp_path):
    with pytest.raises(TableError, match="no \\*.yaml"):
        load_gene_tables(tmp_path)
    (tmp_path / "X.yaml").write_text("gene: [unclosed", encoding="utf-8")
    with pytest.raises(TableError, match="X.yaml: yaml"):
        load_gene_tables(tmp_path)
    (tmp_path / "X.yaml").write_text(yaml.safe_dump(_cyp2c19()), encoding="utf-8")
    (tmp_path / "Y.yaml").write_text(yaml.safe_dump(_cyp2c19()), encoding="utf-8")
    with pytest.raises(TableError, match="Y.yaml: gene: CYP2C19 is defined twice"):
        load_gene_tables(tmp_path)
