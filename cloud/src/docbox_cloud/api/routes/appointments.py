"""Public appointment endpoints: offices, free slots, reservations, confirmation, cancellation, triage.

No bearer token: these serve applicants. Reservations and triage requests need a solved
proof-of-work challenge and are rate limited per client address and per person; POSTs
accept an ``Idempotency-Key`` header.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, BackgroundTasks, Depends, Header, Path, Query, Request, Response, status
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from docbox_cloud.api.deps import SessionDep
from docbox_cloud.api.schemas import ErrorResponse
from docbox_cloud.appointments import booking, idempotency, pow, triage
from docbox_cloud.appointments import errors as e
from docbox_cloud.appointments.errors import AppointmentError, RestrictedModeError, TriageModeError
from docbox_cloud.appointments.models import Counter
from docbox_cloud.appointments.offices import office_public
from docbox_cloud.appointments.runtime import AppointmentRuntime, utc_now
from docbox_cloud.appointments.schemas import (
    BookingPublic,
    ChallengePublic,
    ConfirmByCode,
    HoldPublic,
    HoldTokenBody,
    OfficePublic,
    ReservationPublic,
    ReserveRequest,
    SlotPublic,
    TokenBody,
    TriageRequestCreate,
    TriageRequestPublic,
)
from docbox_cloud.appointments.tokens import person_hash
from docbox_cloud.appointments.views import slot_public
from docbox_cloud.db import transaction

ModelT = TypeVar("ModelT", bound=BaseModel)


def get_runtime(request: Request) -> AppointmentRuntime:
    """The appointment runtime of the app."""
    runtime: AppointmentRuntime = request.app.state.appointments
    return runtime


RuntimeDep = Annotated[AppointmentRuntime, Depends(get_runtime)]


def client_address(request: Request) -> str:
    """The client's address as the server sees it (behind a proxy, run uvicorn with proxy headers)."""
    return request.client.host if request.client is not None else "unknown"


def limit_address(request: Request, runtime: RuntimeDep) -> None:
    """Rate limit per client address (429 with Retry-After)."""
    runtime.ip_limiter.take(client_address(request), runtime.monotonic())


def sessions_of(request: Request) -> async_sessionmaker[AsyncSession]:
    """The app's session factory (for routes that commit before raising)."""
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    return sessions


