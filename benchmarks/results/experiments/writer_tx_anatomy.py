"""The audit transaction alone, in one process: wall and CPU per phase under the writer lock.

Hand-run experiment of benchmarks/RESULTS.md round 4 (not part of the suite); needs
writer-lock-anatomy.patch applied (it writes the per-phase sums to /tmp/prof/lock-<pid>.txt).
Appends N transactions of G prepared lookup records each to a fresh SQLite database.

    mkdir -p /tmp/prof && git apply benchmarks/results/experiments/writer-lock-anatomy.patch
    .venv/bin/python benchmarks/results/experiments/writer_tx_anatomy.py
    # the same while CPU hogs saturate both cores:
    for i in 1 2 3 4; do timeout 25 python3 -c "while True: pass" & done; sleep 1
    .venv/bin/python benchmarks/results/experiments/writer_tx_anatomy.py
    git checkout service/db.py
"""

import glob
import os
import subprocess
import sys
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
work = Path(f"/tmp/pgx-tx-{uuid.uuid4().hex[:6]}")
work.mkdir()
os.environ.update(DATABASE_URL=os.environ.get("DBURL", f"sqlite:///{work}/b.sqlite3"),
                  PGX_INSTANCE_DIR=str(work / "inst"))
subprocess.run([str(REPO / ".venv/bin/pgx"), "db", "upgrade"], check=True, capture_output=True)
sys.path.insert(0, str(REPO))

from service import create_app  # noqa: E402
from service.app import get_db  # noqa: E402
from service.audit.writer import append_events, get_state, prepare_events  # noqa: E402

G = int(os.environ.get("G", "6"))
N = int(os.environ.get("N", "1500"))
EVENT = {
    "action": "GET /v1/lookup", "outcome": 200, "patient_ref": None,
    "input": {"genotypes": [{"gene": "CYP2C19", "diplotype": "*1/*2"}], "drugs": ["clopidogrel"]},
    "result": {"genes": [{"gene": "CYP2C19", "phenotype": "Intermediate Metabolizer", "category": "slow"}],
               "drugs": [{"drug": "clopidogrel", "direction": "alternative"}]},
    "release": "r1", "warnings": [], "purpose": "treatment", "genes": ["CYP2C19"], "drugs": ["clopidogrel"],
}
IDENT = {"actor": "bench", "role": "pharmacy", "request_id": "x", "source_addr": "127.0.0.1"}

app = create_app()
with app.app_context():
    db, state = get_db(), get_state()
    for _ in range(N):
        prepared = prepare_events([EVENT] * G, state=state, ident=IDENT)
        with db.write_transaction(defer_timeouts=True) as conn:
            append_events(conn, prepared, state=state, prepared=True)
print(Path(glob.glob(f"/tmp/prof/lock-{os.getpid()}.txt")[0]).read_text())
