"""Every CPIC / PharmCAT diplotype row must give CPIC's phenotype, score, EHR priority and spelling."""

from __future__ import annotations

import pytest
from script_modules import load_script

conformance = load_script("conformance_phenotypes")

SHARED = conformance.shared_dir()
needs_shared = pytest.mark.skipif(
    not (SHARED / "reference-data").is_dir(),
    reason=f"shared CPIC/PharmCAT reference data not found at {SHARED} (set PGX_SHARED_DIR)",
)


@needs_shared
def test_every_reference_row_agrees_or_is_a_documented_exception():
    tally, unexplained = conformance.run(SHARED)
    assert not unexplained, f"{len(unexplained)} disagreements, e.g.:\n" + "\n".join(unexplained[:20])
    # every gene the brief names is covered by reference rows
    for gene in ("CYP2B6", "CYP2C19", "CYP2C9", "CYP2D6", "CYP3A5", "CYP4F2", "DPYD", "NUDT15", "TPMT", "UGT1A1",
                 "SLCO1B1", "ABCG2", "NAT2", "VKORC1", "IFNL4", "HLA-A", "HLA-B", "G6PD", "MT-RNR1", "RYR1",
                 "CACNA1S", "CFTR"):
        assert tally[gene].rows > 0, gene


def test_exceptions_file_is_well_formed():
    for (gene, diplotype), e in conformance.load_exceptions().items():
        for key in ("expected", "ours", "reason", "source"):
            assert e.get(key), f"{gene} {diplotype}: exception needs '{key}'"