def errors(*codes: type[AppointmentError]) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` for the given errors (several errors may share one status)."""
    responses: dict[int | str, dict[str, object]] = {}
    for error in codes:
        entry = responses.setdefault(error.status, {"model": ErrorResponse, "description": ""})
        description = f"`{error.code}`: {(error.__doc__ or '').strip().splitlines()[0]}"
        entry["description"] = (
            f"{entry['description']}<br>{description}" if entry["description"] else description
        )
    return responses


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Repeat the request safely: the first answer is replayed",
    ),
]
OfficeIdPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="Office id")]

router = APIRouter(
    prefix="/api/v1/appointments", tags=["appointments"], dependencies=[Depends(limit_address)]
)


async def _idempotent(
    session: AsyncSession,
    runtime: AppointmentRuntime,
    scope: str,
    key: str | None,
    body: BaseModel | dict[str, object],
    model: type[ModelT],
    status_code: int,
    response: Response,
    operation: Callable[[], Awaitable[ModelT]],
) -> ModelT:
    """Run ``operation`` once per key; a repeated key replays the stored answer."""
    if key is None:
        return await operation()
    raw = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    stored = await idempotency.claim(session, scope, key, idempotency.fingerprint(raw), runtime.clock())
    if stored is not None and stored.response is not None:
        response.headers["Idempotent-Replayed"] = "true"
        return model.model_validate(stored.response)
    result = await operation()
    await idempotency.store(session, scope, key, status_code, result.model_dump(mode="json"))
    return result


@router.get("/challenge", summary="Get a proof-of-work challenge (ALTCHA format)")
async def get_challenge(runtime: RuntimeDep) -> ChallengePublic:
    """A signed challenge to solve before reserving or filing a request.

    Find `number` with `SHA-256(salt + number) == challenge` (0 ≤ number ≤ maxnumber) and send
    base64 JSON `{algorithm, challenge, number, salt, signature}` as `altcha`. Each solution
    works once and expires.
    """
    settings = runtime.ctx.settings
    # The system clock, not runtime.clock: the altcha library checks expiry against time.time().
    expires = utc_now() + timedelta(seconds=settings.pow_ttl_s)
    challenge = pow.create_challenge(runtime.ctx.pow_key, settings.pow_max_number, expires)
    return ChallengePublic(
        algorithm=challenge.algorithm,
        challenge=challenge.challenge,
        maxnumber=challenge.maxnumber,
        salt=challenge.salt,
        signature=challenge.signature,
    )


@router.get("/offices/{office_id}", summary="Get an office", responses=errors(e.NotFoundError))
async def get_office(office_id: OfficeIdPath, session: SessionDep) -> OfficePublic:
    """The office's modes (restricted, direct or triage) and the emergency categories with their evidence."""
    return office_public(await booking.get_office(session, office_id))


@router.get(
    "/offices/{office_id}/slots",
    summary="List free slots",
    responses=errors(e.NotFoundError, e.RestrictedModeError, e.TriageModeError),
)
async def list_slots(
    office_id: OfficeIdPath,
    session: SessionDep,
    runtime: RuntimeDep,
    kind: Annotated[
        Literal["emergency", "ordinary", "pickup"], Query(description="Kind of service")
    ] = "emergency",
    first: Annotated[
        datetime | None, Query(alias="from", description="Earliest start (default: now)")
    ] = None,
    last: Annotated[
        datetime | None, Query(alias="to", description="Latest start (default: the horizon)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> list[SlotPublic]:
    """Free, bookable slots, earliest first.

    There is no list of emergency slots when the office assigns them by triage (403
    `triage_mode`), and none of ordinary slots in restricted mode (403 `restricted_mode`).
    """
    office = await booking.get_office(session, office_id)
    if kind == "emergency" and office.emergency_mode == "triage":
        raise TriageModeError("emergency slots are assigned by urgency here: file a triage request")
    if kind == "ordinary" and office.restricted:
        raise RestrictedModeError(booking.RESTRICTED_MESSAGE)
    now = runtime.clock()
    query = booking.FreeSlotQuery(
        office_id=office_id,
        kind=kind,
        first=first or now,
        last=last or now + timedelta(days=runtime.ctx.settings.horizon_days),
        limit=limit,
    )
    slots = await booking.free_slots(session, runtime.ctx, now, query)
    counters = {c.id: c for c in await _counters(session, {s.counter_id for s in slots})}
    return [slot_public(slot, counters[slot.counter_id], office.timezone) for slot in slots]


async def _counters(session: AsyncSession, ids: set[int]) -> list[Counter]:
    if not ids:
        return []
    return list((await session.scalars(select(Counter).where(Counter.id.in_(ids)))).all())


def _limit_person(runtime: AppointmentRuntime, document_number: str | None) -> None:
    if document_number is not None:
        runtime.person_limiter.take(person_hash(document_number, runtime.ctx.person_key), runtime.monotonic())


@router.post(
    "/offices/{office_id}/reservations",
    status_code=status.HTTP_201_CREATED,
    summary="Reserve (hold) a slot",
    responses=errors(
        e.NotFoundError,
        e.InvalidRequestError,
        e.RestrictedModeError,
        e.TriageModeError,
        e.ProofOfWorkError,
        e.SlotTakenError,
        e.SlotUnavailableError,
        e.PersonHasBookingError,
        e.IdempotencyKeyReusedError,
        e.RateLimitedError,
    ),
)
async def reserve(
    office_id: OfficeIdPath,
    body: ReserveRequest,
    session: SessionDep,
    runtime: RuntimeDep,
    response: Response,
    background: BackgroundTasks,
    idempotency_key: IdempotencyKey = None,
) -> ReservationPublic:
    """Hold a slot for `hold_s` seconds and send the applicant a confirmation code and link.

    Needs a solved proof-of-work (`altcha`). Emergency slots need the `case` (category data
    and declared evidence) and the `document_number` (one live emergency booking per person).
    Competing requests for one slot: exactly one wins, the others get 409 `slot_taken`.
    """
    _limit_person(runtime, body.document_number)

    async def run() -> ReservationPublic:
        now = runtime.clock()
        await pow.redeem(
            session,
            body.altcha,
            runtime.ctx.pow_key,
            utc_now(),
            timedelta(seconds=runtime.ctx.settings.pow_ttl_s),
        )
        reservation, _code = await booking.reserve(session, runtime.ctx, now, office_id, body)
        return reservation

    result = await _idempotent(
        session, runtime, f"reserve:{office_id}", idempotency_key, body, ReservationPublic, 201, response, run
    )
    background.add_task(runtime.kick)
    return result


@router.post(
    "/reservations/{booking_id}/extend",
    summary="Extend a hold",
    responses=errors(e.NotFoundError, e.WrongCodeError, e.HoldExpiredError, e.BookingStateError),
)
async def extend_hold(
    booking_id: uuid.UUID, body: HoldTokenBody, session: SessionDep, runtime: RuntimeDep
) -> HoldPublic:
    """Add `hold_extension_s` to a live hold (at most `max_extensions` times)."""
    return await booking.extend(session, runtime.ctx, runtime.clock(), booking_id, body.hold_token)


@router.post(
    "/reservations/{booking_id}/release",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Give a hold back",
    responses=errors(e.NotFoundError, e.WrongCodeError, e.HoldExpiredError, e.BookingStateError),
)
async def release_hold(
    booking_id: uuid.UUID, body: HoldTokenBody, session: SessionDep, runtime: RuntimeDep
) -> None:
    """Release a hold; like a cancellation, the slot is held back for `cancel_holdback_s`."""
    await booking.release(session, runtime.ctx, runtime.clock(), booking_id, body.hold_token)


@router.post(
    "/reservations/{booking_id}/confirm",
    summary="Confirm a hold with the code",
    responses=errors(
        e.NotFoundError,
        e.WrongCodeError,
        e.HoldExpiredError,
        e.BookingStateError,
        e.IdempotencyKeyReusedError,
    ),
)
async def confirm_with_code(
    booking_id: uuid.UUID,
    body: ConfirmByCode,
    request: Request,
    runtime: RuntimeDep,
    response: Response,
    background: BackgroundTasks,
    idempotency_key: IdempotencyKey = None,
) -> BookingPublic:
    """Confirm with the 6-digit code sent to the applicant.

    The answer carries the 128-bit `cancel_token` (also sent in the confirmation message with
    an iCalendar invitation). After `confirm_attempts` wrong codes the hold is void.
    """
    failure: AppointmentError | None = None
    result: BookingPublic | None = None
    # Own transaction: a wrong code must be counted (committed) although the request fails.
    async with transaction(sessions_of(request)) as session:
        try:
            result = await _idempotent(
                session,
                runtime,
                f"confirm:{booking_id}",
                idempotency_key,
                body,
                BookingPublic,
                200,
                response,
                lambda: booking.confirm_by_code(session, runtime.ctx, runtime.clock(), booking_id, body.code),
            )
        except (e.WrongCodeError, e.HoldExpiredError) as exc:
            failure = exc
    if failure is not None:
        raise failure
    assert result is not None
    background.add_task(runtime.kick)
    return result


@router.post(
    "/confirmations",
    summary="Confirm a hold with the link token",
    responses=errors(e.NotFoundError, e.HoldExpiredError, e.BookingStateError),
)
async def confirm_with_token(
    body: TokenBody, session: SessionDep, runtime: RuntimeDep, background: BackgroundTasks
) -> BookingPublic:
    """Confirm with the token from the link in the message (the page POSTs it; a GET never confirms)."""
    result = await booking.confirm_by_token(session, runtime.ctx, runtime.clock(), body.token)
    background.add_task(runtime.kick)
    return result


@router.post(
    "/bookings/lookup",
    summary="Look a booking up by its cancellation token",
    responses=errors(e.NotFoundError),
)
async def lookup_booking(body: TokenBody, session: SessionDep) -> BookingPublic:
    """The booking a cancellation token belongs to (POST keeps the token out of URLs and logs)."""
    return await booking.booking_public(session, await booking.find_by_cancel_token(session, body.token))


@router.post(
    "/cancellations",
    summary="Cancel a booking",
    responses=errors(e.NotFoundError, e.BookingStateError, e.IdempotencyKeyReusedError),
)
async def cancel_booking(
    body: TokenBody,
    session: SessionDep,
    runtime: RuntimeDep,
    response: Response,
    background: BackgroundTasks,
    idempotency_key: IdempotencyKey = None,
) -> BookingPublic:
    """Cancel with the 128-bit token; the applicant gets an iCalendar cancellation (METHOD:CANCEL).

    Confirmed bookings cannot be edited: cancel and book again. The slot is not bookable for
    `cancel_holdback_s` afterwards.
    """
    result = await _idempotent(
        session,
        runtime,
        "cancel",
        idempotency_key,
        body,
        BookingPublic,
        200,
        response,
        lambda: booking.cancel(session, runtime.ctx, runtime.clock(), body.token),
    )
    background.add_task(runtime.kick)
    return result


@router.post(
    "/offices/{office_id}/triage-requests",
    status_code=status.HTTP_201_CREATED,
    summary="File an emergency request (triage offices)",
    responses=errors(
        e.NotFoundError,
        e.InvalidRequestError,
        e.ProofOfWorkError,
        e.PersonHasBookingError,
        e.IdempotencyKeyReusedError,
        e.RateLimitedError,
    ),
)
async def file_triage_request(
    office_id: OfficeIdPath,
    body: TriageRequestCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    response: Response,
    background: BackgroundTasks,
    idempotency_key: IdempotencyKey = None,
) -> TriageRequestPublic:
    """File a request; slots are offered by urgency in rounds (see docs/appointments.md).

    The answer carries a `status_token` to follow the request.
    """
    _limit_person(runtime, body.document_number)

    async def run() -> TriageRequestPublic:
        now = runtime.clock()
        await pow.redeem(
            session,
            body.altcha,
            runtime.ctx.pow_key,
            utc_now(),
            timedelta(seconds=runtime.ctx.settings.pow_ttl_s),
        )
        return await triage.file_request(session, runtime.ctx, now, office_id, body)

    result = await _idempotent(
        session,
        runtime,
        f"triage:{office_id}",
        idempotency_key,
        body,
        TriageRequestPublic,
        201,
        response,
        run,
    )
    background.add_task(runtime.kick)
    return result


@router.post("/triage-requests/status", summary="Follow a triage request", responses=errors(e.NotFoundError))
async def triage_request_status(body: TokenBody, session: SessionDep) -> TriageRequestPublic:
    """The request's status and, when offered, the slot and until when to answer."""
    return await triage.request_public(session, await triage.find_request(session, body.token))


@router.post(
    "/offers/accept", summary="Accept a triage offer", responses=errors(e.NotFoundError, e.BookingStateError)
)
async def accept_offer(
    body: TokenBody, session: SessionDep, runtime: RuntimeDep, background: BackgroundTasks
) -> BookingPublic:
    """Accept the offered slot: the booking is confirmed and the invitation sent."""
    result = await triage.accept_offer(session, runtime.ctx, runtime.clock(), body.token)
    background.add_task(runtime.kick)
    return result


@router.post(
    "/offers/decline",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Decline a triage offer",
    responses=errors(e.NotFoundError, e.BookingStateError),
)
async def decline_offer(body: TokenBody, session: SessionDep, runtime: RuntimeDep) -> None:
    """Decline: the request closes and the slot goes to the next round."""
    await triage.decline_offer(session, runtime.ctx, runtime.clock(), body.token)
