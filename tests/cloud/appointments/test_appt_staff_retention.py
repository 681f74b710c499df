"""Staff day list, check-in, no-show, statistics; housekeeping: reminders and retention (PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud.appointments import booking, outbox, retention, staff
from docbox_cloud.appointments.errors import BookingStateError
from docbox_cloud.appointments.models import Booking, OutboxMessage
from docbox_cloud.appointments.schemas import BookingPublic
from docbox_cloud.db import transaction
from docbox_cloud.notify import ConsoleNotifier
from tests.cloud.appointments.factories import (
    NOW,
    TODAY,
    OfficeSeed,
    emergency_request,
    make_context,
    slot_ids,
)

CTX = make_context(retention_days=30, reminder_before_h=24)


async def _book(
    sessions: async_sessionmaker[AsyncSession], office: OfficeSeed, slot_id: int, person: str
) -> BookingPublic:
    async with transaction(sessions) as session:
        reservation, code = await booking.reserve(
            session, CTX, NOW, office.office_id, emergency_request(slot_id, person)
        )
        return await booking.confirm_by_code(session, CTX, NOW, reservation.booking_id, code)


async def test_appt_staff_day_list_check_in_no_show_stats(
    pg_sessions: async_sessionmaker[AsyncSession], office: OfficeSeed
) -> None:
    first, second, third = await slot_ids(pg_sessions, office.office_id, "emergency", 3)
    a = await _book(pg_sessions, office, first, "PERSON01")
    b = await _book(pg_sessions, office, second, "PERSON02")
    c = await _book(pg_sessions, office, third, "PERSON03")
    assert c.cancel_token is not None
    async with transaction(pg_sessions) as session:
        await booking.cancel(session, CTX, NOW, c.cancel_token)

    async with transaction(pg_sessions) as session:
        entries = await staff.day_list(session, office.office_id, TODAY)
    assert [e.booking_id for e in entries] == sorted(
        [a.booking_id, b.booking_id], key=lambda i: [e.booking_id for e in entries].index(i)
    )
    assert {e.booking_id for e in entries} == {a.booking_id, b.booking_id}
    assert all(e.evidence == ["passport", "residence_permit"] for e in entries)
    assert entries[0].local_start.endswith("+01:00")

    later = NOW + timedelta(hours=6)
    async with transaction(pg_sessions) as session:
        assert await staff.check_in(session, office.office_id, a.booking_id, later) == "checked_in"
        assert await staff.no_show(session, office.office_id, b.booking_id, later) == "no_show"
    async with transaction(pg_sessions) as session:
        with pytest.raises(BookingStateError):
            await staff.no_show(session, office.office_id, a.booking_id, later)

    async with transaction(pg_sessions) as session:
        counts = await staff.stats(session, office.office_id, TODAY, TODAY)
    by_category = {c.category: c.by_status for c in counts.categories}
    assert by_category["permit_expiring"] == {"checked_in": 1, "no_show": 1, "cancelled": 1}
    assert by_category["ordinary"] == {}


async def test_appt_housekeeping_reminds_then_anonymises_but_keeps_counts(
    pg_sessions: async_sessionmaker[AsyncSession], office: OfficeSeed
) -> None:
    (tomorrow_slot,) = await slot_ids(
        pg_sessions, office.office_id, "emergency", 1, after=NOW + timedelta(days=1, hours=2)
    )
    confirmed = await _book(pg_sessions, office, tomorrow_slot, "PERSON01")
    await outbox.deliver_due(pg_sessions, ConsoleNotifier(), NOW)

    # A day before the appointment: a reminder goes out once.
    day_before = NOW + timedelta(hours=16)
    async with transaction(pg_sessions) as session:
        result = await retention.housekeeping(session, CTX, day_before)
    assert result.reminders == 1
    async with transaction(pg_sessions) as session:
        assert (await retention.housekeeping(session, CTX, day_before)).reminders == 0
    notifier = ConsoleNotifier()
    await outbox.deliver_due(pg_sessions, notifier, day_before)
    (reminder,) = notifier.sent
    assert reminder.kind == "appointment.reminder"
    assert reminder.language == "de"

    # Nobody checked in: the next day it counts as a no-show; after the retention period the
    # personal data are gone, the anonymous counts stay.
    async with transaction(pg_sessions) as session:
        result = await retention.housekeeping(session, CTX, NOW + timedelta(days=3))
    assert result.closed_no_shows == 1
    assert result.anonymised_bookings == 0
    async with transaction(pg_sessions) as session:
        result = await retention.housekeeping(session, CTX, NOW + timedelta(days=32))
    assert result.anonymised_bookings == 1
    async with transaction(pg_sessions) as session:
        row = await session.get(Booking, confirmed.booking_id)
        assert row is not None
        assert (row.contact, row.person_hash, row.details, row.cancel_token_hash) == (None, None, None, None)
        assert row.status == "no_show"
        assert row.category == "permit_expiring"
        counts = await staff.stats(session, office.office_id, TODAY, TODAY + timedelta(days=2))
        assert await session.scalar(select(OutboxMessage.id)) is None
    by_category = {c.category: c.by_status for c in counts.categories}
    assert by_category["permit_expiring"] == {"no_show": 1}
