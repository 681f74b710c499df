"""Staff administration of offices: services, counters, opening hours, closures, mode switches."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from docbox_cloud.appointments.booking import get_office
from docbox_cloud.appointments.categories import CATEGORIES, EVIDENCE
from docbox_cloud.appointments.errors import InvalidRequestError, NotFoundError
from docbox_cloud.appointments.models import (
    OCCUPYING_STATUSES,
    Booking,
    Closure,
    Counter,
    Office,
    OpeningHours,
    Service,
    Slot,
)
from docbox_cloud.appointments.schemas import (
    ClosureCreate,
    CounterCreate,
    CounterPublic,
    OfficeCreate,
    OfficePublic,
    OfficeUpdate,
    OpeningInterval,
    ServiceCreate,
)


def office_public(office: Office) -> OfficePublic:
    """Public form of an office."""
    return OfficePublic(
        office_id=office.id,
        name=office.name,
        timezone=office.timezone,
        restricted=office.restricted,
        emergency_mode="triage" if office.emergency_mode == "triage" else "direct",
        categories=list(CATEGORIES),
        evidence={category: list(items) for category, items in EVIDENCE.items()},
    )


async def create_office(session: AsyncSession, body: OfficeCreate, now: datetime) -> OfficePublic:
    """Register an office.

    Raises:
        InvalidRequestError: the id exists.
    """
    office = Office(
        id=body.office_id,
        name=body.name,
        state=body.state,
        timezone=body.timezone,
        restricted=body.restricted,
        emergency_mode=body.emergency_mode,
        organizer_email=body.organizer_email,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(office)
            await session.flush()
    except IntegrityError:
        raise InvalidRequestError(f"office {body.office_id!r} exists already") from None
    return office_public(office)


async def update_office(session: AsyncSession, office_id: str, body: OfficeUpdate) -> OfficePublic:
    """Switch restricted mode and/or the emergency mode (takes effect for the next request)."""
    office = await get_office(session, office_id)
    if body.restricted is not None:
        office.restricted = body.restricted
    if body.emergency_mode is not None:
        office.emergency_mode = body.emergency_mode
    return office_public(office)


async def add_service(session: AsyncSession, office_id: str, body: ServiceCreate) -> None:
    """Add a service (what a counter does, and how long it takes)."""
    await get_office(session, office_id)
    try:
        async with session.begin_nested():
            session.add(
                Service(
                    id=body.service_id,
                    office_id=office_id,
                    name=body.name,
                    kind=body.kind,
                    duration_min=body.duration_min,
                )
            )
            await session.flush()
    except IntegrityError:
        raise InvalidRequestError(f"service {body.service_id!r} exists already") from None


async def add_counter(session: AsyncSession, office_id: str, body: CounterCreate) -> CounterPublic:
    """Add a counter serving one service of the office."""
    service = await session.get(Service, body.service_id)
    if service is None or service.office_id != office_id:
        raise NotFoundError(f"service {body.service_id!r} does not exist at office {office_id!r}")
    counter = Counter(office_id=office_id, service_id=body.service_id, name=body.name, active=True)
    session.add(counter)
    await session.flush()
    return CounterPublic(counter_id=counter.id, name=counter.name, service_id=counter.service_id, active=True)


async def list_counters(session: AsyncSession, office_id: str) -> list[CounterPublic]:
    """The office's counters."""
    await get_office(session, office_id)
    counters = await session.scalars(
        select(Counter).where(Counter.office_id == office_id).order_by(Counter.id)
    )
    return [
        CounterPublic(counter_id=c.id, name=c.name, service_id=c.service_id, active=c.active)
        for c in counters
    ]


async def set_opening_hours(session: AsyncSession, office_id: str, intervals: list[OpeningInterval]) -> None:
    """Replace the office's opening hours (existing slots stay; generate again for new ones)."""
    await get_office(session, office_id)
    await session.execute(delete(OpeningHours).where(OpeningHours.office_id == office_id))
    for interval in intervals:
        session.add(
            OpeningHours(
                office_id=office_id, weekday=interval.weekday, opens=interval.opens, closes=interval.closes
            )
        )
    await session.flush()


async def add_closure(session: AsyncSession, office_id: str, body: ClosureCreate) -> None:
    """Close the office (or a counter) for days; slots not yet generated will skip them."""
    await get_office(session, office_id)
    if body.counter_id is not None:
        counter = await session.get(Counter, body.counter_id)
        if counter is None or counter.office_id != office_id:
            raise NotFoundError(f"counter {body.counter_id} does not exist at office {office_id!r}")
    session.add(
        Closure(
            office_id=office_id,
            counter_id=body.counter_id,
            first_day=body.first_day,
            last_day=body.last_day,
            reason=body.reason,
        )
    )
    # Slots already generated for those days are withdrawn unless someone holds them; those
    # bookings stay for staff to handle (they appear on the day list).
    office = await get_office(session, office_id)
    zone = ZoneInfo(office.timezone)
    first = datetime.combine(body.first_day, time(0), tzinfo=zone)
    last = datetime.combine(body.last_day + timedelta(days=1), time(0), tzinfo=zone)
    occupied = select(Booking.id).where(Booking.slot_id == Slot.id, Booking.status.in_(OCCUPYING_STATUSES))
    query = update(Slot).where(
        Slot.office_id == office_id, Slot.starts_at >= first, Slot.starts_at < last, ~occupied.exists()
    )
    if body.counter_id is not None:
        query = query.where(Slot.counter_id == body.counter_id)
    await session.execute(query.values(withdrawn=True).execution_options(synchronize_session=False))
    await session.flush()
