"""Housekeeping: expire holds and offers, close past days, remind, anonymise, purge.

Retention: ``retention_days`` after an appointment (or after a booking or request ended
without one) its personal data — contact, category data, person hash, document reference,
tokens — are removed. Category, status, kind and slot stay, so statistics keep their
anonymous counts.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from docbox_cloud.appointments import booking as booking_service
from docbox_cloud.appointments import idempotency, messages, outbox, pow, triage
from docbox_cloud.appointments.context import AppointmentContext
from docbox_cloud.appointments.models import OCCUPYING_STATUSES, Booking, OutboxMessage, Slot, TriageRequest
from docbox_cloud.appointments.schemas import HousekeepingResult
from docbox_cloud.appointments.views import appointment_view

log = logging.getLogger(__name__)

#: After this, a confirmed appointment nobody checked in counts as missed.
NO_SHOW_GRACE = timedelta(hours=12)

_PERSONAL_BOOKING_FIELDS = {
    "details": None,
    "person_hash": None,
    "document_ref": None,
    "contact": None,
    "contact_channel": None,
    "hold_token_hash": None,
    "confirm_token_hash": None,
    "confirm_code_hash": None,
    "cancel_token_hash": None,
}


async def send_reminders(session: AsyncSession, ctx: AppointmentContext, now: datetime) -> int:
    """Queue a reminder for confirmed appointments starting within ``reminder_before_h``.

    Bookings confirmed inside that window get none (their confirmation is recent enough).
    """
    window = timedelta(hours=ctx.settings.reminder_before_h)
    rows = (
        await session.execute(
            select(Booking, Slot.starts_at)
            .join(Slot, Booking.slot_id == Slot.id)
            .where(
                Booking.status == "confirmed",
                Booking.reminded_at.is_(None),
                Booking.contact.is_not(None),
                Slot.starts_at > now,
                Slot.starts_at <= now + window,
            )
            .with_for_update(of=Booking, skip_locked=True)
        )
    ).all()
    reminded = 0
    for booking, starts_at in rows:
        booking.reminded_at = now
        # Compared here, not in SQL: interval arithmetic differs between PostgreSQL and SQLite.
        if booking.confirmed_at is not None and booking.confirmed_at < starts_at - window:
            outbox.enqueue(session, messages.reminder_message(await appointment_view(session, booking)), now)
            reminded += 1
    return reminded


async def anonymise(session: AsyncSession, now: datetime, retention: timedelta) -> tuple[int, int]:
    """Remove personal data older than ``retention``; return (bookings, requests) changed."""
    cutoff = now - retention
    ended_slots = select(Slot.id).where(Slot.ends_at < cutoff)
    bookings = await session.execute(
        update(Booking)
        .where(Booking.anonymised_at.is_(None))
        .where(
            Booking.slot_id.in_(ended_slots)
            | (Booking.status.not_in(OCCUPYING_STATUSES) & (Booking.created_at < cutoff))
        )
        .values(anonymised_at=now, **_PERSONAL_BOOKING_FIELDS)
        .execution_options(synchronize_session=False)
    )
    requests = await session.execute(
        update(TriageRequest)
        .where(
            TriageRequest.anonymised_at.is_(None),
            TriageRequest.status.not_in(("pending", "offered")),
            TriageRequest.filed_at < cutoff,
        )
        .values(
            anonymised_at=now,
            details=None,
            person_hash=None,
            contact=None,
            contact_channel=None,
            status_token_hash=None,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(bookings, "rowcount", 0) or 0), int(getattr(requests, "rowcount", 0) or 0)


async def housekeeping(session: AsyncSession, ctx: AppointmentContext, now: datetime) -> HousekeepingResult:
    """Run every periodic task once, in the caller's transaction."""
    settings = ctx.settings
    expired_holds = await booking_service.mark_expired_holds(session, ctx, now)
    expired_offers = await triage.expire_offers(session, ctx, now)
    closed = await booking_service.close_past_confirmed(session, now, NO_SHOW_GRACE)
    reminders = await send_reminders(session, ctx, now)
    retention = timedelta(days=settings.retention_days)
    anonymised_bookings, anonymised_requests = await anonymise(session, now, retention)
    purged = await idempotency.purge(session, now, timedelta(hours=settings.idempotency_ttl_h))
    purged += await pow.purge_used(session, now)
    stale_outbox = await session.execute(
        delete(OutboxMessage).where(OutboxMessage.created_at < now - retention)
    )
    dropped = int(getattr(stale_outbox, "rowcount", 0) or 0)
    if dropped:
        log.warning("dropped %d undeliverable notification(s) older than the retention period", dropped)
    return HousekeepingResult(
        expired_holds=expired_holds,
        expired_offers=expired_offers,
        closed_no_shows=closed,
        reminders=reminders,
        anonymised_bookings=anonymised_bookings,
        anonymised_requests=anonymised_requests,
        purged=purged + dropped,
    )
