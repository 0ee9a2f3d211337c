"""Our wording keeps every clinical specific of CPIC's recommendation (scripts/conformance_wording.py;
the comparison against CPIC's text is skipped, saying why, without ../shared)."""

from __future__ import annotations

import pytest
from script_modules import load_script

cw = load_script("conformance_wording")


def test_every_cpic_row_keeps_its_specifics(shared_dir):
    report = cw.compare(shared_dir)
    assert report.rows == 2054
    assert report.specifics > 5000  # the extractor finds something to check in nearly every row
    missing = [f"{f} {rid} {drug} {key}: {s.kind}: {s.label}" for f, rid, drug, key, s in report.failing]
    assert not missing, "\n".join(missing[:40])


def test_no_table_is_exempt():
    """Every table has been reviewed: none is left out of the check."""
    assert cw.PENDING == frozenset()


def test_skips_cleanly_without_shared_data(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PGX_SHARED_DIR", str(tmp_path / "absent"))
    assert cw.main([]) == 0
    assert "skipped" in capsys.readouterr().out


def kept(ours: str, cpic: str) -> bool:
    return not cw.missing_in(ours, cpic)


@pytest.mark.parametrize(("cpic", "ours"), [
    ("Reduce the daily dose by 10-fold.", "Give 10% of the daily dose."),
    ("Reduce the daily dose by 10-fold.", "Give one tenth of the daily dose."),
    ("Dose thrice weekly instead of daily.", "Give it 3 times a week instead of daily."),
    ("Dose thrice weekly instead of daily.", "Give it three times weekly, not daily."),
    ("Start with 50% to 80% of normal dose.", "Start at 50-80% of the usual dose."),
    ("Consider a 25% reduction of recommended starting dose.", "Consider 75% of the usual starting dose."),
    ("Prescribe ≤20mg as a starting dose.", "Start at no more than 20 mg."),
    ("Allow 4-6 weeks to reach steady-state after each dose adjustment.",
     "Wait 4–6 weeks for steady state after each change."),
    ("Cases usually occur within three months of dosing.", "Cases usually start within 3 months."),
])
def test_equivalent_spellings_count_as_kept(cpic, ours):
    assert kept(ours, cpic), [s.label for s in cw.missing_in(ours, cpic)]


@pytest.mark.parametrize(("cpic", "ours", "label"), [
    ("Reduce the daily dose by 10-fold and dose thrice weekly instead of daily.",
     "Start at 10% of the usual starting dose.", "3 times a week"),
    ("Reduce the daily dose by 10-fold.", "Reduce the daily dose.", "10-fold"),
    ("Use the usual dose. Use therapeutic drug monitoring to guide dose adjustments.",
     "Use the usual dose.", "therapeutic drug monitoring"),
    ("For non-malignant conditions, consider alternative non-thiopurine therapy.",
     "Use a non-thiopurine drug.", "non-malignant conditions"),
    ("Consider an alternative agent.", "Avoid this drug; use an alternative.", "consider"),
    ("Consider an alternative agent.", "Avoid this drug; consider an alternative.", "hardened: ours says 'avoid', CPIC does not"),
    ("Start with reduced doses if normal starting dose is 2-3 mg/kg/day.", "Start with reduced doses.", "2-3 mg/kg/day"),
    ("Initiate with a dose of 40 mg/day. If no response after 2 weeks, consider increasing dose to 100 mg/day.",
     "Start at 40 mg/day; if no response after 2 weeks, consider a higher dose.", "100 mg/day"),
])
def test_a_dropped_specific_is_found(cpic, ours, label):
    assert label in [s.label for s in cw.missing_in(ours, cpic)]
