"""API clients: roles and hashed keys

Revision ID: 0003_api_clients
Revises: 0002_audit
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_api_clients"
down_revision = "0002_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_clients",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rotated_from", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_clients")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_clients_key_id")),
        sa.ForeignKeyConstraint(
            ["rotated_from"], ["api_clients.id"], name=op.f("fk_api_clients_rotated_from_api_clients")
        ),
    )
    op.create_index(
        "uq_api_clients_active_name",
        "api_clients",
        ["name"],
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.create_index("ix_api_clients_name", "api_clients", ["name"])


def downgrade() -> None:
    op.drop_index("ix_api_clients_name", table_name="api_clients")
    op.drop_index("uq_api_clients_active_name", table_name="api_clients")
    op.drop_table("api_clients")
