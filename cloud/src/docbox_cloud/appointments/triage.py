"""Triage: emergency requests are ranked by urgency and offered slots in rounds.

Ranking (docs/appointments.md): earliest deadline first; equal deadlines by filing time;
then by request id, so the order is total and reproducible. A round expires the offers
nobody answered in time, then walks the free emergency slots earliest first and offers the
n-th slot to the n-th ranked pending request. Each offer can be accepted within
``offer_window_s``; an unanswered offer returns the request to the queue (keeping its rank)
until it has missed ``max_missed_offers`` offers. Clicking fast wins nothing: there is no
public list of emergency slots, and a request's filing time only breaks ties between
equal deadlines.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Literal, cast
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from docbox_cloud.appointments import messages, outbox
from docbox_cloud.appointments.booking import confirm_booking, get_office, insert_booking
from docbox_cloud.appointments.categories import assess
from docbox_cloud.appointments.context import AppointmentContext
from docbox_cloud.appointments.errors import (
    BookingStateError,
    InvalidRequestError,
    NotFoundError,
    PersonHasBookingError,
    SlotTakenError,
)
from docbox_cloud.appointments.models import Booking, Counter, Office, Slot, TriageRequest
from docbox_cloud.appointments.schemas import (
    BookingPublic,
    OfferPublic,
    RoundOffer,
    RoundResult,
    TriageRequestCreate,
    TriageRequestPublic,
)
from docbox_cloud.appointments.tokens import new_token, person_hash, token_hash
from docbox_cloud.appointments.views import appointment_view, slot_public


async def file_request(
    session: AsyncSession, ctx: AppointmentContext, now: datetime, office_id: str, body: TriageRequestCreate
) -> TriageRequestPublic:
    """File an emergency request; the applicant gets a status link.

    Raises:
        NotFoundError: unknown office.
        InvalidRequestError: the office books emergencies directly, or the case does not qualify.
        PersonHasBookingError: the person has a pending request at this office already.
    """
    office = await get_office(session, office_id)
    if office.emergency_mode != "triage":
        raise InvalidRequestError("this office books emergency slots directly: reserve a free slot instead")
    today = now.astimezone(ZoneInfo(office.timezone)).date()
    deadline = assess(body.case, today, ctx.settings)
    status_token = new_token()
    request = TriageRequest(
        id=uuid.uuid4(),
        office_id=office_id,
        status="pending",
        category=body.case.category,
        details=body.case.model_dump(mode="json", exclude={"category"}),
        deadline=deadline,
        filed_at=now,
        person_hash=person_hash(body.document_number, ctx.person_key),
        contact_channel=body.contact.channel,
        contact=body.contact.address,
        language=body.language,
        status_token_hash=token_hash(status_token),
        missed_offers=0,
    )
    try:
        async with session.begin_nested():
            session.add(request)
            await session.flush()
    except IntegrityError:
        raise PersonHasBookingError("you have a pending emergency request at this office already") from None
    link = ctx.link(f"/booking/{body.language}/request?t={status_token}")
    outbox.enqueue(
        session,
        messages.request_filed_message(
            body.language, body.contact.channel, body.contact.address, link, body.case.category
        ),
        now,
    )
    public = await request_public(session, request)
    return public.model_copy(update={"status_token": status_token})


async def request_public(session: AsyncSession, request: TriageRequest) -> TriageRequestPublic:
    """API form of a request, with its live offer if any."""
    offer: OfferPublic | None = None
    if request.status == "offered":
        row = (
            await session.execute(
                select(Booking, Slot, Counter, Office)
                .join(Slot, Booking.slot_id == Slot.id)
                .join(Counter, Slot.counter_id == Counter.id)
                .join(Office, Booking.office_id == Office.id)
                .where(Booking.triage_request_id == request.id, Booking.status == "offered")
            )
        ).first()
        if row is not None:
            booking, slot, counter, office = row
            assert booking.hold_expires_at is not None
            offer = OfferPublic(
                slot=slot_public(slot, counter, office.timezone), expires_at=booking.hold_expires_at
            )
    return TriageRequestPublic(
        request_id=request.id,
        status=cast(
            Literal["pending", "offered", "booked", "declined", "lapsed", "withdrawn"], request.status
        ),
        category=cast(
            Literal["permit_expiring", "job_at_risk", "urgent_travel", "document_lost"], request.category
        ),
        deadline=request.deadline,
        filed_at=request.filed_at,
        offer=offer,
    )


async def find_request(session: AsyncSession, status_token: str) -> TriageRequest:
    """The request a status token belongs to.

    Raises:
        NotFoundError: unknown token.
    """
    request = await session.scalar(
        select(TriageRequest).where(TriageRequest.status_token_hash == token_hash(status_token))
    )
    if request is None:
        raise NotFoundError("unknown request link")
    return request


async def expire_offers(
    session: AsyncSession, ctx: AppointmentContext, now: datetime, office_id: str | None = None
) -> int:
    """Expire unanswered offers; their requests return to the queue or lapse. Return how many."""
    query = select(Booking).where(Booking.status == "offered", Booking.hold_expires_at <= now)
    if office_id is not None:
        query = query.where(Booking.office_id == office_id)
    stale = (await session.scalars(query.with_for_update(skip_locked=True))).all()
    for booking in stale:
        # No hold-back: triage slots are assigned by rank, so nobody can pass one to a friend.
        booking.status = "expired"
        if booking.triage_request_id is None:
            continue
        request = await session.get(TriageRequest, booking.triage_request_id, with_for_update=True)
        if request is None or request.status != "offered":
            continue
        request.missed_offers += 1
        request.offer_expires_at = None
        request.status = "lapsed" if request.missed_offers >= ctx.settings.max_missed_offers else "pending"
    if stale:
        await session.flush()
    return len(stale)


def ranking_key(request: TriageRequest) -> tuple[object, ...]:
    """The documented triage order: deadline, then filing time, then id."""
    return (request.deadline, request.filed_at, request.id)


async def run_round(
    session: AsyncSession, ctx: AppointmentContext, now: datetime, office_id: str
) -> RoundResult:
    """Run one triage round at ``office_id`` (see the module docstring).

    Concurrent rounds of one office are serialised by a row lock on the office.

    Raises:
        NotFoundError: unknown office.
    """
    office = await session.get(Office, office_id, with_for_update=True)
    if office is None:
        raise NotFoundError(f"office {office_id!r} does not exist")
    expired = await expire_offers(session, ctx, now, office_id)

    pending = sorted(
        (
            await session.scalars(
                select(TriageRequest)
                .where(TriageRequest.office_id == office_id, TriageRequest.status == "pending")
                .order_by(TriageRequest.deadline, TriageRequest.filed_at, TriageRequest.id)
                .with_for_update()
            )
        ).all(),
        key=ranking_key,
    )
    occupied = select(Booking.id).where(
        Booking.slot_id == Slot.id,
        Booking.status.in_(("held", "offered", "confirmed", "checked_in", "no_show")),
    )
    settings = ctx.settings
    slots = (
        await session.scalars(
            select(Slot)
            .where(
                Slot.office_id == office_id,
                Slot.kind == "emergency",
                Slot.withdrawn.is_(False),
                Slot.starts_at >= now + timedelta(minutes=settings.min_lead_min),
                Slot.starts_at <= now + timedelta(days=settings.horizon_days),
                ~occupied.exists(),
            )
            .order_by(Slot.starts_at, Slot.counter_id)
            .limit(max(len(pending), 1) * 2)
        )
    ).all()

    offers: list[RoundOffer] = []
    free = list(slots)
    for rank, request in enumerate(pending, start=1):
        if not free:
            break
        offer = await _offer_next_slot(session, ctx, now, request, free)
        if offer is not None:
            offers.append(offer.model_copy(update={"rank": rank}))
    return RoundResult(expired_offers=expired, offers=offers, pending_without_slot=len(pending) - len(offers))


async def _offer_next_slot(
    session: AsyncSession, ctx: AppointmentContext, now: datetime, request: TriageRequest, free: list[Slot]
) -> RoundOffer | None:
    """Offer ``request`` the earliest slot of ``free`` that can still be had (consuming it)."""
    while free:
        slot = free.pop(0)
        offer_token = new_token()
        booking = Booking(
            id=uuid.uuid4(),
            office_id=request.office_id,
            slot_id=slot.id,
            kind="emergency",
            status="offered",
            category=request.category,
            details=request.details,
            person_hash=request.person_hash,
            contact_channel=request.contact_channel,
            contact=request.contact,
            language=request.language,
            created_at=now,
            hold_expires_at=now + timedelta(seconds=ctx.settings.offer_window_s),
            extensions=0,
            confirm_token_hash=token_hash(offer_token),
            confirm_attempts=0,
            ics_sequence=0,
            triage_request_id=request.id,
        )
        try:
            await insert_booking(session, booking)
        except SlotTakenError:
            continue  # taken since the query (e.g. by staff): try the next slot
        except PersonHasBookingError:
            # The person holds a live emergency booking already: they keep waiting, and the
            # slot goes to the next ranked request.
            free.insert(0, slot)
            return None
        request.status = "offered"
        request.offer_expires_at = booking.hold_expires_at
        view = await appointment_view(session, booking)
        link = ctx.link(f"/booking/{request.language}/offer?t={offer_token}")
        assert booking.hold_expires_at is not None
        outbox.enqueue(session, messages.offer_message(view, link, booking.hold_expires_at), now)
        return RoundOffer(
            request_id=request.id,
            booking_id=booking.id,
            slot_id=slot.id,
            starts_at=slot.starts_at,
            deadline=request.deadline,
            rank=0,
        )
    return None


async def _offer_booking(session: AsyncSession, token: str) -> Booking:
    booking = await session.scalar(
        select(Booking)
        .where(Booking.confirm_token_hash == token_hash(token), Booking.triage_request_id.is_not(None))
        .with_for_update()
    )
    if booking is None:
        raise NotFoundError("unknown offer link")
    return booking


async def accept_offer(
    session: AsyncSession, ctx: AppointmentContext, now: datetime, token: str
) -> BookingPublic:
    """Accept an offer: the booking is confirmed and the invitation sent.

    Raises:
        NotFoundError: unknown token.
        BookingStateError: the offer expired or was answered already.
    """
    booking = await _offer_booking(session, token)
    if booking.status != "offered" or booking.hold_expires_at is None or booking.hold_expires_at <= now:
        raise BookingStateError("this offer is no longer open")
    request = await session.get(TriageRequest, booking.triage_request_id, with_for_update=True)
    assert request is not None
    request.status = "booked"
    request.offer_expires_at = None
    # Confirm exactly like a direct booking (new cancel token, invitation with SEQUENCE 0).
    return await confirm_booking(session, ctx, now, booking)


async def decline_offer(session: AsyncSession, ctx: AppointmentContext, now: datetime, token: str) -> None:
    """Decline an offer: the request closes and the slot goes to the next round.

    Raises:
        NotFoundError: unknown token.
        BookingStateError: the offer expired or was answered already.
    """
    booking = await _offer_booking(session, token)
    if booking.status != "offered":
        raise BookingStateError("this offer is no longer open")
    booking.status = "declined"
    request = await session.get(TriageRequest, booking.triage_request_id, with_for_update=True)
    assert request is not None
    request.status = "declined"
    request.offer_expires_at = None


async def offer_of(session: AsyncSession, token: str) -> tuple[Booking, TriageRequest]:
    """The booking and request an offer token belongs to (for the offer page)."""
    booking = await _offer_booking(session, token)
    request = await session.get(TriageRequest, booking.triage_request_id)
    assert request is not None
    return booking, request
