"""Which past answers a knowledge release would now answer differently.

Every answered record of the audit trail keeps its normalized input and the release that
answered it; stored releases are never deleted. So each answer in a window is replayed
(service.pgx.replay) with its own release (the before) and with the release under review (the
after), and one line is written per drug and population that moved. Rows are read in seq windows
(short read transactions), knowledge bases are built once per release, and replays are remembered
per distinct input in a bounded memo: memory stays flat however long the trail. Nothing in the
audit trail changes; `run` records the run itself before its first line.
"""

from __future__ import annotations

import csv
import io
import json
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from service.audit.models import audit_event
from service.interpretation.events import make_event
from service.interpretation.service import Caller, record
from service.pgx.knowledge import KnowledgeBase
from service.pgx.replay import Difference, replay
from service.releases import ReleaseNotFound, release_payload

FORMATS = ("ndjson", "csv")
CSV_COLUMNS = ("seq", "recorded", "patient_ref", "genes", "drug", "population", "before", "after")
MEMO_SIZE = 20_000
KB_CACHE = 4


@dataclass
class Progress:
    first_seq: int = 0
    last_seq: int = 0
    scanned: int = 0
    replayed: int = 0
    skipped: int = 0
    differing: int = 0


def seq_window(db, since: str | None, until: str | None) -> tuple[int, int]:
    """The seq range of the records recorded in [since, until] (seq and `recorded` grow together)."""
    c = audit_event.c
    with db.read() as conn:
        lo = conn.execute(select(func.min(c.seq)).where(c.recorded >= since) if since
                          else select(func.min(c.seq))).scalar()
        hi = conn.execute(select(func.max(c.seq)).where(c.recorded <= until) if until
                          else select(func.max(c.seq))).scalar()
    if lo is None or hi is None:  # no record in the window
        return 1, 0
    return lo, hi


class _Releases:
    """Knowledge bases by label, a few at a time (a trail spans few releases)."""

    def __init__(self, db):
        self.db = db
        self._kbs: OrderedDict[str, KnowledgeBase | None] = OrderedDict()

    def get(self, label: str) -> KnowledgeBase | None:
        if label in self._kbs:
            self._kbs.move_to_end(label)
            return self._kbs[label]
        try:
            kb: KnowledgeBase | None = KnowledgeBase(release_payload(self.db, label), label)
        except ReleaseNotFound:
            kb = None
        self._kbs[label] = kb
        if len(self._kbs) > KB_CACHE:
            self._kbs.popitem(last=False)
        return kb


def _replayable(action: str, data: Any) -> dict[str, Any] | None:
    """The input to replay, or None for a record that answered no genotype lookup."""
    if not isinstance(data, dict) or not data.get("genotypes") or data.get("valid") is False:
        return None
    if "clinical" in data:  # a warfarin dose: an algorithm's figure, not a table row
        return None
    if action.startswith("GET /v1/lookup") and data.get("drugs") is None:
        data = {**data, "drugs": []}  # a lookup without a drug answered no drug
    return data


def iter_differences(db, release: str, since: str | None = None, until: str | None = None, *,
                     page_size: int = 2000, progress: Progress | None = None,
                     on_page: Callable[[Progress], None] | None = None) -> Iterator[dict[str, Any]]:
    """One dict per audited answer (drug and population) that `release` answers differently."""
    releases = _Releases(db)
    target = releases.get(release)
    if target is None:
        raise ReleaseNotFound(release)
    p = progress or Progress()
    p.first_seq, p.last_seq = seq_window(db, since, until)
    memo: OrderedDict[tuple[str, str], list[Difference]] = OrderedDict()
    c = audit_event.c
    lo = p.first_seq - 1
    while lo < p.last_seq:
        hi = min(lo + page_size, p.last_seq)
        stmt = (select(c.seq, c.recorded, c.patient_ref, c.action, c.input, c.release)
                .where(c.seq > lo, c.seq <= hi, c.outcome == 200).order_by(c.seq))
        with db.read() as conn:
            rows = conn.execute(stmt).all()
        for seq, recorded, patient_ref, action, data, answered_by in rows:
            p.scanned += 1
            data = json.loads(data) if isinstance(data, str) else data
            data = _replayable(action or "", data)
            before = releases.get(answered_by) if data is not None and answered_by else None
            if before is None:
                p.skipped += 1
                continue
            key = (answered_by, json.dumps(data, sort_keys=True, separators=(",", ":")))
            diffs = memo.get(key)
            if diffs is None:
                diffs = memo[key] = replay(data, before, target)
                if len(memo) > MEMO_SIZE:
                    memo.popitem(last=False)
            p.replayed += 1
            for d in diffs:
                p.differing += 1
                yield {"seq": seq, "recorded": recorded, "patient_ref": patient_ref, "genes": list(d.genes),
                       "drug": d.drug, "population": d.population, "before": d.before, "after": d.after}
        lo = hi
        if on_page is not None:
            on_page(p)


def run(db, release: str, since: str | None, until: str | None, fmt: str, *, caller: Caller,
        progress: Progress | None = None, on_page: Callable[[Progress], None] | None = None) -> Iterator[str]:
    """Record the run (fail closed, before any line), then stream its lines in `fmt`.
    Raises ReleaseNotFound before recording anything."""
    release_payload(db, release)  # the release must be stored
    record([make_event(outcome=200, input={"release": release, "since": since, "until": until, "format": fmt},
                       result={"reinterpret": True}, genes=[], drugs=[], release=release)], caller)
    return render(iter_differences(db, release, since, until, progress=progress, on_page=on_page), fmt)


def render(lines: Iterator[dict[str, Any]], fmt: str) -> Iterator[str]:
    if fmt == "ndjson":
        for line in lines:
            yield json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"
        return
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for line in lines:
        writer.writerow([line["seq"], line["recorded"], line["patient_ref"], "|".join(line["genes"]),
                         line["drug"] or "", line["population"] or "",
                         json.dumps(line["before"], ensure_ascii=False, sort_keys=True),
                         json.dumps(line["after"], ensure_ascii=False, sort_keys=True)])
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    if buf.getvalue():
        yield buf.getvalue()


__all__ = ["FORMATS", "Progress", "iter_differences", "render", "run", "seq_window"]
