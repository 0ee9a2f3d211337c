"""audit trail: hash-chained audit_event + signed audit_checkpoint, append-only by trigger

Revision ID: 0002_audit
Revises: 0001_releases
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_audit"
down_revision = "0001_releases"
branch_labels = None
depends_on = None

TABLES = ("audit_event", "audit_checkpoint")


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
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
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("audit_id", name=op.f("uq_audit_event_audit_id")),
        sa.UniqueConstraint("entry_hash", name=op.f("uq_audit_event_entry_hash")),
    )
    op.create_index(op.f("ix_audit_event_recorded"), "audit_event", ["recorded"])
    op.create_index(op.f("ix_audit_event_actor"), "audit_event", ["actor"])
    op.create_index(op.f("ix_audit_event_patient_ref"), "audit_event", ["patient_ref"])
    op.create_table(
        "audit_checkpoint",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("time", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoint")),
    )
    op.create_index(op.f("ix_audit_checkpoint_size"), "audit_checkpoint", ["size"])

    # The database itself refuses UPDATE and DELETE (and, on PostgreSQL, TRUNCATE) of audit rows.
    if op.get_bind().dialect.name == "sqlite":
        for table in TABLES:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
                )
    else:
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP "
            "USING ERRCODE = 'insufficient_privilege'; END $$"
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in TABLES:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
    else:
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS audit_refuse_change()")
    op.drop_index(op.f("ix_audit_checkpoint_size"), table_name="audit_checkpoint")
    op.drop_table("audit_checkpoint")
    op.drop_index(op.f("ix_audit_event_patient_ref"), table_name="audit_event")
    op.drop_index(op.f("ix_audit_event_actor"), table_name="audit_event")
    op.drop_index(op.f("ix_audit_event_recorded"), table_name="audit_event")
    op.drop_table("audit_event")
