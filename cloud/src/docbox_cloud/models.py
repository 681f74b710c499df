"""SQLAlchemy models: boxes, their compartments' live state, stored events and sent commands."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: Constraint names are fixed so that migrations can refer to them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database.

    PostgreSQL keeps the zone (``timestamptz``); SQLite has no zone and would hand back naive
    datetimes, so values are normalised to UTC on the way in and marked UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Reject naive datetimes and store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: docbox stores aware UTC timestamps only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return aware UTC datetimes."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of the cloud's tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: UtcDateTime()}  # noqa: RUF012 - SQLAlchemy API


class Box(Base):
    """A registered pickup box and its connection state."""

    __tablename__ = "boxes"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    registered_at: Mapped[datetime]
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Connection session counter of the last status; None until the box was first heard of.
    session: Mapped[int | None] = mapped_column(Integer)
    last_seen: Mapped[datetime | None]
    #: Highest event sequence number stored for this box (0: none yet).
    max_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    #: When the cloud last asked for a snapshot; rate-limits requests across replicas.
    snapshot_requested_at: Mapped[datetime | None]


class Compartment(Base):
    """One compartment of a box with its live door, lock and alarm state."""

    __tablename__ = "compartments"
    __table_args__ = (UniqueConstraint("box_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    box_id: Mapped[str] = mapped_column(ForeignKey("boxes.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    size: Mapped[str | None] = mapped_column(String(1))
    height_cm: Mapped[int | None] = mapped_column(Integer)
    door: Mapped[str] = mapped_column(String(8), default="unknown")
    locked: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Active alarm kinds, sorted (a JSON list of strings).
    alarms: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Sequence number of the event or snapshot that last set this state; older ones are ignored.
    state_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime]


class Event(Base):
    """An event as received from a box, stored exactly once per (box, event id)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_box_id_seq", "box_id", "seq"),)

    box_id: Mapped[str] = mapped_column(ForeignKey("boxes.id", ondelete="CASCADE"), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    session: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    compartment: Mapped[int | None] = mapped_column(Integer)
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class Command(Base):
    """A signed command sent to a box, and how the box answered."""

    __tablename__ = "commands"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    box_id: Mapped[str] = mapped_column(ForeignKey("boxes.id", ondelete="CASCADE"), index=True)
    compartment: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    outcome: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(200))
    replied_at: Mapped[datetime | None]

# Tables of feature areas live in their own modules; importing them here puts them on
# Base.metadata wherever the core models are imported (migrations, metadata comparison).
from docbox_cloud.alarms import models as _alarm_models  # noqa: E402, F401
from docbox_cloud.appointments import models as _appointment_models  # noqa: E402, F401
from docbox_cloud.pickup import models as _pickup_models  # noqa: E402, F401
