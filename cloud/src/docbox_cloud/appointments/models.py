"""Tables of the appointment service (prefix ``appt_``), on the cloud's shared ``Base``.

The booking invariant lives in the database: the partial unique index
``uq_appt_bookings_active_slot`` allows at most one booking per slot whose status occupies
it (held, offered, confirmed, checked_in, no_show), and ``uq_appt_bookings_active_person``
at most one live emergency booking per person (hashed document number). Competing inserts
fail with a unique violation, which the service turns into 409; nothing relies on a check
before the insert.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Time,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from docbox_cloud.models import Base

#: Booking statuses that occupy their slot (nobody else can book it).
OCCUPYING_STATUSES = ("held", "offered", "confirmed", "checked_in", "no_show")
#: Booking statuses that count as the person's one live emergency booking.
LIVE_STATUSES = ("held", "offered", "confirmed")
BOOKING_STATUSES = (*OCCUPYING_STATUSES, "cancelled", "expired", "declined")

_OCCUPYING_SQL = "status IN ('held', 'offered', 'confirmed', 'checked_in', 'no_show')"
_LIVE_PERSON_SQL = (
    "status IN ('held', 'offered', 'confirmed') AND kind = 'emergency' AND person_hash IS NOT NULL"
)
_PENDING_TRIAGE_SQL = "status IN ('pending', 'offered')"


class Office(Base):
    """An office that offers appointments, with its mode switches."""

    __tablename__ = "appt_offices"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: German state code (ISO 3166-2 suffix, e.g. "BE") whose public holidays close the office.
    state: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin")
    #: Restricted mode: only emergency (and pickup) bookings are accepted.
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    #: How emergency slots are handed out: "direct" booking or "triage" rounds.
    emergency_mode: Mapped[str] = mapped_column(String(8), default="direct")
    #: Mail address shown as ORGANIZER in invitations.
    organizer_email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime]


class Service(Base):
    """What a counter does, with the duration of one appointment."""

    __tablename__ = "appt_services"
    __table_args__ = (CheckConstraint("duration_min BETWEEN 1 AND 480", name="duration"),)

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    office_id: Mapped[str] = mapped_column(ForeignKey("appt_offices.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    #: "emergency", "ordinary" or "pickup" (document collection).
    kind: Mapped[str] = mapped_column(String(16))
    duration_min: Mapped[int] = mapped_column(Integer)


class Counter(Base):
    """A counter (desk) serving one service, so its slots never overlap."""

    __tablename__ = "appt_counters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    office_id: Mapped[str] = mapped_column(ForeignKey("appt_offices.id", ondelete="CASCADE"), index=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("appt_services.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class OpeningHours(Base):
    """One opening interval of an office on a weekday (several per day for breaks)."""

    __tablename__ = "appt_opening_hours"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("opens < closes", name="interval"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    office_id: Mapped[str] = mapped_column(ForeignKey("appt_offices.id", ondelete="CASCADE"), index=True)
    #: Monday = 0 … Sunday = 6.
    weekday: Mapped[int] = mapped_column(Integer)
    opens: Mapped[time] = mapped_column(Time)
    closes: Mapped[time] = mapped_column(Time)


class Closure(Base):
    """Days an office (or one counter) is closed beyond public holidays."""

    __tablename__ = "appt_closures"
    __table_args__ = (CheckConstraint("first_day <= last_day", name="range"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    office_id: Mapped[str] = mapped_column(ForeignKey("appt_offices.id", ondelete="CASCADE"), index=True)
    #: None: the whole office is closed.
    counter_id: Mapped[int | None] = mapped_column(ForeignKey("appt_counters.id", ondelete="CASCADE"))
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(200), default="")


class Slot(Base):
    """A minute-precise appointment slot at one counter."""

    __tablename__ = "appt_slots"
    __table_args__ = (
        UniqueConstraint("counter_id", "starts_at"),
        Index("ix_appt_slots_office_kind_start", "office_id", "kind", "starts_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    office_id: Mapped[str] = mapped_column(ForeignKey("appt_offices.id", ondelete="CASCADE"))
    counter_id: Mapped[int] = mapped_column(ForeignKey("appt_counters.id", ondelete="CASCADE"))
    service_id: Mapped[str] = mapped_column(ForeignKey("appt_services.id", ondelete="CASCADE"))
    #: Copy of the service's kind, so that listing free slots needs no join.
    kind: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    #: Not bookable before this instant: set when a booking releases the slot (anti-trading).
    available_from: Mapped[datetime | None]
    #: Withdrawn by staff (e.g. a counter closed at short notice).
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)


class Booking(Base):
    """A booking of one slot: a hold, a triage offer, or a confirmed appointment."""

    __tablename__ = "appt_bookings"
    __table_args__ = (
        Index(
            "uq_appt_bookings_active_slot",
            "slot_id",
            unique=True,
            postgresql_where=text(_OCCUPYING_SQL),
            sqlite_where=text(_OCCUPYING_SQL),
        ),
        Index(
            "uq_appt_bookings_active_person",
            "person_hash",
            unique=True,
            postgresql_where=text(_LIVE_PERSON_SQL),
            sqlite_where=text(_LIVE_PERSON_SQL),
        ),
        Index("ix_appt_bookings_office_status", "office_id", "status"),
        CheckConstraint(
            "status IN ('held', 'offered', 'confirmed', 'checked_in', 'no_show', "
            "'cancelled', 'expired', 'declined')",
            name="status",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    office_id: Mapped[str] = mapped_column(ForeignKey("appt_offices.id", ondelete="CASCADE"))
    slot_id: Mapped[int] = mapped_column(ForeignKey("appt_slots.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    #: Emergency category (None for ordinary and pickup bookings).
    category: Mapped[str | None] = mapped_column(String(32))
    #: Category data (dates) and the declared evidence; personal, removed by retention.
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: Salted hash of the document number (one live emergency booking per person).
    person_hash: Mapped[str | None] = mapped_column(String(64))
    #: Reference of the document to collect (pickup bookings); opaque here.
    document_ref: Mapped[str | None] = mapped_column(String(100))
    contact_channel: Mapped[str | None] = mapped_column(String(8))
    contact: Mapped[str | None] = mapped_column(String(254))
    language: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime]
    hold_expires_at: Mapped[datetime | None]
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    #: SHA-256 of the token that lets the reserving browser extend or confirm its hold.
    hold_token_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    #: SHA-256 of the confirmation link token sent to the applicant.
    confirm_token_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    #: SHA-256 of the short confirmation code sent to the applicant.
    confirm_code_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    confirm_attempts: Mapped[int] = mapped_column(Integer, default=0)
    confirmed_at: Mapped[datetime | None]
    #: SHA-256 of the 128-bit cancellation token.
    cancel_token_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    cancelled_at: Mapped[datetime | None]
    #: iCalendar SEQUENCE: 0 with the invitation, +1 for each change (cancellation).
    ics_sequence: Mapped[int] = mapped_column(Integer, default=0)
    reminded_at: Mapped[datetime | None]
    checked_in_at: Mapped[datetime | None]
    #: Triage request this offer answers, if any.
    triage_request_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appt_triage_requests.id", ondelete="SET NULL"), index=True
    )
    anonymised_at: Mapped[datetime | None]


class TriageRequest(Base):
    """An emergency request waiting for a slot to be assigned by urgency."""

    __tablename__ = "appt_triage_requests"
    __table_args__ = (
        Index("ix_appt_triage_requests_rank", "office_id", "status", "deadline", "filed_at"),
        Index(
            "uq_appt_triage_requests_person",
            "office_id",
            "person_hash",
            unique=True,
            postgresql_where=text(_PENDING_TRIAGE_SQL),
            sqlite_where=text(_PENDING_TRIAGE_SQL),
        ),
        CheckConstraint(
            "status IN ('pending', 'offered', 'booked', 'declined', 'lapsed', 'withdrawn')", name="status"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    office_id: Mapped[str] = mapped_column(ForeignKey("appt_offices.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: The date by which the applicant needs the appointment (ranking key 1).
    deadline: Mapped[date] = mapped_column(Date)
    #: When the request was filed (ranking key 2).
    filed_at: Mapped[datetime]
    person_hash: Mapped[str | None] = mapped_column(String(64))
    contact_channel: Mapped[str | None] = mapped_column(String(8))
    contact: Mapped[str | None] = mapped_column(String(254))
    language: Mapped[str] = mapped_column(String(8))
    #: SHA-256 of the token with which the applicant sees the request and answers offers.
    status_token_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    missed_offers: Mapped[int] = mapped_column(Integer, default=0)
    offer_expires_at: Mapped[datetime | None]
    anonymised_at: Mapped[datetime | None]


class IdempotencyRecord(Base):
    """The stored answer to a POST made with an ``Idempotency-Key``."""

    __tablename__ = "appt_idempotency"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    #: SHA-256 of the request body, so that a reused key with another body is refused.
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(index=True)


class UsedChallenge(Base):
    """A proof-of-work challenge already redeemed (replay protection across replicas)."""

    __tablename__ = "appt_used_challenges"

    signature: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class OutboxMessage(Base):
    """A notification written in the booking's transaction and delivered after commit."""

    __tablename__ = "appt_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    #: The serialized :class:`~docbox_cloud.notify.Notification` (personal: deleted once sent).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
