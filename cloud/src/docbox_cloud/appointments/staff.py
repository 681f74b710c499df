"""What counter staff do: the day list, check-in, no-show, statistics per category."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Literal, cast
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from docbox_cloud.appointments.booking import get_office
from docbox_cloud.appointments.categories import CATEGORIES, EVIDENCE, CategoryName
from docbox_cloud.appointments.errors import BookingStateError, NotFoundError
from docbox_cloud.appointments.models import Booking, Counter, Slot, TriageRequest
from docbox_cloud.appointments.schemas import CategoryStats, DayListEntry, StatsPublic

_DAY_LIST_STATUSES = ("confirmed", "checked_in", "no_show")


def _day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(timezone)
    return datetime.combine(day, time(0), tzinfo=zone), datetime.combine(
        day + timedelta(days=1), time(0), tzinfo=zone
    )


async def day_list(
    session: AsyncSession, office_id: str, day: date, counter_id: int | None = None
) -> list[DayListEntry]:
    """Confirmed, checked-in and no-show appointments of a day, by counter and time.

    Staff see the reference, category, language and the evidence to expect — no contact data.
    """
    office = await get_office(session, office_id)
    first, last = _day_bounds(day, office.timezone)
    query = (
        select(Booking, Slot, Counter)
        .join(Slot, Booking.slot_id == Slot.id)
        .join(Counter, Slot.counter_id == Counter.id)
        .where(
            Booking.office_id == office_id,
            Booking.status.in_(_DAY_LIST_STATUSES),
            Slot.starts_at >= first,
            Slot.starts_at < last,
        )
        .order_by(Counter.id, Slot.starts_at)
    )
    if counter_id is not None:
        query = query.where(Counter.id == counter_id)
    zone = ZoneInfo(office.timezone)
    entries: list[DayListEntry] = []
    for booking, slot, counter in (await session.execute(query)).all():
        category = booking.category
        entries.append(
            DayListEntry(
                booking_id=booking.id,
                reference=booking.id.hex[:8].upper(),
                counter_id=counter.id,
                counter=counter.name,
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
                local_start=slot.starts_at.astimezone(zone).isoformat(timespec="minutes"),
                kind=cast(Literal["emergency", "ordinary", "pickup"], booking.kind),
                category=cast(
                    Literal["permit_expiring", "job_at_risk", "urgent_travel", "document_lost"] | None,
                    category,
                ),
                status=booking.status,
                language=booking.language,
                evidence=list(EVIDENCE.get(cast(CategoryName, category), ())),
            )
        )
    return entries


async def _booking_for_staff(
    session: AsyncSession, office_id: str, booking_id: uuid.UUID
) -> tuple[Booking, Slot]:
    booking = await session.get(Booking, booking_id, with_for_update=True)
    if booking is None or booking.office_id != office_id:
        raise NotFoundError(f"booking {booking_id} does not exist at office {office_id!r}")
    slot = await session.get(Slot, booking.slot_id)
    assert slot is not None
    return booking, slot


async def check_in(session: AsyncSession, office_id: str, booking_id: uuid.UUID, now: datetime) -> str:
    """Mark a confirmed appointment as arrived (also a no-show that turns up late)."""
    booking, _ = await _booking_for_staff(session, office_id, booking_id)
    if booking.status not in ("confirmed", "no_show"):
        raise BookingStateError(f"cannot check in a booking that is {booking.status}")
    booking.status = "checked_in"
    booking.checked_in_at = now
    return booking.status


async def no_show(session: AsyncSession, office_id: str, booking_id: uuid.UUID, now: datetime) -> str:
    """Mark a confirmed appointment as missed (only once its slot has begun)."""
    booking, slot = await _booking_for_staff(session, office_id, booking_id)
    if booking.status != "confirmed":
        raise BookingStateError(f"cannot mark a booking that is {booking.status} as no-show")
    if slot.starts_at > now:
        raise BookingStateError("the appointment has not begun yet")
    booking.status = "no_show"
    return booking.status


async def stats(session: AsyncSession, office_id: str, first_day: date, last_day: date) -> StatsPublic:
    """Anonymous counts per category and status for appointments between two days.

    Works on anonymised rows too: retention removes personal data but keeps category,
    status and slot, so the counts survive it.
    """
    office = await get_office(session, office_id)
    first, _ = _day_bounds(first_day, office.timezone)
    _, last = _day_bounds(last_day, office.timezone)
    label = func.coalesce(Booking.category, Booking.kind)
    rows = (
        await session.execute(
            select(label, Booking.status, func.count())
            .join(Slot, Booking.slot_id == Slot.id)
            .where(Booking.office_id == office_id, Slot.starts_at >= first, Slot.starts_at < last)
            .group_by(label, Booking.status)
        )
    ).all()
    by_category: dict[str, dict[str, int]] = {}
    for category, status, count in rows:
        by_category.setdefault(str(category), {})[str(status)] = int(count)
    requests = dict(
        (
            await session.execute(
                select(TriageRequest.category, func.count())
                .where(
                    TriageRequest.office_id == office_id,
                    TriageRequest.filed_at >= first,
                    TriageRequest.filed_at < last,
                )
                .group_by(TriageRequest.category)
            )
        ).all()
    )
    names = [*CATEGORIES, "ordinary", "pickup"]
    return StatsPublic(
        first_day=first_day,
        last_day=last_day,
        categories=[
            CategoryStats(
                category=name, by_status=by_category.get(name, {}), triage_requests=int(requests.get(name, 0))
            )
            for name in names
        ],
    )
