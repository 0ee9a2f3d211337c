"""Diplotypes from a lab's GRCh38 VCF: read the allele-defining positions, match named alleles
the way PharmCAT's named-allele matcher does (pure; no Flask, no database)."""
