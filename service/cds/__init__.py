"""CDS Hooks 2.0: the EHR calls these services while a clinician orders (see views.py)."""
