"""Triage against PostgreSQL: ranking by deadline then filing time, rounds, offers, expiry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud.appointments import booking, outbox, triage
from docbox_cloud.appointments.errors import (
    BookingStateError,
    InvalidRequestError,
    PersonHasBookingError,
    TriageModeError,
)
from docbox_cloud.appointments.models import Slot, TriageRequest
from docbox_cloud.appointments.schemas import TriageRequestCreate
from docbox_cloud.db import transaction
from docbox_cloud.notify import ConsoleNotifier
from tests.cloud.appointments.factories import (
    NOW,
    TODAY,
    emergency_request,
    make_context,
    seed_office,
    slot_ids,
)

CTX = make_context(offer_window_s=3600, max_missed_offers=2)


def _request(document: str, case: dict[str, Any]) -> TriageRequestCreate:
    return TriageRequestCreate.model_validate(
        {
            "language": "en",
            "contact": {"channel": "email", "address": f"{document.lower()}@example.org"},
            "case": case,
            "document_number": document,
        }
    )


def _travel(days: int) -> dict[str, Any]:
    return {
        "category": "urgent_travel",
        "travel_date": (TODAY + timedelta(days=days)).isoformat(),
        "evidence": ["passport", "travel_booking", "travel_reason"],
    }


def _permit(days: int) -> dict[str, Any]:
    return {
        "category": "permit_expiring",
        "permit_expires_on": (TODAY + timedelta(days=days)).isoformat(),
        "evidence": ["passport", "residence_permit"],
    }


async def _file(sessions: async_sessionmaker[AsyncSession], body: TriageRequestCreate, minutes: int) -> str:
    async with transaction(sessions) as session:
        public = await triage.file_request(
            session, CTX, NOW + timedelta(minutes=minutes), "triage-office", body
        )
    return str(public.request_id)


@pytest.fixture
async def triage_office(pg_sessions: async_sessionmaker[AsyncSession]) -> str:
    seed = await seed_office(
        pg_sessions, office_id="triage-office", emergency_mode="triage", emergency_counters=1, days=1
    )
    return seed.office_id


async def test_appt_triage_assigns_by_deadline_then_filing_time(
    pg_sessions: async_sessionmaker[AsyncSession], triage_office: str
) -> None:
    # Filed in this order; urgency decides, not speed.
    early_bird = await _file(pg_sessions, _request("AAAAA1", _travel(12)), 0)
    expired_permit = await _file(pg_sessions, _request("BBBBB2", _permit(-3)), 5)
    travel_soon_late = await _file(pg_sessions, _request("CCCCC3", _travel(2)), 9)
    travel_soon_first = await _file(pg_sessions, _request("DDDDD4", _travel(2)), 7)

    async with transaction(pg_sessions) as session:
        result = await triage.run_round(session, CTX, NOW + timedelta(minutes=30), triage_office)
    ranked = [str(offer.request_id) for offer in result.offers]
    assert ranked == [expired_permit, travel_soon_first, travel_soon_late, early_bird]
    assert [offer.rank for offer in result.offers] == [1, 2, 3, 4]
    starts = [offer.starts_at for offer in result.offers]
    assert starts == sorted(starts)  # the most urgent gets the earliest slot
    assert result.pending_without_slot == 0

    notifier = ConsoleNotifier()
    await outbox.deliver_due(pg_sessions, notifier, NOW + timedelta(minutes=30))
    offers = [n for n in notifier.sent if n.kind == "appointment.offer"]
    assert len(offers) == 4
    assert all(n.language == "en" for n in offers)


async def test_appt_triage_offer_accept_decline_and_expiry(
    pg_sessions: async_sessionmaker[AsyncSession], triage_office: str
) -> None:
    await _file(pg_sessions, _request("AAAAA1", _permit(1)), 0)
    await _file(pg_sessions, _request("BBBBB2", _permit(2)), 1)
    await _file(pg_sessions, _request("CCCCC3", _permit(3)), 2)
    async with transaction(pg_sessions) as session:
        first_round = await triage.run_round(session, CTX, NOW + timedelta(minutes=10), triage_office)
    assert len(first_round.offers) == 3
    notifier = ConsoleNotifier()
    await outbox.deliver_due(pg_sessions, notifier, NOW + timedelta(minutes=10))
    tokens = [n.text.split("offer?t=")[1].split()[0] for n in notifier.sent if n.kind == "appointment.offer"]

    async with transaction(pg_sessions) as session:
        accepted = await triage.accept_offer(session, CTX, NOW + timedelta(minutes=20), tokens[0])
    assert accepted.status == "confirmed"
    assert accepted.cancel_token is not None
    async with transaction(pg_sessions) as session:
        await triage.decline_offer(session, CTX, NOW + timedelta(minutes=20), tokens[1])
    async with transaction(pg_sessions) as session:
        with pytest.raises(BookingStateError):
            await triage.accept_offer(session, CTX, NOW + timedelta(minutes=21), tokens[1])

    # The third offer runs out unanswered: its request goes back to the queue and gets a new offer.
    async with transaction(pg_sessions) as session:
        second_round = await triage.run_round(session, CTX, NOW + timedelta(minutes=75), triage_office)
    assert second_round.expired_offers == 1
    assert len(second_round.offers) == 1
    async with transaction(pg_sessions) as session:
        with pytest.raises(BookingStateError):
            await triage.accept_offer(session, CTX, NOW + timedelta(minutes=76), tokens[2])
        statuses = dict(
            (await session.execute(select(TriageRequest.person_hash, TriageRequest.status))).all()
        )
    assert sorted(statuses.values()) == ["booked", "declined", "offered"]

    # Missing the second offer too closes the request.
    async with transaction(pg_sessions) as session:
        third_round = await triage.run_round(session, CTX, NOW + timedelta(minutes=140), triage_office)
        assert third_round.offers == []
        lapsed = await session.scalar(select(TriageRequest).where(TriageRequest.status == "lapsed"))
    assert lapsed is not None


async def test_appt_triage_office_has_no_direct_emergency_booking(
    pg_sessions: async_sessionmaker[AsyncSession], triage_office: str
) -> None:
    (slot_id,) = await slot_ids(pg_sessions, triage_office, "emergency", 1)
    async with transaction(pg_sessions) as session:
        with pytest.raises(TriageModeError):
            await booking.reserve(session, CTX, NOW, triage_office, emergency_request(slot_id))


async def test_appt_triage_one_pending_request_per_person(
    pg_sessions: async_sessionmaker[AsyncSession], triage_office: str
) -> None:
    await _file(pg_sessions, _request("AAAAA1", _permit(1)), 0)
    with pytest.raises(PersonHasBookingError):
        await _file(pg_sessions, _request("aaaaa-1", _travel(3)), 1)
    with pytest.raises(InvalidRequestError, match="travel_date"):
        await _file(pg_sessions, _request("ZZZZZ9", _travel(40)), 1)


async def test_appt_triage_more_requests_than_slots(
    pg_sessions: async_sessionmaker[AsyncSession], triage_office: str
) -> None:
    async with transaction(pg_sessions) as session:
        slots = len(
            (
                await session.scalars(
                    select(Slot.id).where(Slot.office_id == triage_office, Slot.kind == "emergency")
                )
            ).all()
        )
    for n in range(slots + 3):
        await _file(pg_sessions, _request(f"PERS{n:04d}", _permit(n % 5)), n)
    async with transaction(pg_sessions) as session:
        result = await triage.run_round(session, CTX, NOW, triage_office)
    # min_lead_min is 0 in the tests: every slot from NOW on is offered.
    assert len(result.offers) <= slots
    assert result.pending_without_slot == slots + 3 - len(result.offers)
    deadlines = [offer.deadline for offer in result.offers]
    assert deadlines == sorted(deadlines)
