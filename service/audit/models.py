"""Audit tables: `audit_event` (the hash-chained, append-only log) and `audit_checkpoint`.

`seq` is assigned by the writer under a lock (service/audit/writer.py), never by the database:
an autoincrement or sequence leaves gaps on rollback and would let concurrent writers fork the
chain. UPDATE and DELETE on both tables are refused by database triggers (migration 0002_audit).
`canonical` holds the exact canonical JSON text whose SHA-256 is `entry_hash`; the other columns
are copies of its fields kept for filtering and reporting.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base


class AuditEvent(Base):
    __tablename__ = "audit_event"

    # On SQLite an INTEGER PRIMARY KEY is the rowid itself (one B-tree, not two); 64-bit either way.
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                     autoincrement=False)
    audit_id: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    recorded: Mapped[str] = mapped_column(String(32), nullable=False, index=True)  # UTC ISO 8601, ms, Z
    actor: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    role: Mapped[str | None] = mapped_column(String(50), nullable=True)
    action: Mapped[str] = mapped_column(String(200), nullable=False)
    outcome: Mapped[int] = mapped_column(Integer, nullable=False)
    purpose: Mapped[str | None] = mapped_column(String(100), nullable=True)
    patient_ref: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)  # HMAC-SHA256 hex
    input: Mapped[object | None] = mapped_column(JSON, nullable=True)
    result: Mapped[object | None] = mapped_column(JSON, nullable=True)
    genes: Mapped[str | None] = mapped_column(Text, nullable=True)  # "|CYP2D6|CYP2C19|" for LIKE filters
    drugs: Mapped[str | None] = mapped_column(Text, nullable=True)  # "|codeine|"
    release: Mapped[str | None] = mapped_column(String(200), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    source_addr: Mapped[str | None] = mapped_column(String(64), nullable=True)
    warnings: Mapped[object | None] = mapped_column(JSON, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # Not indexed: no query looks a record up by it, and its uniqueness follows from the chain's
    # (migration 0004_audit_append_path).
    entry_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    canonical: Mapped[str] = mapped_column(Text, nullable=False)


class AuditCheckpoint(Base):
    __tablename__ = "audit_checkpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    origin: Mapped[str] = mapped_column(String(200), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    head_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    time: Mapped[str] = mapped_column(String(32), nullable=False)
    key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    signature: Mapped[str] = mapped_column(String(200), nullable=False)


audit_event = AuditEvent.__table__
audit_checkpoint = AuditCheckpoint.__table__
