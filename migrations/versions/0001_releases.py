"""knowledge releases: the reference tables, stored and versioned in the database

Revision ID: 0001_releases
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_releases"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "knowledge_releases",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("manifest", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_releases")),
        sa.UniqueConstraint("label", name=op.f("uq_knowledge_releases_label")),
        sa.UniqueConstraint("digest", name=op.f("uq_knowledge_releases_digest")),
    )
    op.create_index(
        "uq_knowledge_releases_one_active",
        "knowledge_releases",
        ["is_active"],
        unique=True,
        sqlite_where=sa.text("is_active"),
        postgresql_where=sa.text("is_active"),
    )


def downgrade() -> None:
    op.drop_index("uq_knowledge_releases_one_active", table_name="knowledge_releases")
    op.drop_table("knowledge_releases")
