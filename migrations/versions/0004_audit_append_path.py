"""audit_event: cheaper appends (no unique index on entry_hash; on SQLite, seq is the rowid)

Every audit record is an insert into each of the table's B-trees, and the audit write is the
section every worker serializes on (benchmarks/RESULTS.md, round 5). Two of them cost more than
they give:
- the unique index on `entry_hash`: a SHA-256 is uniformly random, so each record wrote a
  random page of that index (the index's share of the writes grows with the table). No query
  looks a record up by its hash, and uniqueness guards nothing the chain does not: an
  entry_hash covers its record's seq (itself unique: the primary key) and its predecessor's hash,
  which `pgx audit verify` checks;
- on SQLite, `seq BIGINT PRIMARY KEY` is a second B-tree beside the table's rowid B-tree; only a
  column declared `INTEGER PRIMARY KEY` is the rowid itself. SQLite integers are 64-bit either
  way, so the values and their range do not change. The table is rebuilt (SQLite cannot change a
  primary key in place); the append-only triggers are recreated after the copy.
Records keep every byte: `canonical` and `entry_hash` are copied as they are.

Revision ID: 0004_audit_append_path
Revises: 0003_api_clients
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_audit_append_path"
down_revision = "0003_api_clients"
branch_labels = None
depends_on = None

COLUMNS = (
    "seq", "audit_id", "recorded", "actor", "role", "action", "outcome", "purpose", "patient_ref",
    "input", "result", "genes", "drugs", "release", "request_id", "source_addr", "warnings",
    "prev_hash", "entry_hash", "canonical",
)


def _sqlite_rebuild(seq_type: sa.types.TypeEngine, entry_hash_unique: bool) -> None:
    constraints = [
        sa.PrimaryKeyConstraint("seq", name="pk_audit_event"),
        sa.UniqueConstraint("audit_id", name="uq_audit_event_audit_id"),
    ]
    if entry_hash_unique:
        constraints.append(sa.UniqueConstraint("entry_hash", name="uq_audit_event_entry_hash"))
    op.create_table(
        "audit_event_rebuilt",
        sa.Column("seq", seq_type, autoincrement=False, nullable=False),
        sa.Column("audit_id", sa.String(length=64), nullable=False),
        sa.Column("recorded", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=50), nullable=True),
        sa.Column("action", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=100), nullable=True),
        sa.Column("patient_ref", sa.String(length=64), nullable=True),
        sa.Column("input", sa.JSON(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("genes", sa.Text(), nullable=True),
        sa.Column("drugs", sa.Text(), nullable=True),
        sa.Column("release", sa.String(length=200), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("source_addr", sa.String(length=64), nullable=True),
        sa.Column("warnings", sa.JSON(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("canonical", sa.Text(), nullable=False),
        *constraints,
    )
    cols = ", ".join(COLUMNS)
    op.execute(f"INSERT INTO audit_event_rebuilt ({cols}) SELECT {cols} FROM audit_event ORDER BY seq")
    # DROP TABLE takes the old table's indexes and triggers with it (it fires no DELETE trigger).
    op.execute("DROP TABLE audit_event")
    op.execute("ALTER TABLE audit_event_rebuilt RENAME TO audit_event")
    op.create_index("ix_audit_event_recorded", "audit_event", ["recorded"])
    op.create_index("ix_audit_event_actor", "audit_event", ["actor"])
    op.create_index("ix_audit_event_patient_ref", "audit_event", ["patient_ref"])
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_event_no_{verb.lower()} BEFORE {verb} ON audit_event "
            f"BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: {verb} refused'); END"
        )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rebuild(sa.Integer(), entry_hash_unique=False)
    else:
        op.drop_constraint("uq_audit_event_entry_hash", "audit_event", type_="unique")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rebuild(sa.BigInteger(), entry_hash_unique=True)
    else:
        op.create_unique_constraint("uq_audit_event_entry_hash", "audit_event", ["entry_hash"])
