"""FHIR R4 Genomics Reporting (IG STU3) <-> our domain results; pure: no Flask, no database.

`genotypes` reads Bundles of Genotype Observations and medication resources into gene entries
and drug names; `report` builds the Genomic Report Bundle from an interpretation answer;
`errors` holds the typed refusals (each naming resource and element) and the OperationOutcome.
"""
