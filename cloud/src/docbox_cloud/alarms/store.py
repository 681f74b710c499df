"""Alarm persistence: raise once, clear once, list. Domain functions on an AsyncSession.

The caller owns the transaction (see :func:`docbox_cloud.db.transaction`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from docbox_cloud.alarms.models import Alarm, AlarmType, active_key
from docbox_cloud.errors import CloudError


class UnknownAlarmError(CloudError):
    """An alarm id that does not exist."""

    def __init__(self, alarm_id: int) -> None:
        super().__init__(f"alarm {alarm_id} does not exist")
        self.alarm_id = alarm_id


class AlarmNotResolvableError(CloudError):
    """An alarm that clears by itself when its condition ends, or that is cleared already."""


async def raise_alarm(
    session: AsyncSession,
    box_id: str,
    kind: AlarmType,
    *,
    at: datetime,
    compartment: int | None = None,
    detail: str | None = None,
    seq: int | None = None,
) -> Alarm | None:
    """Raise an alarm unless the same one is active; return it if it was raised now.

    Safe against concurrent workers: the insert does nothing when another transaction
    holds the same active key.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(Alarm)
        .values(
            box_id=box_id,
            compartment=compartment,
            kind=kind.value,
            detail=detail[:200] if detail else None,
            active_key=active_key(box_id, compartment, kind.value),
            raised_at=at,
            raised_seq=seq,
        )
        .on_conflict_do_nothing(index_elements=[Alarm.active_key])
        .returning(Alarm.id)
    )
    alarm_id = (await session.execute(statement)).scalar_one_or_none()
    if alarm_id is None:
        return None
    return await session.get(Alarm, alarm_id)


async def clear_alarm(
    session: AsyncSession,
    box_id: str,
    kind: AlarmType,
    *,
    at: datetime,
    compartment: int | None = None,
    seq: int | None = None,
) -> Alarm | None:
    """Clear the active alarm of this kind; return it if it was cleared now.

    With ``seq``, an alarm raised by a later event (a higher sequence number) stays: the
    clearing event is older news.
    """
    statement = (
        update(Alarm)
        .where(Alarm.active_key == active_key(box_id, compartment, kind.value))
        .values(active_key=None, cleared_at=at, cleared_seq=seq)
        .returning(Alarm.id)
        .execution_options(synchronize_session=False)
    )
    if seq is not None:
        statement = statement.where((Alarm.raised_seq.is_(None)) | (Alarm.raised_seq <= seq))
    alarm_id = (await session.execute(statement)).scalar_one_or_none()
    if alarm_id is None:
        return None
    return await session.get(Alarm, alarm_id, populate_existing=True)


async def active_alarms(session: AsyncSession, box_id: str, compartment: int | None = None) -> list[Alarm]:
    """The active alarms of a box (or of one compartment of it)."""
    statement = select(Alarm).where(Alarm.box_id == box_id, Alarm.active_key.is_not(None))
    if compartment is not None:
        statement = statement.where(Alarm.compartment == compartment)
    return list(await session.scalars(statement.order_by(Alarm.id)))


async def count_active(session: AsyncSession, box_id: str) -> int:
    """How many alarms of a box are active."""
    count = await session.scalar(
        select(func.count()).select_from(Alarm).where(Alarm.box_id == box_id, Alarm.active_key.is_not(None))
    )
    return int(count or 0)


async def count_raised_since(
    session: AsyncSession, box_id: str, compartment: int, kind: AlarmType, since: datetime
) -> int:
    """How many alarms of this kind were raised at a compartment since ``since``."""
    count = await session.scalar(
        select(func.count())
        .select_from(Alarm)
        .where(
            Alarm.box_id == box_id,
            Alarm.compartment == compartment,
            Alarm.kind == kind.value,
            Alarm.raised_at >= since,
        )
    )
    return int(count or 0)


async def list_alarms(
    session: AsyncSession,
    *,
    active: bool | None = None,
    box_id: str | None = None,
    kinds: Sequence[AlarmType] = (),
    limit: int = 100,
    before_id: int | None = None,
) -> list[Alarm]:
    """Alarms, newest first, filtered by state, box and kind; page with ``before_id``."""
    statement = select(Alarm)
    if active is True:
        statement = statement.where(Alarm.active_key.is_not(None))
    elif active is False:
        statement = statement.where(Alarm.active_key.is_(None))
    if box_id is not None:
        statement = statement.where(Alarm.box_id == box_id)
    if kinds:
        statement = statement.where(Alarm.kind.in_([k.value for k in kinds]))
    if before_id is not None:
        statement = statement.where(Alarm.id < before_id)
    return list(await session.scalars(statement.order_by(Alarm.id.desc()).limit(limit)))


async def get_alarm(session: AsyncSession, alarm_id: int) -> Alarm:
    """One alarm.

    Raises:
        UnknownAlarmError: if there is none with this id.
    """
    alarm = await session.get(Alarm, alarm_id)
    if alarm is None:
        raise UnknownAlarmError(alarm_id)
    return alarm
