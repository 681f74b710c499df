"""Loading what messages and API answers show about a booking."""

from __future__ import annotations

from typing import Literal, cast
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from docbox_cloud.appointments.messages import AppointmentView
from docbox_cloud.appointments.models import Booking, Counter, Office, Slot
from docbox_cloud.appointments.schemas import SlotPublic


def slot_public(slot: Slot, counter: Counter, timezone: str) -> SlotPublic:
    """API form of a slot."""
    return SlotPublic(
        slot_id=slot.id,
        kind=cast(Literal["emergency", "ordinary", "pickup"], slot.kind),
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        local_start=slot.starts_at.astimezone(ZoneInfo(timezone)).isoformat(timespec="minutes"),
        counter=counter.name,
    )


async def load(session: AsyncSession, booking: Booking) -> tuple[Office, Slot, Counter]:
    """The office, slot and counter of ``booking``."""
    slot = await session.get(Slot, booking.slot_id)
    assert slot is not None  # foreign key
    counter = await session.get(Counter, slot.counter_id)
    office = await session.get(Office, booking.office_id)
    assert counter is not None
    assert office is not None
    return office, slot, counter


async def appointment_view(session: AsyncSession, booking: Booking) -> AppointmentView:
    """The message view of ``booking`` (which must still have its contact)."""
    office, slot, counter = await load(session, booking)
    assert booking.contact is not None
    assert booking.contact_channel in ("email", "sms")
    return AppointmentView(
        booking_id=booking.id,
        office_name=office.name,
        office_timezone=office.timezone,
        organizer_email=office.organizer_email,
        counter_name=counter.name,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        category=booking.category,
        language=booking.language,
        contact_channel=cast(Literal["email", "sms"], booking.contact_channel),
        contact=booking.contact,
        sequence=booking.ics_sequence,
    )
