"""CDS Hooks tables: the registered CDS clients (EHRs), the JWT ids already accepted, and the
clinicians' feedback on cards. (Which orders were shown a card is read from the audit trail:
service/interpretation/cds_records.py.)

Every row lives in the database, never in a worker's memory: the service scales out behind a
load balancer on one PostgreSQL, and a replayed token may reach any worker.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base


class CdsClient(Base):
    """An EHR allowed to call the CDS services: its issuer (`iss`) and JSON Web Key Set."""

    __tablename__ = "cds_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issuer: Mapped[str] = mapped_column(String(500), nullable=False, unique=True)
    jwks: Mapped[str] = mapped_column(Text, nullable=False)  # the public JWK Set, JSON text
    jku: Mapped[str | None] = mapped_column(String(1000), nullable=True)  # allowlisted JWK Set URL
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CdsJti(Base):
    """A JWT id accepted from an issuer, kept until the token expires: a second use is a replay."""

    __tablename__ = "cds_jti"

    issuer: Mapped[str] = mapped_column(String(500), primary_key=True)
    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)


class CdsFeedback(Base):
    """One feedback item (accepted / overridden) on a card, as the CDS client sent it."""

    __tablename__ = "cds_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_id: Mapped[str] = mapped_column(String(100), nullable=False)
    issuer: Mapped[str] = mapped_column(String(500), nullable=False)
    card_uuid: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    outcome: Mapped[str] = mapped_column(String(20), nullable=False)
    accepted_suggestions: Mapped[object | None] = mapped_column(JSON, nullable=True)
    override_reason: Mapped[object | None] = mapped_column(JSON, nullable=True)
    outcome_timestamp: Mapped[str] = mapped_column(String(40), nullable=False)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    audit_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


cds_clients = CdsClient.__table__
cds_jti = CdsJti.__table__
cds_feedback = CdsFeedback.__table__
