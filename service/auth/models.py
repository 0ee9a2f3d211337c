"""API clients: who may call the service, with which role, and the hash of their key (never the key)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy import text as sa_text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base


class ApiClient(Base):
    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Public part of the key (`pgx_<key_id>_<secret>`): how a presented key finds its row.
    key_id: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    # A client name is unique among active clients; a rotation keeps the name on a new row.
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    # SHA-256 (hex) of the whole key; see service/auth/clients.py for why a fast hash is right here.
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    rotated_from: Mapped[int | None] = mapped_column(Integer, ForeignKey("api_clients.id"), nullable=True)

    __table_args__ = (
        Index(
            "uq_api_clients_active_name",
            "name",
            unique=True,
            sqlite_where=sa_text("revoked_at IS NULL"),
            postgresql_where=sa_text("revoked_at IS NULL"),
        ),
        Index("ix_api_clients_name", "name"),
    )
