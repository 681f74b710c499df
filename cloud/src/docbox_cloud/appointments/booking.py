"""Direct booking: reserve (hold), extend, confirm, cancel.

Every function works in the caller's transaction and takes ``now`` explicitly. The one-slot,
one-booking rule is enforced by the database (partial unique index, see models); a losing
insert surfaces as :class:`SlotTakenError`. Confirmed bookings cannot be edited: cancel and
book anew.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from docbox_cloud.appointments import messages, outbox
from docbox_cloud.appointments.categories import assess
from docbox_cloud.appointments.context import AppointmentContext
from docbox_cloud.appointments.errors import (
    BookingStateError,
    HoldExpiredError,
    InvalidRequestError,
    NotFoundError,
    PersonHasBookingError,
    RestrictedModeError,
    SlotTakenError,
    SlotUnavailableError,
    TriageModeError,
    WrongCodeError,
)
from docbox_cloud.appointments.models import Booking, Office, Slot
from docbox_cloud.appointments.schemas import (
    BookingPublic,
    HoldPublic,
    ReservationPublic,
    ReserveRequest,
)
from docbox_cloud.appointments.tokens import new_code, new_token, person_hash, token_hash
from docbox_cloud.appointments.views import appointment_view, load, slot_public

RESTRICTED_MESSAGE = (
    "This office is in restricted mode and accepts emergency appointments only. "
    "If your residence permit has expired or expires soon, you may lose your job, you must travel "
    "abroad urgently, or you lost your residence document, book an emergency appointment instead. "
    "Otherwise submit your application in writing or with the online form; "
    "regular appointments will be offered again when the restriction ends."
)


def _violated(exc: IntegrityError, index: str, column: str) -> bool:
    # PostgreSQL names the index; SQLite names the table and column.
    text = str(exc.orig)
    return index in text or f"appt_bookings.{column}" in text


def release_slot(slot: Slot, released_at: datetime, holdback: timedelta) -> None:
    """Keep a released slot unbookable for ``holdback`` (against handing slots to a friend)."""
    candidate = released_at + holdback
    if slot.available_from is None or slot.available_from < candidate:
        slot.available_from = candidate


async def expire_stale_holds(
    session: AsyncSession, ctx: AppointmentContext, now: datetime, **where: object
) -> int:
    """Mark held bookings past their expiry as expired (all, or those matching ``where``).

    The slot's hold-back counts from the hold's expiry, so the result is the same whether this
    runs at once or hours later.
    """
    query = select(Booking).where(Booking.status == "held", Booking.hold_expires_at <= now)
    for column, value in where.items():
        query = query.where(getattr(Booking, column) == value)
    stale = (await session.scalars(query.with_for_update(skip_locked=True))).all()
    holdback = timedelta(seconds=ctx.settings.cancel_holdback_s)
    for booking in stale:
        booking.status = "expired"
        slot = await session.get(Slot, booking.slot_id)
        assert slot is not None
        assert booking.hold_expires_at is not None
        release_slot(slot, booking.hold_expires_at, holdback)
    if stale:
        await session.flush()
    return len(stale)


async def get_office(session: AsyncSession, office_id: str) -> Office:
    """The office, or :class:`NotFoundError`."""
    office = await session.get(Office, office_id)
    if office is None:
        raise NotFoundError(f"office {office_id!r} does not exist")
    return office


def check_bookable(slot: Slot, ctx: AppointmentContext, now: datetime) -> None:
    """Raise :class:`SlotUnavailableError` unless ``slot`` can be booked at ``now``."""
    settings = ctx.settings
    if slot.withdrawn:
        raise SlotUnavailableError("the slot was withdrawn by the office")
    if slot.starts_at < now + timedelta(minutes=settings.min_lead_min):
        raise SlotUnavailableError(f"the slot starts too soon (less than {settings.min_lead_min} minutes)")
    if slot.starts_at > now + timedelta(days=settings.horizon_days):
        raise SlotUnavailableError(f"the slot is more than {settings.horizon_days} days ahead")
    if slot.available_from is not None and slot.available_from > now:
        raise SlotUnavailableError("the slot was released recently and is not bookable yet")


async def reserve(
    session: AsyncSession, ctx: AppointmentContext, now: datetime, office_id: str, request: ReserveRequest
) -> tuple[ReservationPublic, str]:
    """Hold a slot for the applicant and send them the confirmation code.

    Returns:
        The reservation and the confirmation code (the code is only for tests and logs-free
        demos; the API never returns it).

    Raises:
        NotFoundError: unknown office or slot.
        RestrictedModeError: an ordinary slot while the office is in restricted mode.
        TriageModeError: an emergency slot while the office assigns them by triage.
        InvalidRequestError: missing or non-qualifying emergency data.
        SlotUnavailableError: slot in the past, too far ahead, withdrawn or held back.
        SlotTakenError: someone else holds or booked the slot.
        PersonHasBookingError: the person already has a live emergency booking.
    """
    office = await get_office(session, office_id)
    slot = await session.get(Slot, request.slot_id)
    if slot is None or slot.office_id != office_id:
        raise NotFoundError(f"slot {request.slot_id} does not exist at office {office_id!r}")

    category: str | None = None
    details: dict[str, object] | None = None
    hashed_person: str | None = None
    if slot.kind == "ordinary" and office.restricted:
        raise RestrictedModeError(RESTRICTED_MESSAGE)
    if slot.kind == "emergency":
        if office.emergency_mode == "triage":
            raise TriageModeError(
                "this office assigns emergency slots by urgency: file a request at "
                f"/api/v1/appointments/offices/{office_id}/triage-requests instead"
            )
        if request.case is None or request.document_number is None:
            raise InvalidRequestError("case and document_number are required for an emergency slot")
        assess(request.case, now.astimezone(ZoneInfo(office.timezone)).date(), ctx.settings)
        category = request.case.category
        details = request.case.model_dump(mode="json", exclude={"category"})
        hashed_person = person_hash(request.document_number, ctx.person_key)
    elif request.case is not None:
        raise InvalidRequestError(f"case is only for emergency slots, this is a {slot.kind} slot")
    if slot.kind == "pickup" and request.document_ref is None:
        raise InvalidRequestError("document_ref is required for a pickup slot")

    await expire_stale_holds(session, ctx, now, slot_id=slot.id)
    if hashed_person is not None:
        await expire_stale_holds(session, ctx, now, person_hash=hashed_person)
    check_bookable(slot, ctx, now)

    hold_token, confirm_token, code = new_token(), new_token(), new_code()
    booking = Booking(
        id=uuid.uuid4(),
        office_id=office_id,
        slot_id=slot.id,
        kind=slot.kind,
        status="held",
        category=category,
        details=details,
        person_hash=hashed_person,
        document_ref=request.document_ref,
        contact_channel=request.contact.channel,
        contact=request.contact.address,
        language=request.language,
        created_at=now,
        hold_expires_at=now + timedelta(seconds=ctx.settings.hold_s),
        extensions=0,
        hold_token_hash=token_hash(hold_token),
        confirm_token_hash=token_hash(confirm_token),
        confirm_code_hash=token_hash(code),
        confirm_attempts=0,
        ics_sequence=0,
    )
    await insert_booking(session, booking)

    view = await appointment_view(session, booking)
    link = ctx.link(f"/booking/{request.language}/confirm?t={confirm_token}")
    assert booking.hold_expires_at is not None
    outbox.enqueue(session, messages.code_message(view, code, link, booking.hold_expires_at), now)
    _, _, counter = await load(session, booking)
    reservation = ReservationPublic(
        booking_id=booking.id,
        reference=view.reference,
        status="held",
        slot=slot_public(slot, counter, office.timezone),
        hold_expires_at=booking.hold_expires_at,
        hold_token=hold_token,
        extensions_left=ctx.settings.max_extensions,
    )
    return reservation, code


async def insert_booking(session: AsyncSession, booking: Booking) -> None:
    """Insert ``booking``; the unique indexes decide conflicts.

    Raises:
        SlotTakenError: the slot is occupied by another booking.
        PersonHasBookingError: the person has a live emergency booking.
    """
    try:
        async with session.begin_nested():
            session.add(booking)
            await session.flush()
    except IntegrityError as exc:
        if _violated(exc, "uq_appt_bookings_active_person", "person_hash"):
            raise PersonHasBookingError(
                "you already have an emergency appointment or reservation; cancel it before booking another"
            ) from None
        if _violated(exc, "uq_appt_bookings_active_slot", "slot_id"):
            raise SlotTakenError(
                "this slot has just been taken by someone else; choose another one"
            ) from None
        raise


async def _held_booking(session: AsyncSession, booking_id: uuid.UUID) -> Booking:
    booking = await session.get(Booking, booking_id, with_for_update=True)
    if booking is None:
        raise NotFoundError("no such reservation")
    return booking


def _check_live_hold(booking: Booking, now: datetime) -> None:
    if booking.status == "expired" or (
        booking.status == "held" and booking.hold_expires_at is not None and booking.hold_expires_at <= now
    ):
        raise HoldExpiredError("the reservation has run out; please choose a slot again")
    if booking.status != "held":
        raise BookingStateError(f"the booking is {booking.status}, not held")


async def extend(
    session: AsyncSession, ctx: AppointmentContext, now: datetime, booking_id: uuid.UUID, hold_token: str
) -> HoldPublic:
    """Extend a live hold by ``hold_extension_s`` (at most ``max_extensions`` times).

    Raises:
        NotFoundError, WrongCodeError, HoldExpiredError, BookingStateError.
    """
    booking = await _held_booking(session, booking_id)
    if booking.hold_token_hash is None or not hmac.compare_digest(
        booking.hold_token_hash, token_hash(hold_token)
    ):
        raise WrongCodeError("wrong hold token")
    _check_live_hold(booking, now)
    if booking.extensions >= ctx.settings.max_extensions:
        raise BookingStateError(
            f"the reservation was extended {booking.extensions} times already (the maximum)"
        )
    assert booking.hold_expires_at is not None
    booking.hold_expires_at += timedelta(seconds=ctx.settings.hold_extension_s)
    booking.extensions += 1
    return HoldPublic(
        booking_id=booking.id,
        hold_expires_at=booking.hold_expires_at,
        extensions_left=ctx.settings.max_extensions - booking.extensions,
    )


async def release(
    session: AsyncSession, ctx: AppointmentContext, now: datetime, booking_id: uuid.UUID, hold_token: str
) -> None:
    """Give a hold back (the applicant changed their mind); the slot is held back as after a cancellation."""
    booking = await _held_booking(session, booking_id)
    if booking.hold_token_hash is None or not hmac.compare_digest(
        booking.hold_token_hash, token_hash(hold_token)
    ):
        raise WrongCodeError("wrong hold token")
    _check_live_hold(booking, now)
    booking.status = "cancelled"
    booking.cancelled_at = now
    slot = await session.get(Slot, booking.slot_id)
    assert slot is not None
    release_slot(slot, now, timedelta(seconds=ctx.settings.cancel_holdback_s))


async def confirm_by_code(
    session: AsyncSession, ctx: AppointmentContext, now: datetime, booking_id: uuid.UUID, code: str
) -> BookingPublic:
    """Confirm a hold with the 6-digit code; too many wrong codes void the hold.

    A wrong code changes the booking (attempt counter, voiding) *and* raises: the caller must
    commit the transaction before passing the error on, or the attempt limit would not hold.

    Raises:
        NotFoundError, WrongCodeError, HoldExpiredError, BookingStateError.
    """
    booking = await _held_booking(session, booking_id)
    _check_live_hold(booking, now)
    if booking.confirm_code_hash is None or not hmac.compare_digest(
        booking.confirm_code_hash, token_hash(code)
    ):
        booking.confirm_attempts += 1
        left = ctx.settings.confirm_attempts - booking.confirm_attempts
        if left <= 0:
            booking.status = "expired"
            slot = await session.get(Slot, booking.slot_id)
            assert slot is not None
            release_slot(slot, now, timedelta(seconds=ctx.settings.cancel_holdback_s))
            # Commit the voiding although the request fails.
            await session.flush()
            raise HoldExpiredError("too many wrong codes: the reservation is void; please book again")
        await session.flush()
        raise WrongCodeError(f"wrong code ({left} attempt(s) left)")
    return await confirm_booking(session, ctx, now, booking)


async def confirm_by_token(
    session: AsyncSession, ctx: AppointmentContext, now: datetime, token: str
) -> BookingPublic:
    """Confirm a hold with the link token from the message.

    Raises:
        NotFoundError, HoldExpiredError, BookingStateError.
    """
    booking = await session.scalar(
        select(Booking).where(Booking.confirm_token_hash == token_hash(token)).with_for_update()
    )
    if booking is None:
        raise NotFoundError("unknown or used confirmation link")
    _check_live_hold(booking, now)
    return await confirm_booking(session, ctx, now, booking)


async def confirm_booking(
    session: AsyncSession, ctx: AppointmentContext, now: datetime, booking: Booking
) -> BookingPublic:
    """Make ``booking`` (a live hold or an accepted offer) confirmed and send the invitation."""
    cancel_token = new_token()
    booking.status = "confirmed"
    booking.confirmed_at = now
    booking.hold_expires_at = None
    booking.hold_token_hash = None
    booking.confirm_token_hash = None
    booking.confirm_code_hash = None
    booking.cancel_token_hash = token_hash(cancel_token)
    booking.ics_sequence = 0
    await session.flush()
    view = await appointment_view(session, booking)
    cancel_link = ctx.link(f"/booking/{booking.language}/cancel?t={cancel_token}")
    outbox.enqueue(session, messages.confirmed_message(view, cancel_link, now), now)
    return await booking_public(session, booking, cancel_token=cancel_token)


async def booking_public(
    session: AsyncSession, booking: Booking, *, cancel_token: str | None = None
) -> BookingPublic:
    """API form of a booking."""
    office, slot, counter = await load(session, booking)
    return BookingPublic(
        booking_id=booking.id,
        reference=booking.id.hex[:8].upper(),
        office_id=booking.office_id,
        status=booking.status,
        kind=cast(Literal["emergency", "ordinary", "pickup"], booking.kind),
        category=cast(
            Literal["permit_expiring", "job_at_risk", "urgent_travel", "document_lost"] | None,
            booking.category,
        ),
        slot=slot_public(slot, counter, office.timezone),
        confirmed_at=booking.confirmed_at,
        cancel_token=cancel_token,
    )


async def find_by_cancel_token(session: AsyncSession, token: str, *, lock: bool = False) -> Booking:
    """The booking a cancellation token belongs to.

    Raises:
        NotFoundError: unknown token.
    """
    query = select(Booking).where(Booking.cancel_token_hash == token_hash(token))
    booking = await session.scalar(query.with_for_update() if lock else query)
    if booking is None:
        raise NotFoundError("unknown cancellation link")
    return booking


async def cancel(session: AsyncSession, ctx: AppointmentContext, now: datetime, token: str) -> BookingPublic:
    """Cancel a confirmed booking with its 128-bit token; notify with METHOD:CANCEL.

    The slot becomes bookable again only after ``cancel_holdback_s``.

    Raises:
        NotFoundError: unknown token.
        BookingStateError: already cancelled, or the appointment has begun.
    """
    booking = await find_by_cancel_token(session, token, lock=True)
    if booking.status != "confirmed":
        raise BookingStateError(f"the booking is {booking.status} and cannot be cancelled")
    slot = await session.get(Slot, booking.slot_id)
    assert slot is not None
    if slot.starts_at <= now:
        raise BookingStateError("the appointment has already begun")
    booking.status = "cancelled"
    booking.cancelled_at = now
    booking.ics_sequence += 1
    release_slot(slot, now, timedelta(seconds=ctx.settings.cancel_holdback_s))
    await session.flush()
    if booking.contact is not None:
        view = await appointment_view(session, booking)
        outbox.enqueue(session, messages.cancelled_message(view, now), now)
    return await booking_public(session, booking)


@dataclass(frozen=True, slots=True)
class FreeSlotQuery:
    """Filter of :func:`free_slots`."""

    office_id: str
    kind: str
    first: datetime
    last: datetime
    limit: int = 200


async def free_slots(
    session: AsyncSession, ctx: AppointmentContext, now: datetime, query: FreeSlotQuery
) -> list[Slot]:
    """Bookable slots of a kind, earliest first.

    A slot is free when no booking occupies it (or only a hold that has run out), it is not
    withdrawn, not held back, and within the booking window.
    """
    settings = ctx.settings
    occupied = (
        select(Booking.id)
        .where(Booking.slot_id == Slot.id)
        .where(
            (Booking.status.in_(("offered", "confirmed", "checked_in", "no_show")))
            | ((Booking.status == "held") & (Booking.hold_expires_at > now))
        )
    )
    # A hold that ran out unnoticed holds its slot back from its expiry on.
    stale_holdback = (
        select(Booking.id)
        .where(Booking.slot_id == Slot.id, Booking.status == "held", Booking.hold_expires_at <= now)
        .where(Booking.hold_expires_at > now - timedelta(seconds=settings.cancel_holdback_s))
    )
    first = max(query.first, now + timedelta(minutes=settings.min_lead_min))
    last = min(query.last, now + timedelta(days=settings.horizon_days))
    rows = await session.scalars(
        select(Slot)
        .where(
            Slot.office_id == query.office_id,
            Slot.kind == query.kind,
            Slot.starts_at >= first,
            Slot.starts_at <= last,
            Slot.withdrawn.is_(False),
            (Slot.available_from.is_(None)) | (Slot.available_from <= now),
            ~occupied.exists(),
            ~stale_holdback.exists(),
        )
        .order_by(Slot.starts_at, Slot.counter_id)
        .limit(query.limit)
    )
    return list(rows.all())


async def mark_expired_holds(session: AsyncSession, ctx: AppointmentContext, now: datetime) -> int:
    """Housekeeping: expire every run-out hold (see :func:`expire_stale_holds`)."""
    return await expire_stale_holds(session, ctx, now)


async def close_past_confirmed(session: AsyncSession, now: datetime, grace: timedelta) -> int:
    """Housekeeping: confirmed bookings whose slot ended ``grace`` ago without check-in are no-shows."""
    ended = select(Slot.id).where(Slot.ends_at < now - grace)
    result = await session.execute(
        update(Booking)
        .where(Booking.status == "confirmed", Booking.slot_id.in_(ended))
        .values(status="no_show")
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
