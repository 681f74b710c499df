"""The alarms table and the kinds of alarm."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from docbox_cloud.models import Base


class AlarmType(StrEnum):
    """What an alarm is about. The first four come from the box, the rest from the cloud."""

    FORCED_OPEN = "forced_open"
    LEFT_OPEN = "left_open"
    JAMMED = "jammed"
    FLAPPING = "flapping"
    BOX_OFFLINE = "box_offline"
    OUTBOX_BACKLOG = "outbox_backlog"
    COMPARTMENT_DEFECTIVE = "compartment_defective"


#: Alarms about a whole box (no compartment).
BOX_ALARMS = frozenset({AlarmType.BOX_OFFLINE, AlarmType.OUTBOX_BACKLOG})


def active_key(box_id: str, compartment: int | None, kind: str) -> str:
    """The key that makes an alarm unique while it is active (see :attr:`Alarm.active_key`)."""
    return f"{box_id}/{compartment if compartment is not None else '-'}/{kind}"


class Alarm(Base):
    """One alarm: raised once, cleared once.

    ``active_key`` is set while the alarm is active and NULL once it is cleared; its unique
    constraint (NULLs never collide, on PostgreSQL and SQLite alike) makes sure that an
    alarm is active at most once per box, compartment and kind, even when several ingest
    workers raise it at the same moment.
    """

    __tablename__ = "alarms"
    __table_args__ = (Index("ix_alarms_box_id_raised_at", "box_id", "raised_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    box_id: Mapped[str] = mapped_column(ForeignKey("boxes.id", ondelete="CASCADE"))
    compartment: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(200))
    active_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    #: When it started (the box's clock for box-reported alarms).
    raised_at: Mapped[datetime]
    cleared_at: Mapped[datetime | None]
    #: Sequence number of the event that raised or cleared it (None for the cloud's own).
    raised_seq: Mapped[int | None] = mapped_column(BigInteger)
    cleared_seq: Mapped[int | None] = mapped_column(BigInteger)
