"""Tables of the pickup box domain: documents, staff, loads, grants, audit chain, webhook outbox.

Personal data is minimised: the applicant's contact (phone or e-mail) and date of birth are
stored only as ciphertext (:mod:`docbox_cloud.pickup.crypto`) and erased on schedule; grants keep
only hashes; the audit log and the webhook payloads carry ids and hashes, never personal data.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from docbox_cloud.models import Base


class PickupDocument(Base):
    """A finished document waiting for (or past) collection."""

    __tablename__ = "pickup_documents"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    #: Barcode printed on the document's envelope; what staff scan at the box.
    code: Mapped[str] = mapped_column(String(64), unique=True)
    case_number: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    size: Mapped[str] = mapped_column(String(1))
    needs_low: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str] = mapped_column(String(2))
    #: "box" or "appointment"; the applicant may change it until the document is loaded.
    collection: Mapped[str] = mapped_column(String(16), default="box")
    status: Mapped[str] = mapped_column(String(16), index=True)
    #: Why the document left the normal path (expired, cancelled, pickup_after_revocation …).
    status_reason: Mapped[str | None] = mapped_column(String(32))
    contact_channel: Mapped[str] = mapped_column(String(8))
    #: Encrypted phone number or e-mail address; NULL once erased.
    contact_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: Encrypted ISO date of birth; NULL once erased.
    dob_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    box_id: Mapped[str | None] = mapped_column(String(63))
    compartment: Mapped[int | None] = mapped_column(Integer)
    registered_at: Mapped[datetime]
    loaded_at: Mapped[datetime | None]
    hold_until: Mapped[datetime | None]
    #: Set while the holding clock is paused (box or compartment out of service).
    hold_paused_since: Mapped[datetime | None]
    reminder_sent_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    #: Personal data is erased at this time (set when the document reaches a final state).
    erase_after: Mapped[datetime | None]


class PickupSlot(Base):
    """Occupancy of a compartment: at most one document per compartment (the primary key says so)."""

    __tablename__ = "pickup_slots"

    box_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("pickup_documents.id", ondelete="CASCADE"), unique=True
    )
    since: Mapped[datetime]


class PickupDefect(Base):
    """A compartment taken out of service (jammed, or marked by staff) until repaired."""

    __tablename__ = "pickup_defects"

    box_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    reason: Mapped[str] = mapped_column(String(64))
    since: Mapped[datetime]


class PickupStaff(Base):
    """A staff account that may load and retrieve at the kiosk (PIN stored as a scrypt hash)."""

    __tablename__ = "pickup_staff"

    staff_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    pin_hash: Mapped[str] = mapped_column(String(128))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class PickupLoad(Base):
    """One loading (or retrieval) of a compartment: the unlock command and what the door did."""

    __tablename__ = "pickup_loads"

    #: The kiosk request id, or a fresh id for REST loads (makes kiosk requests idempotent).
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    command_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    purpose: Mapped[str] = mapped_column(String(8))  # "load" or "retrieve"
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pickup_documents.id", ondelete="CASCADE"))
    box_id: Mapped[str] = mapped_column(String(63))
    compartment: Mapped[int] = mapped_column(Integer)
    staff_id: Mapped[str | None] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(8))  # "kiosk" or "api"
    state: Mapped[str] = mapped_column(String(12))  # unlocking, open, done, failed
    created_at: Mapped[datetime]
    opened_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class PickupGrantRow(Base):
    """A pickup grant as sent to the box (hashes only)."""

    __tablename__ = "pickup_grants"
    __table_args__ = (Index("ix_pickup_grants_box_id_state", "box_id", "state"),)

    grant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pickup_documents.id", ondelete="CASCADE"))
    box_id: Mapped[str] = mapped_column(String(63))
    compartment: Mapped[int] = mapped_column(Integer)
    login_hash: Mapped[str] = mapped_column(String(64))
    secret_salt: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(2))
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(8))  # active, revoked, used
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class PickupBoxKey(Base):
    """Per-box grant settings: the lookup salt of login hashes and whether a full sync is owed."""

    __tablename__ = "pickup_box_keys"

    box_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    lookup_salt: Mapped[str] = mapped_column(String(64))
    #: A grant change could not be pushed; the next job run or birth sends the full set.
    sync_due: Mapped[bool] = mapped_column(Boolean, default=False)
    synced_at: Mapped[datetime | None]


class PickupProcessedEvent(Base):
    """Box events whose pickup effects were applied (exactly-once effects on redelivery)."""

    __tablename__ = "pickup_processed_events"

    box_id: Mapped[str] = mapped_column(String(63), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)


class AuditEntry(Base):
    """One link of the append-only, hash-chained audit log (ids and hashes only)."""

    __tablename__ = "pickup_audit"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(32))
    document_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    box_id: Mapped[str | None] = mapped_column(String(63))
    compartment: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(80))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class WebhookDelivery(Base):
    """The durable outbox of case-system webhooks; ``id`` is the idempotency key."""

    __tablename__ = "pickup_webhooks"
    __table_args__ = (Index("ix_pickup_webhooks_due", "delivered_at", "next_attempt_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    event: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    failed: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str | None] = mapped_column(String(200))
