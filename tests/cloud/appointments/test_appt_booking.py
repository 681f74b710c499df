"""Direct booking against PostgreSQL: hold, extend, confirm, cancel, hold-back, restricted mode."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud.appointments import booking, offices, outbox
from docbox_cloud.appointments.errors import (
    BookingStateError,
    HoldExpiredError,
    InvalidRequestError,
    PersonHasBookingError,
    RestrictedModeError,
    SlotTakenError,
    SlotUnavailableError,
    WrongCodeError,
)
from docbox_cloud.appointments.models import Booking, OutboxMessage, Slot
from docbox_cloud.appointments.schemas import Contact, OfficeUpdate, ReservationPublic, ReserveRequest
from docbox_cloud.db import transaction
from docbox_cloud.notify import ConsoleNotifier
from tests.cloud.appointments.factories import NOW, OfficeSeed, emergency_request, make_context, slot_ids

CTX = make_context(cancel_holdback_s=1800, hold_s=600, max_extensions=1, confirm_attempts=3)


async def _reserve(
    sessions: async_sessionmaker[AsyncSession],
    office: OfficeSeed,
    request: ReserveRequest,
    now: datetime = NOW,
) -> tuple[ReservationPublic, str]:
    async with transaction(sessions) as session:
        return await booking.reserve(session, CTX, now, office.office_id, request)


async def test_appt_reserve_confirm_cancel_flow(
    pg_sessions: async_sessionmaker[AsyncSession], office: OfficeSeed
) -> None:
    (slot_id,) = await slot_ids(pg_sessions, office.office_id, "emergency", 1)
    reservation, code = await _reserve(pg_sessions, office, emergency_request(slot_id))
    assert reservation.status == "held"
    assert reservation.hold_expires_at == NOW + timedelta(seconds=600)
    assert len(reservation.hold_token) >= 22  # 128 bits, URL-safe base64

    async with transaction(pg_sessions) as session:
        confirmed = await booking.confirm_by_code(
            session, CTX, NOW + timedelta(minutes=2), reservation.booking_id, code
        )
    assert confirmed.status == "confirmed"
    assert confirmed.cancel_token is not None

    notifier = ConsoleNotifier()
    assert await outbox.deliver_due(pg_sessions, notifier, NOW + timedelta(minutes=2)) == 2
    code_message, confirmation = notifier.sent
    assert code in code_message.text
    assert code not in code_message.subject  # subjects are logged by the console notifier
    assert code_message.language == "de"
    assert confirmation.kind == "appointment.confirmation"
    assert confirmation.attachments[0].content_type.startswith("text/calendar; method=REQUEST")
    assert confirmed.cancel_token in confirmation.text

    async with transaction(pg_sessions) as session:
        cancelled = await booking.cancel(session, CTX, NOW + timedelta(minutes=5), confirmed.cancel_token)
    assert cancelled.status == "cancelled"
    await outbox.deliver_due(pg_sessions, notifier, NOW + timedelta(minutes=5))
    notice = notifier.sent[-1]
    assert notice.kind == "appointment.cancellation"
    assert b"METHOD:CANCEL" in notice.attachments[0].data
    assert b"SEQUENCE:1" in notice.attachments[0].data

    # Held back against slot trading: nobody can book it for 30 minutes, then anyone can.
    with pytest.raises(SlotUnavailableError, match="released recently"):
        await _reserve(
            pg_sessions, office, emergency_request(slot_id, "X123456"), NOW + timedelta(minutes=20)
        )
    again, _ = await _reserve(
        pg_sessions, office, emergency_request(slot_id, "X123456"), NOW + timedelta(minutes=36)
    )
    assert again.slot.slot_id == slot_id

    async with transaction(pg_sessions) as session:
        with pytest.raises(BookingStateError, match="cancelled"):
            await booking.cancel(session, CTX, NOW + timedelta(minutes=40), confirmed.cancel_token)


async def test_appt_second_hold_on_a_slot_is_refused(
    pg_sessions: async_sessionmaker[AsyncSession], office: OfficeSeed
) -> None:
    (slot_id,) = await slot_ids(pg_sessions, office.office_id, "emergency", 1)
    await _reserve(pg_sessions, office, emergency_request(slot_id, "AAA11111"))
    with pytest.raises(SlotTakenError):
        await _reserve(pg_sessions, office, emergency_request(slot_id, "BBB22222"))


async def test_appt_one_live_emergency_booking_per_person(
    pg_sessions: async_sessionmaker[AsyncSession], office: OfficeSeed
) -> None:
    first, second = await slot_ids(pg_sessions, office.office_id, "emergency", 2)
    await _reserve(pg_sessions, office, emergency_request(first, "C01X00T47"))
    # The same number typed differently is the same person.
    with pytest.raises(PersonHasBookingError):
        await _reserve(pg_sessions, office, emergency_request(second, "c01x-00t 47"))


async def test_appt_expired_hold_frees_the_slot_after_the_holdback(
    pg_sessions: async_sessionmaker[AsyncSession], office: OfficeSeed
) -> None:
    (slot_id,) = await slot_ids(pg_sessions, office.office_id, "emergency", 1)
    reservation, code = await _reserve(pg_sessions, office, emergency_request(slot_id, "AAA11111"))
    expired_at = reservation.hold_expires_at
    with pytest.raises(HoldExpiredError):
        async with transaction(pg_sessions) as session:
            await booking.confirm_by_code(
                session, CTX, expired_at + timedelta(seconds=1), reservation.booking_id, code
            )
    with pytest.raises(SlotUnavailableError):
        await _reserve(
            pg_sessions, office, emergency_request(slot_id, "BBB22222"), expired_at + timedelta(minutes=29)
        )
    # The same person may book again once their hold ran out (the index counts live holds only).
    (other,) = await slot_ids(pg_sessions, office.office_id, "emergency", 1, after=NOW + timedelta(hours=3))
    await _reserve(
        pg_sessions, office, emergency_request(other, "AAA11111"), expired_at + timedelta(minutes=1)
    )
    later, _ = await _reserve(
        pg_sessions, office, emergency_request(slot_id, "BBB22222"), expired_at + timedelta(minutes=31)
    )
    assert later.slot.slot_id == slot_id


async def test_appt_extend_once_then_refused(
    pg_sessions: async_sessionmaker[AsyncSession], office: OfficeSeed
) -> None:
    (slot_id,) = await slot_ids(pg_sessions, office.office_id, "emergency", 1)
    reservation, _ = await _reserve(pg_sessions, office, emergency_request(slot_id))
    async with transaction(pg_sessions) as session:
        with pytest.raises(WrongCodeError):
            await booking.extend(session, CTX, NOW, reservation.booking_id, "x" * 22)
    async with transaction(pg_sessions) as session:
        extended = await booking.extend(
            session, CTX, NOW + timedelta(minutes=8), reservation.booking_id, reservation.hold_token
        )
    assert extended.hold_expires_at == reservation.hold_expires_at + timedelta(seconds=300)
    assert extended.extensions_left == 0
    async with transaction(pg_sessions) as session:
        with pytest.raises(BookingStateError, match="maximum"):
            await booking.extend(
                session, CTX, NOW + timedelta(minutes=9), reservation.booking_id, reservation.hold_token
            )


async def test_appt_wrong_codes_void_the_hold(
    pg_sessions: async_sessionmaker[AsyncSession], office: OfficeSeed
) -> None:
    (slot_id,) = await slot_ids(pg_sessions, office.office_id, "emergency", 1)
    reservation, code = await _reserve(pg_sessions, office, emergency_request(slot_id))
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for attempt in range(3):
        # Each attempt in its own transaction, committed although it fails (as the route does).
        async with transaction(pg_sessions) as session:
            try:
                await booking.confirm_by_code(session, CTX, NOW, reservation.booking_id, wrong)
            except (WrongCodeError, HoldExpiredError) as exc:
                error = exc
        assert isinstance(error, WrongCodeError if attempt < 2 else HoldExpiredError)
    async with transaction(pg_sessions) as session:
        with pytest.raises(HoldExpiredError):
            await booking.confirm_by_code(session, CTX, NOW, reservation.booking_id, code)
        status = await session.scalar(select(Booking.status).where(Booking.id == reservation.booking_id))
    assert status == "expired"


async def test_appt_confirm_by_link_token(
    pg_sessions: async_sessionmaker[AsyncSession], office: OfficeSeed
) -> None:
    (slot_id,) = await slot_ids(pg_sessions, office.office_id, "emergency", 1)
    await _reserve(pg_sessions, office, emergency_request(slot_id))
    notifier = ConsoleNotifier()
    await outbox.deliver_due(pg_sessions, notifier, NOW)
    match = re.search(r"confirm\?t=([A-Za-z0-9_-]{22})", notifier.sent[0].text)
    assert match is not None
    async with transaction(pg_sessions) as session:
        confirmed = await booking.confirm_by_token(session, CTX, NOW, match.group(1))
    assert confirmed.status == "confirmed"


async def test_appt_restricted_mode_refuses_ordinary_with_advice(
    pg_sessions: async_sessionmaker[AsyncSession], office: OfficeSeed
) -> None:
    (slot_id,) = await slot_ids(pg_sessions, office.office_id, "ordinary", 1)
    request = ReserveRequest(slot_id=slot_id, contact=Contact(address="anna@example.org"))
    with pytest.raises(RestrictedModeError, match="emergency appointment instead"):
        await _reserve(pg_sessions, office, request)


async def test_appt_emergency_must_qualify(
    pg_sessions: async_sessionmaker[AsyncSession], office: OfficeSeed
) -> None:
    (slot_id,) = await slot_ids(pg_sessions, office.office_id, "emergency", 1)
    far = emergency_request(slot_id)
    assert far.case is not None
    far = far.model_copy(
        update={"case": far.case.model_copy(update={"permit_expires_on": NOW.date() + timedelta(days=90)})}
    )
    with pytest.raises(InvalidRequestError, match="permit_expires_on"):
        await _reserve(pg_sessions, office, far)
    missing_evidence = emergency_request(slot_id)
    assert missing_evidence.case is not None
    missing_evidence = missing_evidence.model_copy(
        update={"case": missing_evidence.case.model_copy(update={"evidence": ["passport"]})}
    )
    with pytest.raises(InvalidRequestError, match="residence_permit"):
        await _reserve(pg_sessions, office, missing_evidence)


async def test_appt_pickup_slot_needs_a_document_reference(
    pg_sessions: async_sessionmaker[AsyncSession], office: OfficeSeed
) -> None:
    (slot_id,) = await slot_ids(pg_sessions, office.office_id, "pickup", 1)
    with pytest.raises(InvalidRequestError, match="document_ref"):
        await _reserve(
            pg_sessions, office, ReserveRequest(slot_id=slot_id, contact=Contact(address="a@b.example"))
        )
    reservation, _ = await _reserve(
        pg_sessions,
        office,
        ReserveRequest(slot_id=slot_id, contact=Contact(address="a@b.example"), document_ref="DOC-1"),
    )
    assert reservation.slot.kind == "pickup"


async def test_appt_free_slots_hide_held_and_held_back_slots(
    pg_sessions: async_sessionmaker[AsyncSession], office: OfficeSeed
) -> None:
    first, second = await slot_ids(pg_sessions, office.office_id, "emergency", 2)
    start = NOW + timedelta(hours=2, minutes=1)
    query = booking.FreeSlotQuery(office.office_id, "emergency", start, NOW + timedelta(days=1), limit=3)
    async with transaction(pg_sessions) as session:
        before = [s.id for s in await booking.free_slots(session, CTX, NOW, query)]
    assert before[:2] == [first, second]
    await _reserve(pg_sessions, office, emergency_request(first))
    async with transaction(pg_sessions) as session:
        after = [s.id for s in await booking.free_slots(session, CTX, NOW, query)]
        total = await session.scalar(select(func.count()).select_from(Slot).where(Slot.kind == "emergency"))
        queued = await session.scalar(select(func.count()).select_from(OutboxMessage))
    assert first not in after
    assert second in after
    assert total == 2 * (12 + 6) * 5  # 2 counters x (4 h + 2 h of 20-min slots) x 5 days
    assert queued == 1


async def test_appt_ordinary_booking_once_restriction_is_lifted(
    pg_sessions: async_sessionmaker[AsyncSession], office: OfficeSeed
) -> None:
    async with transaction(pg_sessions) as session:
        public = await offices.update_office(session, office.office_id, OfficeUpdate(restricted=False))
    assert public.restricted is False
    (slot_id,) = await slot_ids(pg_sessions, office.office_id, "ordinary", 1)
    reservation, code = await _reserve(
        pg_sessions,
        office,
        ReserveRequest(slot_id=slot_id, contact=Contact(channel="sms", address="+4915112345678")),
    )
    async with transaction(pg_sessions) as session:
        confirmed = await booking.confirm_by_code(session, CTX, NOW, reservation.booking_id, code)
    assert (confirmed.kind, confirmed.category) == ("ordinary", None)
    notifier = ConsoleNotifier()
    await outbox.deliver_due(pg_sessions, notifier, NOW)
    assert [n.channel for n in notifier.sent] == ["sms", "sms"]
    assert notifier.sent[1].attachments == ()  # no calendar file by SMS
